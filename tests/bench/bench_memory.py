"""Memory per 1,000 idle agent websockets: the server process's RSS before and after.

The clients offer permessage-deflate as browsers do; the server decides whether to
accept it. Two rounds of `count` sockets show whether the growth is linear.
"""

from __future__ import annotations

import asyncio
import gc

from websockets.asyncio.client import ClientConnection

from tests.bench.bench_live import close_all, open_agents
from tests.bench.bench_support import Server

SETTLE_SECONDS = 2.0


async def settled_rss(server: Server) -> int:
    await asyncio.sleep(SETTLE_SECONDS)
    return server.rss_bytes()


async def run(server: Server, token: str, count: int) -> dict[str, float]:
    # Warm up the code paths (imports, caches, first pool connections) before the baseline.
    warm = await open_agents(server, [token] * 20)
    await close_all(warm)
    base = await settled_rss(server)
    first = await open_agents(server, [token] * count)
    after_first = await settled_rss(server)
    second: list[ClientConnection] = await open_agents(server, [token] * count)
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
