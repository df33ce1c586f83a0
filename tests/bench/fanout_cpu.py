"""The fan-out's CPU alone: microseconds per (event, socket), hub vs. frames vs. ASGI.

`python -m tests.bench.fanout_cpu [sockets] [messages] [messages per read]` serves the
app in this process (SQLite, uvloop) and holds `sockets` agent websockets open from a
child process. Events are handed to the hub's subscribers directly, two per message,
so neither ingest nor the database is counted: only the sockets' writers, uvicorn and
the kernel's write. Process CPU time, so a busy machine changes it less than latency.
Variants: `asgi` (each event sent through ASGI by the socket's writer), `frames` (each
socket's writer woken per read, writing the hub's frames) and `hub` (the hub's own
fan-out, hub.py `_fan_out`: one check per visibility group, the run of frames written
by the hub to every socket whose writer sleeps).
"""

from __future__ import annotations

import asyncio
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

PAIRS = 200  # messages per measurement: 2 events each


async def clients(port: int, count: int, token: str, expected: int) -> None:
    from tests.bench.bench_live import close_all, open_agents
    from tests.bench.bench_support import Server

    server = Server("fanout", [], {}, Path("."), port)
    sockets = await open_agents(server, [token] * count)
    print("open", flush=True)
    got = 0

    async def read(ws: Any) -> None:
        nonlocal got
        async for raw in ws:
            if '"message.created"' in raw or '"conversation.updated"' in raw:
                got += 1

    readers = [asyncio.create_task(read(ws)) for ws in sockets]
    await asyncio.to_thread(sys.stdin.readline)
    await asyncio.sleep(0.5)
    print(f"received {got}", flush=True)
    for task in readers:
        task.cancel()
    await close_all(sockets)


async def measure(variant: str, count: int, pairs: int, per_read: int = 1) -> None:
    """`per_read` messages reach the sockets together, as when one read of the log
    finds several commits' events; 200 msg/s are offered either way."""
    import uvicorn

    from app.main import create_app
    from app.realtime.hub import EventHub, text_frame
    from app.realtime.subscribers import LogEvent
    from app.realtime.transport import WEBSOCKET_OPTIONS
    from tests.bench.bench_support import SECRET_KEY, create_agents, free_port, migrate

    framed = variant != "asgi"
    work = Path(tempfile.mkdtemp(prefix="huiliu-fanout-"))
    url = f"sqlite+aiosqlite:///{work / 'fanout.db'}"
    await migrate(url)
    (token,) = await create_agents(url, 1)
    port = free_port()
    os.environ.update(HUILIU_DATABASE_URL=url, HUILIU_SECRET_KEY=SECRET_KEY, HUILIU_REDIS_URL="")
    app = create_app()
    options = WEBSOCKET_OPTIONS if framed else {"ws_per_message_deflate": False}
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", **options)
    )
    serving = asyncio.create_task(server.serve())
    while not server.started:  # noqa: ASYNC110 - uvicorn offers no event to wait on
        await asyncio.sleep(0.05)
    child = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "tests.bench.fanout_cpu", "--client", str(port), str(count),
        token, str(2 * pairs * count), stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
    )  # fmt: skip
    assert child.stdout is not None and child.stdin is not None
    await child.stdout.readline()
    hub: EventHub = app.state.services.hub
    await asyncio.sleep(1)
    data = {"id": 1, "content": "x" * 120, "sender": {"type": "contact", "name": "压测"}}
    t0, wall0 = os.times(), time.perf_counter()
    seq = 10_000_000
    read: list[LogEvent] = []
    for n in range(pairs):
        for kind in ("message.created", "conversation.updated"):
            seq += 1
            event = LogEvent(seq, kind, data, channel_id=1)
            event.frame = text_frame(event.wire_text())
            if variant == "hub":
                read.append(event)
                continue
            for sub in list(hub.subscribers):
                sub.deliver(event)
        if (n + 1) % per_read == 0:
            hub._fan_out(read)
            read = []
            await asyncio.sleep(0.005 * per_read)  # the writers catch up in between
    hub._fan_out(read)
    while any(sub.queue.qsize() for sub in hub.subscribers):  # noqa: ASYNC110
        await asyncio.sleep(0.001)
    t1, wall = os.times(), time.perf_counter() - wall0
    user, system = t1.user - t0.user, t1.system - t0.system
    cpu = user + system
    child.stdin.write(b"done\n")
    await child.stdin.drain()
    received = (await child.stdout.readline()).decode().strip()
    await child.wait()
    server.should_exit = True
    await serving
    per = cpu / (2 * pairs * count) * 1e6
    idle = pairs * 0.005
    print(
        f"{variant:6s}: {count} sockets x {2 * pairs} events, "
        f"{per_read} msgs per read: "
        f"{per:.1f} us CPU per (event, socket); {cpu:.2f} s CPU ({system:.2f} s in the "
        f"kernel) in {wall:.2f} s "
        f"({idle:.1f} s of it sleeping); {received} of {2 * pairs * count}"
    )


if __name__ == "__main__":
    if sys.argv[1:2] == ["--client"]:
        port, n, token, expected = sys.argv[2:6]
        asyncio.run(clients(int(port), int(n), token, int(expected)))
    elif sys.argv[1:2] == ["--variant"]:
        import uvloop  # what `huiliu serve` runs on (uvicorn's loop="auto")

        variant, n, pairs = sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
        per_read = int(sys.argv[5]) if len(sys.argv) > 5 else 1
        uvloop.run(measure(variant, n, pairs, per_read))
    else:  # each variant in a fresh process, alternating
        import subprocess

        n = sys.argv[1] if len(sys.argv) > 1 else "200"
        pairs = sys.argv[2] if len(sys.argv) > 2 else str(PAIRS)
        per_read = sys.argv[3] if len(sys.argv) > 3 else "1"
        for variant in ("asgi", "frames", "hub", "hub", "frames", "asgi"):
            argv = [sys.executable, "-m", "tests.bench.fanout_cpu", "--variant", variant]
            subprocess.run([*argv, n, pairs, per_read], check=True)  # noqa: S603 - ourselves
