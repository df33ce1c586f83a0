"""Ingest: WeChat plain-mode pushes over 32 keep-alive connections, Huiliu against the floor.

Both servers run at once as real uvicorn processes on the same fresh database; rounds
alternate A and B (ABBA...) so drift on a shared machine hits both alike. Every push
has a unique MsgId, from a pool of customers. After the run the stored rows are
counted: an acknowledged push that is not in the database would be a bug.
"""

from __future__ import annotations

import asyncio
import collections
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import text

from tests.bench.bench_floor import create_table_sql
from tests.bench.bench_support import (
    HttpClient,
    PushMaker,
    Server,
    count_rows,
    create_wechat_channel,
    floor_server,
    huiliu_server,
    migrate,
    recreate_pg_database,
)

CONNECTIONS = 32


@dataclass
class Tally:
    ok: int = 0
    errors: collections.Counter[int] = field(default_factory=collections.Counter)
    latencies: list[float] = field(default_factory=list)


async def drive(server: Server, maker: PushMaker, seconds: float) -> tuple[float, Tally]:
    """Push as fast as 32 connections allow for `seconds`; (acknowledged per second, tally)."""
    tally = Tally()
    clients = [await HttpClient.open(server.port) for _ in range(CONNECTIONS)]
    started = time.perf_counter()
    deadline = started + seconds

    async def loop(client: HttpClient) -> None:
        while time.perf_counter() < deadline:
            path, body, _ = maker.make()
            t0 = time.perf_counter()
            status, _ = await client.request(
                "POST", path, body, {"Content-Type": "text/xml; charset=utf-8"}
            )
            tally.latencies.append(time.perf_counter() - t0)
            if status == 200:
                tally.ok += 1
            else:
                tally.errors[status] += 1

    await asyncio.gather(*(loop(c) for c in clients))
    elapsed = time.perf_counter() - started
    for c in clients:
        c.close()
    return tally.ok / elapsed, tally


async def prepare(kind: str, workdir: Path) -> tuple[str, int]:
    if kind == "sqlite":
        workdir.mkdir(parents=True, exist_ok=True)  # noqa: ASYNC240 - once, before any load
        url = f"sqlite+aiosqlite:///{workdir / 'ingest.db'}"
    else:
        url = await recreate_pg_database("huiliu_bench_ingest")
    await migrate(url)
    channel_id = await create_wechat_channel(url)
    from sqlalchemy.ext.asyncio import create_async_engine

    engine = create_async_engine(url)
    async with engine.begin() as conn:
        await conn.execute(text(create_table_sql(engine.dialect.name)))
    await engine.dispose()
    return url, channel_id


async def run(kind: str, workdir: Path, *, rounds: int, seconds: float) -> dict[str, Any]:
    url, channel_id = await prepare(kind, workdir)
    huiliu = huiliu_server(workdir / "huiliu", url)
    floor = floor_server(workdir / "floor", url)
    makers = {
        "huiliu": PushMaker(f"/webhooks/wechat/{channel_id}", prefix=1),
        "floor": PushMaker(f"/floor/wechat/{channel_id}", prefix=2),
    }
    servers = {"huiliu": huiliu, "floor": floor}
    rates: dict[str, list[float]] = {"huiliu": [], "floor": []}
    tallies: dict[str, Tally] = {"huiliu": Tally(), "floor": Tally()}
    try:
        await huiliu.start()
        await floor.start()
        for name in ("floor", "huiliu"):  # warm-up: connections, caches, first contacts
            await drive(servers[name], makers[name], 1.5)
        for i in range(rounds):
            order = ("floor", "huiliu") if i % 2 == 0 else ("huiliu", "floor")
            for name in order:
                rate, tally = await drive(servers[name], makers[name], seconds)
                rates[name].append(rate)
                tallies[name].ok += tally.ok
                tallies[name].errors.update(tally.errors)
                tallies[name].latencies += tally.latencies
    finally:
        await huiliu.stop()
        await floor.stop()
    stored_huiliu = await count_rows(url, "messages")
    stored_floor = await count_rows(url, "floor_messages")
    h = sum(rates["huiliu"]) / len(rates["huiliu"])
    f = sum(rates["floor"]) / len(rates["floor"])
    return {
        "kind": kind,
        "huiliu": h,
        "floor": f,
        "ratio": h / f if f else float("nan"),
        "huiliu_rounds": rates["huiliu"],
        "floor_rounds": rates["floor"],
        "huiliu_errors": dict(tallies["huiliu"].errors),
        "floor_errors": dict(tallies["floor"].errors),
        "huiliu_latencies": tallies["huiliu"].latencies,
        "floor_latencies": tallies["floor"].latencies,
        # Warm-up pushes are stored too: stored >= acknowledged in the measured rounds.
        "huiliu_stored": stored_huiliu,
        "floor_stored": stored_floor,
        "huiliu_acked": tallies["huiliu"].ok,
        "floor_acked": tallies["floor"].ok,
    }
