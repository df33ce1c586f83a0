"""What one idle websocket holds: a tracemalloc diff of the server around N sockets.

`python -m tests.bench.ws_memory_profile [widget|agent] [N]` runs the app in this
process under uvicorn with `huiliu serve`'s websocket settings, opens N idle sockets
from a child process (bench_memory's clients), and prints the allocations still alive,
grouped by the line that made them and by file. A tool for bench_memory's figure.
"""

from __future__ import annotations

import asyncio
import gc
import os
import sys
import tempfile
import tracemalloc
from pathlib import Path

FRAMES = 12


async def clients(port: int, kind: str, count: int, url: str, token: str) -> None:
    """The child: open `count` sockets, say so, hold them until stdin closes."""
    from tests.bench import bench_memory
    from tests.bench.bench_live import close_all, open_agents
    from tests.bench.bench_support import Server

    server = Server("profiled", [], {"HUILIU_DATABASE_URL": url}, Path("."), port)
    if kind == "agent":
        sockets = await open_agents(server, [token] * count)
    else:
        channel_id = int(os.environ["PROFILE_CHANNEL"])
        sockets = await bench_memory.open_visitors(server, channel_id, count, 100)
    print("open", flush=True)
    await asyncio.to_thread(sys.stdin.read)
    await close_all(sockets)


async def main(kind: str, count: int) -> None:
    import uvicorn

    from tests.bench.bench_memory import create_webchat_channel
    from tests.bench.bench_support import SECRET_KEY, create_agents, free_port, migrate

    work = Path(tempfile.mkdtemp(prefix="huiliu-wsmem-"))
    url = f"sqlite+aiosqlite:///{work / 'mem.db'}"
    await migrate(url)
    (token,) = await create_agents(url, 1)
    channel_id = await create_webchat_channel(url)
    port = free_port()
    os.environ.update(
        HUILIU_DATABASE_URL=url,
        HUILIU_SECRET_KEY=SECRET_KEY,
        HUILIU_PUBLIC_URL=f"http://127.0.0.1:{port}",
        HUILIU_REDIS_URL="",
    )
    from app.main import create_app
    from app.realtime.transport import WEBSOCKET_OPTIONS

    options = WEBSOCKET_OPTIONS
    config = uvicorn.Config(
        create_app(), host="127.0.0.1", port=port, log_level="warning", **options
    )
    server = uvicorn.Server(config)
    serving = asyncio.create_task(server.serve())
    while not server.started:  # noqa: ASYNC110 - uvicorn offers no event to wait on
        await asyncio.sleep(0.05)

    async def round_of(n: int) -> asyncio.subprocess.Process:
        child = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "tests.bench.ws_memory_profile",
            "--client",
            str(port),
            kind,
            str(n),
            url,
            token,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            env={**os.environ, "PROFILE_CHANNEL": str(channel_id)},
        )
        assert child.stdout is not None
        await child.stdout.readline()
        return child

    async def done(child: asyncio.subprocess.Process) -> None:
        assert child.stdin is not None
        child.stdin.close()
        await child.wait()

    await done(await round_of(20))  # warm-up: imports, caches, pools
    await asyncio.sleep(1)
    gc.collect()
    tracemalloc.start(FRAMES)
    before = tracemalloc.take_snapshot()
    child = await round_of(count)
    await asyncio.sleep(2)
    gc.collect()
    after = tracemalloc.take_snapshot()
    tracemalloc.stop()
    await done(child)
    server.should_exit = True
    await serving
    report(before, after, count)


def report(before: tracemalloc.Snapshot, after: tracemalloc.Snapshot, count: int) -> None:
    keep = [tracemalloc.Filter(False, tracemalloc.__file__)]
    before, after = before.filter_traces(keep), after.filter_traces(keep)
    total = sum(s.size_diff for s in after.compare_to(before, "filename"))
    print(f"{total / count:,.0f} bytes of Python allocations per socket ({count} sockets)")
    print("\nby file:")
    for stat in after.compare_to(before, "filename")[:15]:
        frame = stat.traceback[0]
        print(
            f"  {stat.size_diff / count:8,.0f} B  {stat.count_diff / count:6.1f} blocks  "
            f"{frame.filename.split('site-packages/')[-1]}"
        )
    print("\nby line:")
    for stat in after.compare_to(before, "lineno")[:40]:
        frame = stat.traceback[0]
        where = frame.filename.split("site-packages/")[-1].split("/lib/python3.11/")[-1]
        print(
            f"  {stat.size_diff / count:8,.0f} B  {stat.count_diff / count:6.1f} blocks  "
            f"{where}:{frame.lineno}"
        )
    print("\nby call stack (most recent call first):")
    for stat in after.compare_to(before, "traceback")[:30]:
        frames = [
            f"{f.filename.split('site-packages/')[-1].split('/lib/python3.11/')[-1]}:{f.lineno}"
            for f in reversed(stat.traceback)
        ]
        print(f"  {stat.size_diff / count:8,.0f} B  " + " < ".join(frames[:7]))


if __name__ == "__main__":
    if sys.argv[1:2] == ["--client"]:
        port, kind, n, url, token = sys.argv[2:7]
        asyncio.run(clients(int(port), kind, int(n), url, token))
    else:
        kind = sys.argv[1] if len(sys.argv) > 1 else "widget"
        n = int(sys.argv[2]) if len(sys.argv) > 2 else 500
        asyncio.run(main(kind, n))
