"""What keeping the service facts up to date costs ingest (issue 16: no more than 5 %).

Two Huiliu servers run at once, the same code, each on its own fresh database: one as
shipped ("on"), one started with HUILIU_BENCH_FACTS_OFF=1 ("off"), where
`app/service/actions/facts.after_inbound` does nothing (no facts upsert, no greeting /
away check per batch). WeChat pushes over 32 keep-alive connections as in the ingest
row (`bench_ingest.drive`); rounds alternate (on, off, off, on, ...) so drift on a
shared machine hits both alike.

Two measures: the acknowledged rates (on/off; the cost is 1 - ratio), and the CPU each
side spent per stored message: its server process plus, on PostgreSQL, the database's
backends serving its database (from /proc, so PostgreSQL must run on this machine; when
it does not, the rate alone is given). On a machine shared with other work the rate
swings by tens of percent from round to round; CPU per message is what the upkeep adds
and moves far less with the load, so it is the row's verdict.
"""

from __future__ import annotations

import asyncio
import os
from pathlib import Path
from typing import Any

from tests.bench.bench_ingest import drive
from tests.bench.bench_support import (
    PG_ADMIN_DSN,
    PushMaker,
    count_rows,
    create_wechat_channel,
    huiliu_server,
    migrate,
    recreate_pg_database,
)

PG_DBS = {"on": "huiliu_bench_facts_on", "off": "huiliu_bench_facts_off"}
TARGET_COST = 0.05
TICK = os.sysconf("SC_CLK_TCK")


def _cpu(pid: int) -> float:
    """CPU seconds (user + system) of a process so far; 0 when it is gone."""
    try:
        stat = open(f"/proc/{pid}/stat").read()  # noqa: SIM115, PTH123 - one small read
    except OSError:
        return 0.0
    fields = stat.rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICK


async def _backends(dbname: str) -> dict[int, float]:
    """The CPU seconds of each PostgreSQL backend serving `dbname` (pid -> seconds)."""
    import asyncpg

    conn = await asyncpg.connect(PG_ADMIN_DSN)
    try:
        rows = await conn.fetch(
            "SELECT pid FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()",
            dbname,
        )
    finally:
        await conn.close()
    return {r["pid"]: _cpu(r["pid"]) for r in rows}


async def _spent(kind: str, name: str, server: Any) -> dict[int, float]:
    """CPU seconds so far: the server process (key 0) and its database's backends."""
    spent = {0: _cpu(server.proc.pid)}
    if kind == "pg":
        spent.update(await _backends(PG_DBS[name]))
    return spent


def _delta(before: dict[int, float], after: dict[int, float]) -> float:
    """CPU spent between two readings; a backend started in between counts from zero."""
    return sum(seconds - before.get(pid, 0.0) for pid, seconds in after.items())


async def run(kind: str, workdir: Path, *, rounds: int, seconds: float) -> dict[str, Any]:
    servers: dict[str, Any] = {}
    channels: dict[str, int] = {}
    for name in ("on", "off"):
        if kind == "sqlite":
            workdir.mkdir(parents=True, exist_ok=True)  # noqa: ASYNC240 - once, before any load
            url = f"sqlite+aiosqlite:///{workdir / f'facts-{name}.db'}"
        else:
            url = await recreate_pg_database(PG_DBS[name])
        await migrate(url)
        channels[name] = await create_wechat_channel(url)
        servers[name] = huiliu_server(workdir / name, url, name=f"facts-{name}")
    servers["off"].env["HUILIU_BENCH_FACTS_OFF"] = "1"
    makers = {
        name: PushMaker(f"/webhooks/wechat/{channels[name]}", prefix=4) for name in ("on", "off")
    }
    rates: dict[str, list[float]] = {"on": [], "off": []}
    cpu = {"on": 0.0, "off": 0.0}
    cpu_db = {"on": 0.0, "off": 0.0}  # of which PostgreSQL's backends
    acked = {"on": 0, "off": 0}
    errors = {"on": 0, "off": 0}
    try:
        for server in servers.values():
            await server.start()
        for name in ("off", "on"):  # warm-up: connections, caches, the customers' first pushes
            await drive(servers[name], makers[name], 1.5)
        for i in range(rounds):
            order = ("on", "off") if i % 2 == 0 else ("off", "on")
            for name in order:
                before = await _spent(kind, name, servers[name])
                rate, tally = await drive(servers[name], makers[name], seconds)
                # What follows a batch's commit (events, broadcasts) is this side's too.
                await asyncio.sleep(0.3)
                after = await _spent(kind, name, servers[name])
                cpu[name] += _delta(before, after)
                cpu_db[name] += _delta(before, after) - (after[0] - before[0])
                acked[name] += tally.ok
                rates[name].append(rate)
                errors[name] += sum(tally.errors.values())
    finally:
        for server in servers.values():
            await server.stop()
    facts = {
        name: await count_rows(server.env["HUILIU_DATABASE_URL"], "conversation_facts")
        for name, server in servers.items()
    }
    on, off = sum(rates["on"]) / rounds, sum(rates["off"]) / rounds
    per = {name: cpu[name] * 1000 / max(acked[name], 1) for name in cpu}  # ms per message
    return {
        "kind": kind,
        "on": on,
        "off": off,
        "ratio": on / off if off else float("nan"),
        "pair_ratios": [
            a / b if b else float("nan") for a, b in zip(rates["on"], rates["off"], strict=True)
        ],
        "on_rounds": rates["on"],
        "off_rounds": rates["off"],
        "cpu_ms_per_msg": per,
        "cpu_cost": per["on"] / per["off"] - 1 if per["off"] else float("nan"),
        "db_cpu_ms_per_msg": {n: cpu_db[n] * 1000 / max(acked[n], 1) for n in cpu_db},
        "acked": acked,
        "errors": errors,
        "facts_rows": facts,
        "rounds": rounds,
        "seconds": seconds,
    }


def table_row(r: dict[str, Any]) -> str:
    pairs = ", ".join(f"{x:.2f}" for x in r["pair_ratios"])
    per = r["cpu_ms_per_msg"]
    return (
        f"| ingest, facts upkeep on / off (A/B, {r['rounds']} x 2 rounds of {r['seconds']:.0f} s) "
        f"| {r['kind']} | CPU {per['on']:.2f} / {per['off']:.2f} ms per message: "
        f"cost {r['cpu_cost'] * 100:+.1f} %; msgs/s {r['on']:.0f} / {r['off']:.0f}, ratio "
        f"{r['ratio']:.3f} (pairs {pairs}); errors {r['errors']['on']} / {r['errors']['off']}; "
        f"facts rows {r['facts_rows']['on']} / {r['facts_rows']['off']} | | "
        f"{'met' if r['cpu_cost'] <= TARGET_COST else 'MISSED'} | cost <= 5 % (CPU per message) |"
    )
