"""A webhook's latency while the retention worker's full pass runs (issue 17: the full
recompute must stay kind to concurrent traffic), on a copy of the seeded CRM database.

`python -m tests.bench.recompute_latency URL WORKDIR SHARE [RATE]`: adds a WeChat channel
to the (seeded, not yet scored) database at URL, starts the server (`create` below: the
app as `huiliu serve` builds it, with the worker's rest between batches set to SHARE of
the batch's time), whose worker begins with the full pass, and pushes RATE messages a
second (default 4, over 4 keep-alive connections) while it runs and for 15 s after it.
Prints the pass's seconds and the push latencies (p50, p95, p99, max) during the pass
and after it. Only this bench starts the factory; the product has no such switch.
"""

from __future__ import annotations

import asyncio
import os
import sys
import time
from pathlib import Path
from typing import Any

from fastapi import FastAPI

AFTER_SECONDS = 15.0
CONNECTIONS = 4


def create() -> FastAPI:
    from app.main import create_app
    from app.retention import worker

    worker.REST_SHARE = float(os.environ["HUILIU_BENCH_REST_SHARE"])
    return create_app()


async def _scored(url: str) -> int:
    from tests.bench.bench_support import count_rows

    return await count_rows(url, "retention_scores")


async def main(url: str, workdir: Path, share: float, rate: float) -> dict[str, Any]:
    from tests.bench.bench_support import (
        HttpClient,
        PushMaker,
        count_rows,
        create_wechat_channel,
        factory_server,
        huiliu_server,
        percentile,
    )

    customers = await count_rows(url, "contacts", "WHERE merged_into_id IS NULL")
    channel_id = await create_wechat_channel(url)
    maker = PushMaker(f"/webhooks/wechat/{channel_id}", prefix=7)
    # `huiliu serve`'s settings, the app from `create` (the rest set by this bench)
    base = huiliu_server(workdir, url, name="recompute")
    env = {**base.env, "HUILIU_BENCH_REST_SHARE": str(share)}
    factory = "tests.bench.recompute_latency:create"
    server = factory_server("recompute", factory, env, workdir, base.port)
    port = base.port
    samples: list[tuple[float, float]] = []  # (sent at, seconds to the acknowledgement)
    done_at: float | None = None
    started = time.perf_counter()
    await server.start()
    ready = time.perf_counter()

    async def pushes(client: HttpClient, offset: float) -> None:
        interval = CONNECTIONS / rate
        at = ready + offset
        while done_at is None or time.perf_counter() < done_at + AFTER_SECONDS:
            await asyncio.sleep(max(0.0, at - time.perf_counter()))
            path, body, _ = maker.make()
            t0 = time.perf_counter()
            status, _ = await client.request("POST", path, body, {"Content-Type": "text/xml"})
            samples.append((t0, time.perf_counter() - t0))
            assert status == 200, status
            at += interval

    clients = [await HttpClient.open(port) for _ in range(CONNECTIONS)]
    senders = [asyncio.create_task(pushes(c, i / rate)) for i, c in enumerate(clients)]
    try:
        while await _scored(url) < customers:  # noqa: ASYNC110 - polls another process's work
            await asyncio.sleep(0.5)
        done_at = time.perf_counter()
        await asyncio.gather(*senders)
    finally:
        for c in clients:
            c.close()
        await server.stop()

    def stats(values: list[float]) -> dict[str, float]:
        return {
            "n": len(values),
            "p50_ms": percentile(values, 50) * 1000,
            "p95_ms": percentile(values, 95) * 1000,
            "p99_ms": percentile(values, 99) * 1000,
            "max_ms": max(values) * 1000,
        }

    return {
        "share": share,
        "pass_s": done_at - started,
        "during": stats([s for t, s in samples if t < done_at]),
        "after": stats([s for t, s in samples if t >= done_at + 1.0]),
        "load": os.getloadavg()[0],
    }


if __name__ == "__main__":
    rate = float(sys.argv[4]) if len(sys.argv) > 4 else 4.0
    print(asyncio.run(main(sys.argv[1], Path(sys.argv[2]), float(sys.argv[3]), rate)))
