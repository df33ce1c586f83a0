"""Live latency: a WeChat push sent -> its `message.created` received on every agent's socket.

N agents hold `WS /api/v1/events` open (each its own user and token; the client offers
permessage-deflate as browsers do). Pushes go out open-loop at a fixed rate over a pool
of keep-alive connections. Latency is counted per (message, agent) from the moment the
push left the client, so it includes the ingest transaction itself, the commit, the
hub's read of the event log and the fan-out: the customer-to-screen time on loopback.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from dataclasses import dataclass, field
from typing import Any

from websockets.asyncio.client import ClientConnection, connect

from tests.bench.bench_support import HttpClient, PushMaker, Server, percentile

SENDERS = 16  # keep-alive connections the pushes are spread over
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


async def run_rate(
    server: Server,
    maker: PushMaker,
    sockets: list[ClientConnection],
    rate: float,
    seconds: float,
    drain_seconds: float = 5.0,
) -> LiveResult:
    sent_at: dict[str, float] = {}
    acked_at: dict[str, float] = {}
    received_at: list[tuple[str, float]] = []
    result = LiveResult(rate, len(sockets), 0, 0, 0, 0)
    tag = f"live{time.monotonic_ns()}-"

    async def receive(ws: ClientConnection) -> None:
        async for raw in ws:
            now = time.perf_counter()
            if '"message.created"' not in raw:  # cheap filter before parsing
                continue
            event = json.loads(raw)
            content = event["data"].get("content", "")
            if event["type"] == "message.created" and content in sent_at:
                result.received += 1
                result.latencies.append(now - sent_at[content])
                received_at.append((content, now))

    readers = [asyncio.create_task(receive(ws)) for ws in sockets]
    pool: asyncio.Queue[HttpClient] = asyncio.Queue()
    for _ in range(SENDERS):
        pool.put_nowait(await HttpClient.open(server.port))

    async def push(n: int) -> None:
        content = f"{tag}{n}"
        path, body, _ = maker.make(content)
        client = await pool.get()
        try:
            sent_at[content] = t0 = time.perf_counter()
            status, _ = await client.request(
                "POST", path, body, {"Content-Type": "text/xml; charset=utf-8"}
            )
            acked_at[content] = time.perf_counter()
            result.ack_latencies.append(acked_at[content] - t0)
            result.acked += status == 200
        finally:
            pool.put_nowait(client)

    tasks: list[asyncio.Task[None]] = []
    start = time.perf_counter()
    n = 0
    while (elapsed := time.perf_counter() - start) < seconds:
        due = int(elapsed * rate) + 1
        while n < due:
            tasks.append(asyncio.create_task(push(n)))
            n += 1
        await asyncio.sleep(max(0.0, (n / rate) - (time.perf_counter() - start)))
    await asyncio.gather(*tasks)
    result.sent = n
    result.expected = result.acked * len(sockets)
    deadline = time.perf_counter() + drain_seconds
    while result.received < result.expected and time.perf_counter() < deadline:  # noqa: ASYNC110 - counters, polled
        await asyncio.sleep(0.05)
    for task in readers:
        task.cancel()
    for task in readers:
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await task
    while not pool.empty():
        pool.get_nowait().close()
    result.after_ack = [t - acked_at[c] for c, t in received_at if c in acked_at]
    return result


async def close_all(sockets: list[ClientConnection]) -> None:
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
    }
