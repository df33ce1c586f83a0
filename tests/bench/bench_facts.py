"""What keeping the service facts up to date costs ingest (issue 16: no more than 5 %).

Two Huiliu servers run at once, the same code, each on its own fresh database: one as
shipped ("on"), one started through `tests/bench/facts_server.py` ("off"), where the
database does not count customer messages (its trigger dropped) and the ingest's call of
`after_inbound` does nothing (no greeting / away check per batch). WeChat pushes over
32 keep-alive connections as in the ingest row; rounds alternate (on, off, off, on, ...)
so drift on a shared machine hits both alike. Two measures:

- the rate: as fast as the connections go (`bench_ingest.drive`), on/off of the
  acknowledged rates (the cost is 1 - ratio). On a machine shared with other work it
  swings by tens of percent from round to round.
- CPU per stored message at the same paced rate for both (`PACED_RATE` pushes a second,
  below what either takes, so both see the same batches): the server process plus, on
  PostgreSQL, the backends serving its database (from /proc, so PostgreSQL must run on
  this machine; other hosts' CPU is not counted). This is what the upkeep adds and moves
  far less with the load: the row's verdict. (At full speed CPU per message is not
  comparable: the slower side has smaller batches, which cost more per message.)
"""

from __future__ import annotations

import asyncio
import os
import time
from pathlib import Path
from typing import Any

from app.db import Database
from tests.bench.bench_ingest import CONNECTIONS, Tally, drive
from tests.bench.bench_support import (
    PG_ADMIN_DSN,
    HttpClient,
    PushMaker,
    count_rows,
    create_wechat_channel,
    huiliu_server,
    migrate,
    recreate_pg_database,
)
from tests.bench.facts_server import counting

PG_DBS = {"on": "huiliu_bench_facts_on", "off": "huiliu_bench_facts_off"}
TARGET_COST = 0.05
PACED_RATE = 100.0  # pushes per second in the CPU rounds
BATCHES = 100  # per side, for the CPU per batch
WARM_UP = 20
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


async def paced(server: Any, maker: PushMaker, rate: float, seconds: float) -> Tally:
    """Push `rate` a second for `seconds` (push i at start + i / rate) over 32 connections."""
    tally = Tally()
    clients = [await HttpClient.open(server.port) for _ in range(CONNECTIONS)]
    total = int(rate * seconds)
    started = time.perf_counter()
    slots = iter(range(total))

    async def loop(client: HttpClient) -> None:
        for i in slots:
            delay = started + i / rate - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            path, body, _ = maker.make()
            status, _ = await client.request(
                "POST", path, body, {"Content-Type": "text/xml; charset=utf-8"}
            )
            if status == 200:
                tally.ok += 1
            else:
                tally.errors[status] += 1

    await asyncio.gather(*(loop(c) for c in clients))
    for c in clients:
        c.close()
    return tally


async def batch_cpu(
    kind: str, urls: dict[str, str], batches: int, size: int = 32
) -> dict[str, float]:
    """CPU per ingest batch of `size` pushes from known customers, upkeep on and off in turn
    in this process (`IngestBatcher` as the server runs it, one batch at a time), each side
    on its own database of the A/B ("off": no counting trigger) with the same customers
    and the same pushes: this process's CPU (the SQLite thread's too) plus, on PostgreSQL,
    that database's backends'. No HTTP, no other server: the difference is the upkeep's
    own work, ms per batch."""
    from urllib.parse import parse_qsl

    from app.db import Database
    from app.ingest.batcher import IngestBatcher, Push
    from channels.base import WebhookRequest
    from tests.bench.facts_server import facts_upkeep

    channels = {n: await create_wechat_channel(u, app_id="wxbatchcpu") for n, u in urls.items()}
    makers = {
        n: PushMaker(f"/webhooks/wechat/{c}", customers=size, prefix=6) for n, c in channels.items()
    }
    dbs = {name: Database(url) for name, url in urls.items()}
    spent: dict[str, list[float]] = {"on": [], "off": []}

    async def one(name: str) -> None:
        pushes = []
        for _ in range(size):
            path, body, _ = makers[name].make()
            wire = WebhookRequest(
                method="POST",
                query=dict(parse_qsl(path.split("?", 1)[1])),
                headers={"content-type": "text/xml"},
                body=body,
                received_at=time.time(),
            )
            pushes.append(Push("wechat", channels[name], wire))
        facts_upkeep(name == "on")
        batcher = IngestBatcher(dbs[name], max_batch=size)
        db_before = await _backends(PG_DBS[name]) if kind == "pg" else {}
        cpu_before = time.process_time()
        batcher.queue.extend(pushes)
        await batcher._work()
        cpu = time.process_time() - cpu_before
        if kind == "pg":
            cpu += _delta(db_before, await _backends(PG_DBS[name]))
        assert all(p.future.result().stored == 1 for p in pushes)
        spent[name].append(cpu)

    try:
        # Warm-up, both sides in turn: the customers and their conversations, statement
        # caches, the allocator. Fewer left the first measured batches about 10 % slower
        # on whichever side ran first (an A/A run showed it).
        for i in range(WARM_UP):
            await one("on" if i % 2 else "off")
        spent = {"on": [], "off": []}
        for i in range(batches):
            for name in ("on", "off") if i % 2 == 0 else ("off", "on"):
                await one(name)
    finally:
        facts_upkeep(True)
        for db in dbs.values():
            await db.dispose()
    # Each round's on/off pair shares the moment's load: the median of their ratios
    # resists the batches a busy machine slows down (an A/A run spread +-6 % in means).
    ratios = sorted(a / b for a, b in zip(spent["on"], spent["off"], strict=True) if b)
    return {
        "on": sum(spent["on"]) * 1000 / len(spent["on"]),
        "off": sum(spent["off"]) * 1000 / len(spent["off"]),
        "median_ratio": ratios[len(ratios) // 2],
    }


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
        if name == "off":  # no counting of customer messages in the database either
            db = Database(url)
            try:
                await counting(db, False)
            finally:
                await db.dispose()
        channels[name] = await create_wechat_channel(url)
        servers[name] = huiliu_server(workdir / name, url, name=f"facts-{name}")
    # The same command through the module that switches the upkeep off first.
    servers["off"].argv[1:3] = ["-m", "tests.bench.facts_server"]
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
        for i in range(rounds):  # the rate, as fast as it goes
            order = ("on", "off") if i % 2 == 0 else ("off", "on")
            for name in order:
                rate, tally = await drive(servers[name], makers[name], seconds)
                rates[name].append(rate)
                errors[name] += sum(tally.errors.values())
        for i in range(rounds):  # CPU per message, both at the same paced rate
            order = ("on", "off") if i % 2 == 0 else ("off", "on")
            for name in order:
                before = await _spent(kind, name, servers[name])
                tally = await paced(servers[name], makers[name], PACED_RATE, seconds)
                # What follows a batch's commit (events, broadcasts) is this side's too.
                await asyncio.sleep(0.3)
                after = await _spent(kind, name, servers[name])
                cpu[name] += _delta(before, after)
                cpu_db[name] += _delta(before, after) - (after[0] - before[0])
                acked[name] += tally.ok
                errors[name] += sum(tally.errors.values())
    finally:
        for server in servers.values():
            await server.stop()
    per_batch = await batch_cpu(
        kind, {n: s.env["HUILIU_DATABASE_URL"] for n, s in servers.items()}, batches=BATCHES
    )
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
        "batch_cpu_ms": per_batch,
        "batch_cpu_cost": per_batch["median_ratio"] - 1,
        "paced_acked": acked,
        "paced_rate": PACED_RATE,
        "errors": errors,
        "facts_rows": facts,
        "rounds": rounds,
        "seconds": seconds,
    }


def table_row(r: dict[str, Any]) -> str:
    pairs = ", ".join(f"{x:.2f}" for x in r["pair_ratios"])
    per, batch = r["cpu_ms_per_msg"], r["batch_cpu_ms"]
    cost = r["batch_cpu_cost"]
    return (
        f"| ingest, facts upkeep on / off (A/B alternating: {BATCHES} batches of 32 pushes "
        f"each side in process; {r['rounds']} x 2 rounds of {r['seconds']:.0f} s over HTTP "
        f"at full speed, as many at {r['paced_rate']:.0f} msg/s) | {r['kind']} "
        f"| CPU per batch {batch['on']:.1f} / {batch['off']:.1f} ms (mean), "
        f"cost {cost * 100:+.1f} % "
        "(median of the pairs' ratios); "
        f"over HTTP, CPU per message at {r['paced_rate']:.0f} msg/s {per['on']:.2f} / "
        f"{per['off']:.2f} ms ({r['cpu_cost'] * 100:+.1f} %), full speed msgs/s "
        f"{r['on']:.0f} / {r['off']:.0f}, ratio {r['ratio']:.3f} (pairs {pairs}); errors "
        f"{r['errors']['on']} / {r['errors']['off']}; facts rows {r['facts_rows']['on']} / "
        f"{r['facts_rows']['off']} | | {'met' if cost <= TARGET_COST else 'MISSED'} "
        "| cost <= 5 % (CPU per batch, median) |"
    )
