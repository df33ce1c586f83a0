"""`python -m tests.bench` (`make bench`): Huiliu's benchmarks, printed as one table.

Loopback only; bounded in time (about 30 minutes on 2 cores, a third of it the crm
part's seeding and its ingest A/B). PostgreSQL rows need PostgreSQL on 127.0.0.1:5432
(bench databases `huiliu_bench_*` are created and dropped; `test` is never touched);
Redis on 127.0.0.1:6379 is used when present. Sizes are parameters:
`python -m tests.bench --help`; `--only` picks parts (`make bench BENCH_ARGS="--only
ingest,live"`).

Every figure the issues name comes from one run: ingest against the floor, live latency,
the inbox and the 1M search and export (issue 7, 20), the customers, reports and
retention at 100,000 customers (`crm`, issues 15-17, 20 item 4). Search at 10 million
messages on PostgreSQL (issue 20 item 3, COPY-seeded, 13 to 19 minutes on 2 cores and a
7.2 GB database) is opt-in: `--only search10m`.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from tests.bench import (
    bench_customers,
    bench_facts,
    bench_inbox,
    bench_ingest,
    bench_live,
    bench_memory,
    bench_rescore,
    bench_retention,
    bench_roundtrips,
    bench_search,
    bench_search10m,
    bench_wecom,
    seed_crm,
)
from tests.bench.bench_support import (
    REDIS_URL,
    PushMaker,
    create_agents,
    create_wechat_channel,
    drop_pg_database,
    huiliu_server,
    migrate,
    percentile,
    pg_available,
    recreate_pg_database,
    redis_available,
)

TARGETS = {
    "ingest": {"sqlite": 0.9, "pg": 0.95},  # of the floor (issue 20)
    "live_p99_ms": 50.0,
    "list_p95_ms": 30.0,
    "ws_mb_per_1000": 40.0,
    **bench_search.TARGETS,
}


def parse_args(argv: list[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m tests.bench", description=__doc__)
    p.add_argument(
        "--only",
        default="ingest,live,inbox,memory,search,crm",
        help="comma-separated parts (ingest includes the facts upkeep A/B, also alone: facts)",
    )
    p.add_argument("--databases", default="sqlite,pg", help="sqlite,pg")
    p.add_argument("--rounds", type=int, default=4, help="ingest A/B rounds per database")
    p.add_argument("--seconds", type=float, default=6.0, help="seconds per ingest round")
    p.add_argument("--agents", type=int, default=200, help="agent websockets for live latency")
    p.add_argument(
        "--rates", default="5,10,25,50,100,200", help="live push rates to try, ascending (msg/s)"
    )
    p.add_argument("--live-seconds", type=float, default=5.0)
    p.add_argument(
        "--live-workers",
        default="1,2",
        help="server processes for the live rows (more than 1 needs PostgreSQL and Redis)",
    )
    p.add_argument("--conversations", type=int, default=100_000)
    p.add_argument("--messages", type=int, default=1_000_000)
    p.add_argument("--requests", type=int, default=200, help="timed requests per inbox read")
    p.add_argument(
        "--search-messages",
        type=int,
        default=SEARCH_MESSAGES,
        help="messages seeded and indexed for the search part",
    )
    p.add_argument(
        "--search10m-messages",
        type=int,
        default=bench_search10m.MESSAGES,
        help="messages seeded with COPY for the PostgreSQL-only search10m part (opt-in)",
    )
    p.add_argument("--sockets", type=int, default=1000, help="idle websockets per memory round")
    p.add_argument("--json", type=Path, help="also write the raw figures here")
    return p.parse_args(argv)


SEARCH_MESSAGES = 1_000_000


def log(message: str) -> None:
    load = os.getloadavg()[0]  # each part's lines say what else ran on the machine
    print(f"[{time.strftime('%H:%M:%S')} load {load:.1f}] {message}", file=sys.stderr, flush=True)


async def live_bench(
    args: argparse.Namespace, workdir: Path, kind: str, workers: int = 1
) -> list[dict[str, Any]]:
    redis = REDIS_URL if kind == "pg" and redis_available() else None
    if kind == "pg":
        url = await recreate_pg_database("huiliu_bench_live")
    else:
        url = f"sqlite+aiosqlite:///{workdir / 'live.db'}"
    await migrate(url)
    channel_id = await create_wechat_channel(url)
    tokens = await create_agents(url, args.agents)
    server = huiliu_server(workdir / f"live-{workers}", url, redis_url=redis, workers=workers)
    rows: list[dict[str, Any]] = []
    try:
        await server.start()
        maker = PushMaker(f"/webhooks/wechat/{channel_id}", prefix=3)
        sockets = await bench_live.open_lean_agents(server, tokens)
        log(f"live: {len(sockets)} agents connected")
        await bench_live.run_rate(server, maker, sockets, 5, 1.0)  # warm-up
        for rate in [float(r) for r in args.rates.split(",")]:
            result = await bench_live.run_rate(server, maker, sockets, rate, args.live_seconds)
            row = bench_live.summary(result) | {
                "db": kind,
                "redis": bool(redis),
                "workers": workers,
            }
            rows.append(row)
            log(f"live: {row}")
            if result.complete < 0.99 or result.p99 > 1.0:
                break  # past what this machine can drive: higher rates only queue up
        await bench_live.close_all(sockets)
    finally:
        await server.stop()
        if kind == "pg":
            await drop_pg_database("huiliu_bench_live")
    return rows


async def memory_bench(args: argparse.Namespace, workdir: Path) -> dict[str, Any]:
    url = f"sqlite+aiosqlite:///{workdir / 'memory.db'}"
    await migrate(url)
    (token,) = await create_agents(url, 1)
    results: dict[str, Any] = {}
    for kind in ("widget", "agent"):  # the widget's is the target (issue 8)
        server = huiliu_server(workdir / f"memory-{kind}", url)
        try:
            await server.start()
            results[kind] = await bench_memory.run(server, token, args.sockets, kind)
        finally:
            await server.stop()
    return results


async def main(args: argparse.Namespace) -> dict[str, Any]:
    parts = set(args.only.split(","))
    kinds = [k for k in args.databases.split(",") if k]
    if "pg" in kinds and not pg_available():
        log("PostgreSQL is not on 127.0.0.1:5432: PostgreSQL rows skipped")
        kinds.remove("pg")
    results: dict[str, Any] = {
        "ingest": {},
        "roundtrips": {},
        "wecom": {},
        "facts": {},
        "live": [],
        "inbox": {},
        "memory": None,
        "search": {},
        "search10m": None,
        "crm": [],
    }
    with tempfile.TemporaryDirectory(prefix="huiliu-bench-") as tmp:
        workdir = Path(tmp)
        if "ingest" in parts:
            for kind in kinds:
                log(f"ingest on {kind}: {args.rounds} A/B rounds of {args.seconds:.0f} s")
                r = await bench_ingest.run(
                    kind, workdir / f"ingest-{kind}", rounds=args.rounds, seconds=args.seconds
                )
                results["ingest"][kind] = r
                log(
                    f"ingest on {kind}: huiliu {r['huiliu']:.0f}/s, floor {r['floor']:.0f}/s "
                    f"(rounds {[round(x) for x in r['huiliu_rounds']]} vs "
                    f"{[round(x) for x in r['floor_rounds']]}), errors "
                    f"{r['huiliu_errors']} / {r['floor_errors']}"
                )
            if "pg" in kinds:
                await drop_pg_database("huiliu_bench_ingest")
            for kind in kinds:
                try:
                    rt = await bench_roundtrips.run(kind, workdir / f"roundtrips-{kind}")
                finally:
                    if kind == "pg":
                        await drop_pg_database("huiliu_bench_roundtrips")
                results["roundtrips"][kind] = rt
                log(f"round trips per ingest batch on {kind}: {rt}")
        if parts & {"ingest", "wecom"}:  # the WeCom row sits next to WeChat's
            for kind in kinds:
                log(f"WeCom ingest on {kind}: notices -> sync_msg pulls for {args.seconds:.0f} s")
                try:
                    w = await bench_wecom.run(kind, workdir / f"wecom-{kind}", seconds=args.seconds)
                finally:
                    if kind == "pg":
                        await drop_pg_database("huiliu_bench_wecom")
                results["wecom"][kind] = w
                log(f"WeCom ingest on {kind}: {w}")
        if parts & {"ingest", "facts"}:  # issue 16: the facts' upkeep, A/B in the same run
            for kind in kinds:
                log(f"facts upkeep on {kind}: {args.rounds} A/B rounds of {args.seconds:.0f} s")
                try:
                    fr = await bench_facts.run(
                        kind, workdir / f"facts-{kind}", rounds=args.rounds, seconds=args.seconds
                    )
                finally:
                    if kind == "pg":
                        for db in bench_facts.PG_DBS.values():
                            await drop_pg_database(db)
                results["facts"][kind] = fr
                log(f"facts upkeep on {kind}: {fr}")
        if "live" in parts:
            kind = "pg" if "pg" in kinds else "sqlite"
            log(f"live latency on {kind}: {args.agents} agents, rates {args.rates}")
            for workers in [int(w) for w in args.live_workers.split(",") if w]:
                if workers > 1 and not (kind == "pg" and redis_available()):
                    log(f"live with {workers} workers needs PostgreSQL and Redis: skipped")
                    continue
                log(f"live: {workers} server process(es)")
                results["live"] += await live_bench(args, workdir, kind, workers)
        if "inbox" in parts:
            for kind in kinds:
                log(f"inbox on {kind}: seeding {args.messages} messages")
                r = await bench_inbox.run(
                    kind,
                    workdir / f"inbox-{kind}",
                    conversations=args.conversations,
                    messages=args.messages,
                    requests=args.requests,
                )
                results["inbox"][kind] = r
                log(f"inbox on {kind}: seeded in {r['seed_seconds']:.0f} s; {r}")
            if "pg" in kinds:
                await drop_pg_database("huiliu_bench_inbox")
        if "search" in parts:
            for kind in kinds:
                log(f"search on {kind}: seeding and indexing {args.search_messages} messages")
                try:
                    r = await bench_search.run(
                        kind,
                        workdir / f"search-{kind}",
                        messages=args.search_messages,
                        requests=args.requests,
                    )
                finally:
                    if kind == "pg":
                        await drop_pg_database(bench_search.PG_DB)
                results["search"][kind] = r
                log(f"search on {kind}: {json.dumps(r, ensure_ascii=False, default=str)}")
        if "search10m" in parts:  # issue 20 item 3: PostgreSQL only, COPY-seeded
            if "pg" in kinds:
                log(f"search10m on pg: seeding {args.search10m_messages:,} messages with COPY")
                results["search10m"] = await bench_search10m.run(
                    workdir, messages=args.search10m_messages, log=log
                )
            else:
                log("search10m needs PostgreSQL: skipped")
        if "crm" in parts:  # issues 15-17: seed_crm once per database, each module adds rows
            # The retention rows read first: the customers' rows import orders and sweep.
            # bench_rescore after bench_retention: its A/B starts from fresh scores.
            runners = [
                bench_retention.table_rows,
                bench_rescore.table_rows,
                bench_customers.table_rows,
            ]
            results["crm"] = await seed_crm.crm_part(kinds, workdir / "crm", log, runners)
        if "memory" in parts:
            log(f"memory: 2 x {args.sockets} idle widget websockets, then agent websockets")
            results["memory"] = await memory_bench(args, workdir)
    return results


def ms(seconds: float) -> str:
    return f"{seconds * 1000:.1f} ms"


def verdict(ok: bool) -> str:
    return "met" if ok else "MISSED"


def table(args: argparse.Namespace, results: dict[str, Any]) -> str:
    rows = [
        "| benchmark | database | Huiliu | floor | result | target |",
        "|---|---|---|---|---|---|",
    ]
    for kind, r in results["ingest"].items():
        ratio, target = r["ratio"], TARGETS["ingest"][kind]
        rows.append(
            f"| ingest, 32 connections, msgs/s | {kind} | {r['huiliu']:.0f} | {r['floor']:.0f} "
            f"| ratio {ratio:.2f} ({verdict(ratio >= target)}) | >= {target} of floor |"
        )
        rows.append(
            f"| ingest ack latency p50 / p99 | {kind} "
            f"| {ms(percentile(r['huiliu_latencies'], 50))} / "
            f"{ms(percentile(r['huiliu_latencies'], 99))} "
            f"| {ms(percentile(r['floor_latencies'], 50))} / "
            f"{ms(percentile(r['floor_latencies'], 99))} | | |"
        )
    for kind, rt in results.get("roundtrips", {}).items():
        rows.append(
            f"| ingest: statements per batch of {rt['size']} pushes, known / new customers "
            f"| {kind} | {rt['known_customers']} / {rt['new_customers']} | | | fewer is better |"
        )
    for kind, w in results.get("wecom", {}).items():
        complete = w["stored"] >= w["written"]
        rows.append(
            f"| WeCom ingest: notices -> pulled -> stored, msgs/s | {kind} | {w['rate']:.0f} "
            f"({w['stored']:,} of {w['written']:,} stored; {w['notices']:,} notices, "
            f"{w['sync_calls']:,} sync_msg calls; notice answered p50 {w['ack_p50_ms']:.1f} ms, "
            f"p99 {w['ack_p99_ms']:.1f} ms) | | {verdict(complete and not w['errors'])} "
            "| every notice answered 200, nothing lost |"
        )
    for r in results.get("facts", {}).values():
        rows.append(bench_facts.table_row(r))
    for row in results["live"]:
        # The measure: webhook accepted (the platform has its 200) -> message.created
        # on an agent socket. The customer-to-screen time (push sent -> received) is beside it.
        ok = row["after_ack_p99_ms"] < TARGETS["live_p99_ms"] and row["complete"] >= 0.999
        db = row["db"] + (" + Redis" if row["redis"] else "")
        if row.get("workers", 1) > 1:
            db += f", {row['workers']} workers"
        rows.append(
            f"| live: webhook accepted -> message.created, {row['agents']} agents @ "
            f"{row['rate']:.0f} msg/s | {db} | p50 {row['after_ack_p50_ms']} ms, "
            f"p99 {row['after_ack_p99_ms']} ms ({row['complete'] * 100:.1f}% delivered; "
            f"push sent -> received p50 {row['p50_ms']} ms, p99 {row['p99_ms']} ms) "
            f"| | {verdict(ok)} | p99 < 50 ms |"
        )
        # Issue 20: the acknowledgement itself (push sent -> its 200) under 50 ms p99 at
        # 200 msg/s; shown at every rate.
        ack_ok = row["ack_p99_ms"] < 50 if row["rate"] >= 200 else None
        rows.append(
            f"| live: the acknowledgement (push sent -> 200 received) @ {row['rate']:.0f} "
            f"msg/s, 200 agent sockets open | {db} | p50 {row['ack_p50_ms']} ms, p99 "
            f"{row['ack_p99_ms']} ms | | {'' if ack_ok is None else verdict(ack_ok)} "
            f"| {'p99 < 50 ms' if ack_ok is not None else ''} |"
        )
    for kind, r in results["inbox"].items():
        size = f"{args.messages:,} msgs / {args.conversations:,} convs"
        rows.append(
            f"| inbox seed: rows / retention's first full pass and churn days, before the "
            f"server starts (`tests/bench/settle.py`) | {kind} | {r['seed_seconds']:.0f} s "
            f"/ {r['settle_seconds']:.0f} s | | | |"
        )
        for key, label in [
            ("list", "inbox list (open, first page)"),
            ("list_all", "inbox list (all)"),
            ("list_deep", "inbox list, scrolling by cursor"),
            ("open", "conversation open (header + 50 msgs)"),
        ]:
            p95 = r[key]["p95"] * 1000
            rows.append(
                f"| {label}, p95 ({size}) | {kind} | {p95:.1f} ms "
                f"(p50 {r[key]['p50'] * 1000:.1f}) | | "
                f"{verdict(p95 < TARGETS['list_p95_ms'])} ({r[key]['n']} requests) | < 30 ms |"
            )
        for key, (label, days, _by) in bench_inbox.REPORTS.items():
            if key not in r:
                continue
            p95 = r[key]["p95"] * 1000
            target = 300 if days > 30 else 100
            rows.append(
                f"| {label}, p95 ({args.conversations:,} convs) | {kind} | {p95:.1f} ms "
                f"(p50 {r[key]['p50'] * 1000:.1f}) | | "
                f"{verdict(p95 < target)} ({r[key]['n']} requests) | < {target} ms |"
            )
    m = results["memory"]
    if m:
        # The target is the widget's sockets (issue 8); agents' are shown beside them.
        for kind, r in m.items():
            worst = max(r["first_mb_per_1000"], r["second_mb_per_1000"])
            target = kind == "widget"
            rows.append(
                f"| memory per 1,000 idle {kind} websockets (RSS) | sqlite "
                f"| {r['first_mb_per_1000']:.1f} MB, then {r['second_mb_per_1000']:.1f} MB "
                f"({r['alive']} open; base {r['baseline_mb']:.0f} MB) | | "
                f"{verdict(worst < TARGETS['ws_mb_per_1000']) if target else ''} "
                f"| {'< 40 MB' if target else ''} |"
            )
    rows += search_rows(results["search"])
    if results.get("search10m"):
        rows += bench_search10m.table_rows(results["search10m"])
    rows += results.get("crm") or []
    return "\n".join(rows)


SEARCH_LABELS = {
    "zh1": "1-char Chinese",
    "zh2": "2-char Chinese",
    "zh4": "4-char Chinese",
    "en": "English word",
}


def search_rows(search: dict[str, Any]) -> list[str]:
    rows = []
    for kind, r in search.items():
        size = f"{r['messages']:,} msgs"
        rows.append(
            f"| search index build: seed (bulk) / `huiliu search reindex` ({size}) | {kind} "
            f"| {r['seed_seconds']:.0f} s / {r['reindex_seconds']:.0f} s "
            f"(reindex peak RSS {r['reindex_peak_mb']:.0f} MB; then retention's first pass "
            f"{r['settle_seconds']:.0f} s, `tests/bench/settle.py`) | | | |"
        )
        for cls, label in SEARCH_LABELS.items():
            s = r["search"][cls]
            p95 = s["p95"] * 1000
            rows.append(
                f"| search `{label}` first page, p95 ({size}; {len(s['per_query_p95_ms'])} "
                f"queries, worst {s['worst_query']}) | {kind} | {p95:.1f} ms "
                f"(p50 {s['p50'] * 1000:.1f}) | | "
                f"{verdict(p95 < TARGETS['search_p95_ms'])} ({s['n']} requests) | < 50 ms |"
            )
        worst, extra, detail = bench_search.recall_summary(r["recall"])
        rows.append(
            f"| search recall vs LIKE scan (API hits / LIKE hits; * = newest "
            f"{bench_search.RECALL_CAP} compared) | {kind} | {worst:.3f}, {extra} extra "
            f"({detail}) | | {verdict(worst == 1.0 and extra == 0)} | 1.0 |"
        )
        e = r["export"]
        per_million = e["seconds"] * 1_000_000 / max(e["messages"], 1)
        ok = per_million < TARGETS["export_seconds"] and e["peak_mb"] < TARGETS["export_peak_mb"]
        rows.append(
            f"| `huiliu export` all ({e['messages']:,} msgs, {e['file_mb']:.0f} MB JSONL) "
            f"| {kind} | {e['seconds']:.1f} s ({per_million:.0f} s per 1M), "
            f"peak RSS {e['peak_mb']:.0f} MB | | {verdict(ok)} | 1M in < 120 s, < 200 MB |"
        )
    return rows


def cli(argv: list[str]) -> int:
    args = parse_args(argv)
    started = time.monotonic()
    log(f"load average at the start: {os.getloadavg()[0]:.1f} ({os.cpu_count()} cores)")
    results = asyncio.run(main(args))
    print()
    print(table(args, results))
    load = os.getloadavg()
    print(
        f"\n({time.monotonic() - started:.0f} s; python -m tests.bench {' '.join(argv)}; "
        f"{os.cpu_count()} cores, load average at the end {load[0]:.1f} / {load[1]:.1f} / "
        f"{load[2]:.1f}: other work on the machine lowers the absolute figures; "
        "the two sides of an A/B row alternate, so they share it)"
    )
    if args.json:
        for r in results["ingest"].values():
            r.pop("huiliu_latencies", None)
            r.pop("floor_latencies", None)
        args.json.write_text(json.dumps(results, indent=2, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(cli(sys.argv[1:]))
