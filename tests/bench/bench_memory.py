"""Memory per 1,000 idle websockets: the server process's RSS before and after.

Issue 8's target is about the website widget's sockets (`WS /widget/{id}/ws`, one per
visitor with the chat open: by far the most numerous); agent sockets are measured too.
A widget client says `hello` and waits for `ready`, as the widget does; each comes
from its own address (`X-Forwarded-For`, trusted from loopback like a proxy's) so the
per-IP connect limits see 1,000 visitors, not one. The clients offer
permessage-deflate as browsers do; the server decides whether to accept it. Two
rounds of `count` sockets show whether the growth is linear.
"""

from __future__ import annotations

import asyncio
import gc
import json
from collections.abc import Awaitable, Callable

from websockets.asyncio.client import ClientConnection, connect

from tests.bench.bench_live import CONNECT_BATCH, close_all, open_agents
from tests.bench.bench_support import Server

SETTLE_SECONDS = 2.0


async def create_webchat_channel(url: str) -> int:
    from app.db import Database
    from app.workspace import create_channel

    db = Database(url)
    try:
        async with db.session() as session:
            channel = await create_channel(session, "webchat", "压测网站", {})
            return channel.id
    finally:
        await db.dispose()


async def open_visitor(server: Server, channel_id: int, n: int) -> ClientConnection:
    ws = await connect(
        f"ws://127.0.0.1:{server.port}/widget/{channel_id}/ws",
        origin=f"http://127.0.0.1:{server.port}",  # type: ignore[arg-type]
        additional_headers={"X-Forwarded-For": f"10.{n >> 16 & 255}.{n >> 8 & 255}.{n & 255}"},
        max_queue=None,
    )
    await ws.send(json.dumps({"type": "hello", "last_message_id": 0}))
    async for raw in ws:  # welcome, then ready: the socket is live and idle
        if json.loads(raw).get("type") == "ready":
            break
    return ws


async def open_visitors(
    server: Server, channel_id: int, count: int, first: int = 0
) -> list[ClientConnection]:
    sockets: list[ClientConnection] = []
    for i in range(first, first + count, CONNECT_BATCH):
        batch = range(i, min(i + CONNECT_BATCH, first + count))
        sockets += await asyncio.gather(*(open_visitor(server, channel_id, n) for n in batch))
    return sockets


async def settled_rss(server: Server) -> int:
    await asyncio.sleep(SETTLE_SECONDS)
    return server.rss_bytes()


async def measure(
    server: Server, open_some: Callable[[int, int], Awaitable[list[ClientConnection]]], count: int
) -> dict[str, float]:
    # Warm up the code paths (imports, caches, first pool connections) before the baseline.
    warm = await open_some(20, 0)
    await close_all(warm)
    base = await settled_rss(server)
    first = await open_some(count, 100)
    after_first = await settled_rss(server)
    second: list[ClientConnection] = await open_some(count, 100 + count)
    after_second = await settled_rss(server)
    alive = sum(1 for ws in first + second if ws.close_code is None)
    await close_all(first + second)
    gc.collect()
    per = 1000 / count / 2**20
    return {
        "baseline_mb": base / 2**20,
        "first_mb_per_1000": (after_first - base) * per,
        "second_mb_per_1000": (after_second - after_first) * per,
        "alive": alive,
    }


async def run(server: Server, token: str, count: int, kind: str = "widget") -> dict[str, object]:
    """One kind of socket per server: RSS freed by one kind's sockets would be reused by
    the next kind's and hide their cost."""
    if kind == "agent":
        figures = await measure(server, lambda n, _first: open_agents(server, [token] * n), count)
    else:
        channel_id = await create_webchat_channel(server.env["HUILIU_DATABASE_URL"])
        figures = await measure(
            server, lambda n, first: open_visitors(server, channel_id, n, first), count
        )
    return figures | {"kind": kind}
