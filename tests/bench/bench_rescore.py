"""The retention hook's cost to ingest (issue 17: "the incremental update per stored
message adds < 5 % to ingest (A/B in the same run)"), on the seeded CRM database.

What a stored message triggers for retention is no work on the ingest path: the
message moves its conversation's `updated_at`, and the retention worker's incremental
pass (app/retention/worker.py: the customers changed since its last pass) rescores
the customer. So the A/B is two servers (tests/bench/rescore_server.py), each on its
own copy of the seeded database taken after the full recompute (100,000 customers,
every score fresh): A runs the incremental pass every HOOK_SECONDS (the server's 60),
B never. Rounds alternate ABBA, each as long as the worker's interval so each holds
one pass, WeChat pushes over 32 keep-alive connections as in the ingest part, with a
rest after each round. A warm-up round of each side is not counted. Beside
the rates, the server's CPU per acknowledged push, steadier on a shared machine.
A shorter interval gives an upper bound (`python -m tests.bench.bench_rescore KIND
URL WORKDIR 5 12 3`: each writing customer rescored every 5 s).
"""

from __future__ import annotations

import asyncio
import os
import sqlite3
import sys
from pathlib import Path
from typing import Any

from app.retention.worker import REFRESH_SECONDS
from tests.bench.bench_ingest import CONNECTIONS, drive
from tests.bench.bench_support import (
    PushMaker,
    Server,
    count_rows,
    create_wechat_channel,
    drop_pg_database,
    factory_server,
    free_port,
    pg_url,
    sqlite_path,
)

HOOK_SECONDS = REFRESH_SECONDS  # the server's cadence: 60 s
ROUNDS = 2  # per side
ROUND_SECONDS = 60.0  # a round holds one pass of the worker, wherever it falls
WARM_UP_SECONDS = 15.0
REST_SECONDS = 3.0  # after each round: A's worker catches up (at most one interval)
TARGET_PERCENT = 5.0
COPIES = {"on": "huiliu_bench_rescore_on", "off": "huiliu_bench_rescore_off"}


def _cpu_seconds(server: Server) -> float:
    """The server process's CPU time so far (user + system), from /proc."""
    assert server.proc is not None
    fields = Path(f"/proc/{server.proc.pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def _copy(kind: str, url: str, side: str, workdir: Path) -> str:
    """A copy of the seeded database for one side."""
    if kind == "sqlite":
        target = workdir / f"rescore-{side}.db"
        target.unlink(missing_ok=True)

        def backup() -> None:
            src, dst = sqlite3.connect(sqlite_path(url)), sqlite3.connect(target)
            try:
                src.backup(dst)
            finally:
                src.close()
                dst.close()

        await asyncio.to_thread(backup)
        return f"sqlite+aiosqlite:///{target}"
    import asyncpg

    from tests.bench.bench_support import PG_ADMIN_DSN

    await drop_pg_database(COPIES[side])
    conn = await asyncpg.connect(PG_ADMIN_DSN)
    try:
        source = url.rsplit("/", 1)[1]
        await conn.execute(f'CREATE DATABASE "{COPIES[side]}" TEMPLATE "{source}"')
    finally:
        await conn.close()
    return pg_url(COPIES[side])


def _server(side: str, url: str, workdir: Path, hook_seconds: float) -> Server:
    from tests.bench.bench_support import SECRET_KEY

    port = free_port()
    env = {
        "HUILIU_DATABASE_URL": url,
        "HUILIU_SECRET_KEY": SECRET_KEY,
        "HUILIU_PUBLIC_URL": f"http://127.0.0.1:{port}",
        "HUILIU_REDIS_URL": "",
        "HUILIU_BENCH_RETENTION_HOOK": side,
        "HUILIU_BENCH_RETENTION_SECONDS": str(hook_seconds),
    }
    return factory_server(f"hook-{side}", "tests.bench.rescore_server:create", env, workdir, port)


async def ingest_ab(
    kind: str,
    url: str,
    workdir: Path,
    *,
    rounds: int = ROUNDS,
    seconds: float = ROUND_SECONDS,
    rest: float = REST_SECONDS,
    hook_seconds: float = HOOK_SECONDS,
) -> dict[str, Any]:
    """Pushes per second with the hook on (A) and off (B), ABBA, on copies of `url`."""
    from datetime import UTC, datetime

    workdir.mkdir(parents=True, exist_ok=True)  # noqa: ASYNC240 - once, before any load
    urls = {side: await _copy(kind, url, side, workdir) for side in ("on", "off")}
    servers: dict[str, Server] = {}
    makers: dict[str, PushMaker] = {}
    for side, prefix in (("on", 3), ("off", 4)):
        channel_id = await create_wechat_channel(urls[side])
        servers[side] = _server(side, urls[side], workdir, hook_seconds)
        makers[side] = PushMaker(f"/webhooks/wechat/{channel_id}", prefix=prefix)
    rates: dict[str, list[float]] = {"on": [], "off": []}
    errors: dict[str, int] = {"on": 0, "off": 0}
    # CPU per acknowledged push, the rest after each round included (where A's worker
    # catches up): steadier than the rates on a shared machine (SQLite's work is all in
    # the server process; PostgreSQL's own is not counted).
    cpu: dict[str, float] = {"on": 0.0, "off": 0.0}
    pushes: dict[str, int] = {"on": 0, "off": 0}
    started = datetime.now(UTC)
    try:
        for server in servers.values():
            await server.start()
        # Warm-up, a round each: connections, caches, and every customer of the pool
        # created (a first message makes the customer, a dearer write than the next).
        for side in ("on", "off"):
            await drive(servers[side], makers[side], min(seconds, WARM_UP_SECONDS))
        await asyncio.sleep(rest)
        for i in range(rounds * 2):
            side = ("on", "off", "off", "on")[i % 4]
            cpu_before = _cpu_seconds(servers[side])
            rate, tally = await drive(servers[side], makers[side], seconds)
            rates[side].append(rate)
            errors[side] += sum(tally.errors.values())
            await asyncio.sleep(rest)
            cpu[side] += _cpu_seconds(servers[side]) - cpu_before
            pushes[side] += tally.ok
    finally:
        for server in servers.values():
            await server.stop()
    since = started.strftime("%Y-%m-%d %H:%M:%S")
    rescored = {
        side: await count_rows(urls[side], "retention_scores", f"WHERE computed_at >= '{since}'")
        for side in ("on", "off")
    }
    on = sum(rates["on"]) / len(rates["on"])
    off = sum(rates["off"]) / len(rates["off"])
    result = {
        "on": on,
        "off": off,
        "cost_percent": (off - on) / off * 100 if off else float("nan"),
        "cpu_ms_per_push": {k: cpu[k] / pushes[k] * 1000 for k in cpu if pushes[k]},
        "on_rounds": rates["on"],
        "off_rounds": rates["off"],
        "errors": errors,
        "rescored": rescored,
        "connections": CONNECTIONS,
        "hook_seconds": hook_seconds,
        "round_seconds": seconds,
    }
    if kind == "pg":
        for side in ("on", "off"):
            await drop_pg_database(COPIES[side])
    return result


def rows(kind: str, size: str, r: dict[str, Any]) -> list[str]:
    ok = r["cost_percent"] < TARGET_PERCENT and not any(r["errors"].values())
    cpu = r["cpu_ms_per_push"]
    return [
        f"| ingest with the retention hook on vs off, A/B ({size}, incremental pass every "
        f"{r['hook_seconds']:.0f} s, {len(r['on_rounds'])} x {r['round_seconds']:.0f} s "
        f"rounds a side) | {kind} | on {r['on']:.0f} msg/s, off {r['off']:.0f} msg/s: "
        f"{r['cost_percent']:+.1f} % | server CPU per push on {cpu['on']:.2f} ms, off "
        f"{cpu['off']:.2f} ms; {r['rescored']['on']:,} customers rescored "
        f"(off: {r['rescored']['off']:,}) | {'met' if ok else 'MISSED'} "
        f"| < {TARGET_PERCENT:.0f} % |"
    ]


async def table_rows(kind: str, url: str, seeded: dict[str, Any]) -> list[str]:
    """The `crm` part's A/B row, after bench_retention's recompute (every score fresh)."""
    size = f"{seeded['customers']:,} customers, {seeded['messages']:,} msgs"
    workdir = Path(sqlite_path(url)).parent if kind == "sqlite" else Path("/tmp/huiliu-rescore")
    return rows(kind, size, await ingest_ab(kind, url, workdir / "rescore"))


if __name__ == "__main__":
    # python -m tests.bench.bench_rescore KIND URL WORKDIR [HOOK_S ROUND_S ROUNDS]: the
    # A/B on an already seeded and scored database (left untouched: each side runs on
    # its own copy).
    kind, url, where = sys.argv[1], sys.argv[2], Path(sys.argv[3])
    hook_s, round_s, n = (
        float(x) for x in (sys.argv[4:7] or (HOOK_SECONDS, ROUND_SECONDS, ROUNDS))
    )
    found = asyncio.run(
        ingest_ab(kind, url, where, rounds=int(n), seconds=round_s, hook_seconds=hook_s)
    )
    print(found)
    print("\n".join(rows(kind, "seeded", found)))
