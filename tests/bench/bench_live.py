"""Live latency: a WeChat push sent -> its `message.created` received on every agent's socket.

N agents hold `WS /api/v1/events` open (each its own user and token), read by a lean
client (`LeanAgent`: the time is taken when the bytes arrive, before any parsing; the
server declines permessage-deflate anyway, app/realtime/transport.py). Pushes go out
open-loop at a fixed rate over a pool of keep-alive connections, from a process of their
own (`live_pusher`), so the acknowledgement's time is not the reading loop's lag.
Latency is counted per (message, agent) from the moment the push left the client, so it
includes the ingest transaction itself, the commit, the hub's read of the event log and
the fan-out: the customer-to-screen time on loopback. `after_ack` is the push side alone.
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import re
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from websockets.asyncio.client import ClientConnection, connect

from tests.bench.bench_support import ROOT, PushMaker, Server, percentile

# The hub's wire text starts with seq and type (LogEvent.wire_text). The client matches
# bytes instead of parsing JSON: with 200 sockets at 200 msg/s it took 40,000 frames a
# second, a third of its CPU in json.loads (py-spy), on the two cores the server uses,
# and each frame parsed delayed the timestamps of the sockets read after it.
MESSAGE_CREATED = re.compile(rb'\{"seq":\d+,"type":"message\.created","data":')
CONNECT_BATCH = 50  # websockets opened at once while setting up


@dataclass
class LiveResult:
    rate: float
    agents: int
    sent: int
    acked: int
    expected: int
    received: int
    latencies: list[float] = field(default_factory=list)
    ack_latencies: list[float] = field(default_factory=list)
    # Received minus the push's acknowledgement: the push side alone (the hub's read of
    # the log and the fan-out), without the ingest transaction; negative when the event
    # beat the HTTP answer to the client.
    after_ack: list[float] = field(default_factory=list)
    server_cpu: float = float("nan")  # CPU seconds of the server's processes while pushing

    @property
    def p50(self) -> float:
        return percentile(self.latencies, 50)

    @property
    def p99(self) -> float:
        return percentile(self.latencies, 99)

    @property
    def complete(self) -> float:
        return self.received / self.expected if self.expected else float("nan")


async def open_agents(server: Server, tokens: list[str]) -> list[ClientConnection]:
    sockets: list[ClientConnection] = []
    for i in range(0, len(tokens), CONNECT_BATCH):
        batch = tokens[i : i + CONNECT_BATCH]
        sockets += await asyncio.gather(
            *(
                connect(f"ws://127.0.0.1:{server.port}/api/v1/events?token={t}", max_queue=None)
                for t in batch
            )
        )
    return sockets


class LeanAgent(asyncio.Protocol):
    """An agent socket that only reads, timed when the bytes arrive.

    With 200 sockets in one Python client, the websockets library's per-frame work (its
    parser, its queue, a reader task woken per frame) ran ~200 times per event before
    the last socket's frame was even looked at, and counted as the server's latency.
    Here `data_received` takes the time, then cuts the unmasked server frames itself."""

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.opened: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.buffer = bytearray()
        self.on_text: Callable[[bytes, float], None] | None = None
        self.close_code: int | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        now = time.perf_counter()
        self.buffer += data
        if not self.opened.done():
            head, sep, _ = bytes(self.buffer).partition(b"\r\n\r\n")
            if not sep:
                return
            if not head.startswith(b"HTTP/1.1 101"):
                self.opened.set_exception(RuntimeError(head.decode(errors="replace")))
                return
            del self.buffer[: len(head) + 4]
            self.opened.set_result(None)
        self._frames(now)

    def _frames(self, now: float) -> None:
        buf = self.buffer
        while len(buf) >= 2:
            size, start = buf[1] & 0x7F, 2
            if size == 126:
                if len(buf) < 4:
                    return
                size, start = int.from_bytes(buf[2:4], "big"), 4
            elif size == 127:
                if len(buf) < 10:
                    return
                size, start = int.from_bytes(buf[2:10], "big"), 10
            if len(buf) < start + size:
                return
            opcode, payload = buf[0] & 0x0F, bytes(buf[start : start + size])
            del buf[: start + size]
            if opcode == 0x1 and self.on_text is not None:
                self.on_text(payload, now)
            elif opcode == 0x9:  # ping: a masked pong (key 0) keeps uvicorn from closing us
                self._send(0xA, payload)
            elif opcode == 0x8:
                self.close_code = int.from_bytes(payload[:2], "big") if payload else 1005

    def _send(self, opcode: int, payload: bytes) -> None:
        if self.transport is not None and not self.transport.is_closing():
            head = bytes([0x80 | opcode, 0x80 | len(payload)])
            self.transport.write(head + b"\0\0\0\0" + payload)

    def connection_lost(self, exc: Exception | None) -> None:
        if self.close_code is None:
            self.close_code = 1006
        if not self.opened.done():
            self.opened.set_exception(ConnectionError("closed during the handshake"))

    async def close(self) -> None:
        self._send(0x8, (1000).to_bytes(2, "big"))
        if self.transport is not None:
            self.transport.close()


async def open_lean_agent(server: Server, token: str) -> LeanAgent:
    loop = asyncio.get_running_loop()
    _, agent = await loop.create_connection(LeanAgent, "127.0.0.1", server.port)
    key = base64.b64encode(os.urandom(16)).decode()
    assert agent.transport is not None
    agent.transport.write(
        (
            f"GET /api/v1/events?token={token} HTTP/1.1\r\nHost: 127.0.0.1:{server.port}\r\n"
            f"Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
            "Sec-WebSocket-Version: 13\r\n\r\n"
        ).encode()
    )
    await agent.opened
    return agent


async def open_lean_agents(server: Server, tokens: list[str]) -> list[LeanAgent]:
    sockets: list[LeanAgent] = []
    for i in range(0, len(tokens), CONNECT_BATCH):
        batch = tokens[i : i + CONNECT_BATCH]
        sockets += await asyncio.gather(*(open_lean_agent(server, t) for t in batch))
    return sockets


def cpu_seconds(pid: int) -> float:
    """User + system CPU of a process and its children (`--workers`), from /proc."""
    total, todo = 0.0, [pid]
    while todo:
        p = todo.pop()
        try:
            fields = Path(f"/proc/{p}/stat").read_text().rsplit(")", 1)[1].split()
            total += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
            todo += [int(c) for c in Path(f"/proc/{p}/task/{p}/children").read_text().split()]
        except (OSError, IndexError, ValueError):
            continue
    return total


async def run_rate(
    server: Server,
    maker: PushMaker,
    sockets: list[LeanAgent],
    rate: float,
    seconds: float,
    drain_seconds: float = 5.0,
) -> LiveResult:
    """Pushes at `rate` for `seconds` from a child process (`live_pusher`), while this
    process's loop does nothing but read the agents' sockets."""
    received_at: list[tuple[str, float]] = []
    result = LiveResult(rate, len(sockets), 0, 0, 0, 0)
    tag = f"live{time.monotonic_ns()}-"
    content_of = re.compile(rb'"content":"(' + re.escape(tag.encode()) + rb'\d+)"')

    def on_text(raw: bytes, now: float) -> None:
        if MESSAGE_CREATED.match(raw) is not None and (found := content_of.search(raw)):
            received_at.append((found.group(1).decode(), now))

    for ws in sockets:
        ws.on_text = on_text
    pid = server.proc.pid if server.proc is not None else None
    cpu_before = cpu_seconds(pid) if pid else float("nan")
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    args = [maker.path, maker.customers, maker.next_id, tag, rate, seconds]
    child = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "tests.bench.live_pusher",
        str(server.port),
        *map(str, args),
        env=env,
        stdout=asyncio.subprocess.PIPE,
    )
    out, _ = await child.communicate()
    if child.returncode != 0:
        raise RuntimeError(f"live_pusher exited with {child.returncode}")
    pushed = json.loads(out)
    maker.next_id = pushed["next_id"]
    sent_at: dict[str, float] = pushed["sent_at"]
    acked_at: dict[str, float] = pushed["acked_at"]
    result.sent = len(sent_at)
    result.acked = sum(status == 200 for status in pushed["statuses"].values())
    result.ack_latencies = [acked_at[c] - sent_at[c] for c in acked_at]
    result.expected = result.acked * len(sockets)
    deadline = time.perf_counter() + drain_seconds
    while len(received_at) < result.expected and time.perf_counter() < deadline:  # noqa: ASYNC110 - a list, polled
        await asyncio.sleep(0.05)
    if pid:
        result.server_cpu = cpu_seconds(pid) - cpu_before
    for ws in sockets:
        ws.on_text = None
    mine = [(c, t) for c, t in received_at if c in sent_at]
    result.received = len(mine)
    result.latencies = [t - sent_at[c] for c, t in mine]
    result.after_ack = [t - acked_at[c] for c, t in mine if c in acked_at]
    return result


async def close_all(sockets: Sequence[ClientConnection | LeanAgent]) -> None:
    await asyncio.gather(*(ws.close() for ws in sockets), return_exceptions=True)


def summary(r: LiveResult) -> dict[str, Any]:
    return {
        "rate": r.rate,
        "agents": r.agents,
        "sent": r.sent,
        "acked": r.acked,
        "complete": round(r.complete, 4),
        "p50_ms": round(r.p50 * 1000, 1),
        "p99_ms": round(r.p99 * 1000, 1),
        "ack_p50_ms": round(percentile(r.ack_latencies, 50) * 1000, 1),
        "ack_p99_ms": round(percentile(r.ack_latencies, 99) * 1000, 1),
        "after_ack_p50_ms": round(percentile(r.after_ack, 50) * 1000, 1),
        "after_ack_p99_ms": round(percentile(r.after_ack, 99) * 1000, 1),
        # The server's CPU per push: the fan-out's cost, little disturbed by other work on
        # the machine, which moves the latencies (the bench prints the load average).
        "server_cpu_ms_per_msg": round(r.server_cpu * 1000 / r.sent, 2) if r.sent else None,
    }
