"""The customer record at scale (issue 15): customers list, to-do list, order import, sweep.

`run(kind, url, workdir)` takes a seeded database (100,000 customers, 300,000 orders)
and times, over HTTP one request at a time as a browser does: the customers list with
each filter (owner, channel, lifecycle, tier), scrolling by cursor (all customers, by
owner, and each lifecycle in turn), and `q=` searches
by name, phone and order number; the to-do list; then a 100,000-row orders CSV import
(seconds and peak RSS, in a subprocess) and the hourly sweep with nothing due and
with N customers due.

The database is seed_crm's (tests/bench/seed_crm.py): `run` adds an API token for
one seeded agent and, if the retention worker has not scored anyone yet, retention
rows (lifecycle and tier) so those filters have something to find.
"""

from __future__ import annotations

import asyncio
import json
import random
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from tests.bench.bench_support import (
    ROOT,
    SECRET_KEY,
    percentile,
)

TARGETS = {"customers_p95_ms": 50.0, "todo_p95_ms": 30.0, "import_s": 30.0, "import_mb": 200.0}
SWEEP_TARGET_S = 5.0
CHUNK = 20_000
LIFECYCLES = ["new", "active", "at_risk", "lost", "recovered"]
TIERS = ["important_value", "general_develop", "general_retain"]


def phone_of(i: int) -> str:
    return f"138{i:08d}"  # seed_crm's phone numbers


def order_no_of(n: int) -> str:
    return f"CRM1-{n:07d}"  # seed_crm's order numbers (seed 1)


async def prepare(url: str, seeded: dict[str, Any]) -> str:
    """An API token for the first seeded agent (who owns customers and tasks), and
    retention rows for every customer when the retention worker has not made them yet
    (lifecycle and tier spread evenly: the filters then have something to find)."""
    from sqlalchemy import func, insert, select, text

    from app.accounts.security import hash_token, new_token
    from app.db import Database
    from app.models import ApiToken, Contact, RetentionScore

    token = new_token()
    db = Database(url)
    try:
        async with db.session() as session:
            await session.execute(
                insert(ApiToken),
                [{"user_id": seeded["agents"][0], "token_hash": hash_token(token)}],
            )
            if not await session.scalar(select(func.count()).select_from(RetentionScore)):
                ids = list(await session.scalars(select(Contact.id).order_by(Contact.id)))
                now = datetime.now(UTC)
                for start in range(0, len(ids), CHUNK):
                    await session.execute(
                        insert(RetentionScore),
                        [
                            {
                                "contact_id": i,
                                "score": i % 100,
                                "band": "low",
                                "factors": [],
                                "history": {},
                                "lifecycle": LIFECYCLES[i % 5],
                                "tier": TIERS[i % 3],
                                "high_value": i % 7 == 0,
                                "spend_365": "0.00",
                                "computed_at": now,
                            }
                            for i in ids[start : start + CHUNK]
                        ],
                    )
                # Fresh statistics, as autovacuum would leave them: the planner's choice
                # of walk for the lifecycle and tier filters depends on them.
                await session.execute(text("ANALYZE retention_scores"))
    finally:
        await db.dispose()
    return token


# ---------------------------------------------------------------- timing over HTTP

SECONDS_PER_KIND = 8.0
MIN_SAMPLES = 20


def _stats(values: list[float]) -> dict[str, Any]:
    return {"p50": percentile(values, 50), "p95": percentile(values, 95), "n": len(values)}


async def timed(client: Any, path: str, headers: dict[str, str]) -> tuple[float, Any]:
    t0 = time.perf_counter()
    response = await client.get(path, headers=headers)
    elapsed = time.perf_counter() - t0
    if response.status_code != 200:
        raise RuntimeError(f"GET {path}: {response.status_code} {response.text[:200]!r}")
    return elapsed, response.json()


async def _series(client: Any, paths: list[str], headers: dict[str, str], n: int) -> dict[str, Any]:
    """Each path in turn, up to n requests or SECONDS_PER_KIND (at least MIN_SAMPLES)."""
    out: list[float] = []
    started = time.perf_counter()
    await timed(client, paths[0], headers)  # warm-up
    for i in range(n):
        if i >= MIN_SAMPLES and time.perf_counter() - started > SECONDS_PER_KIND:
            break
        t, _ = await timed(client, paths[i % len(paths)], headers)
        out.append(t)
    return _stats(out)


async def _pages(client: Any, path: str, headers: dict[str, str], pages: int) -> list[float]:
    """The seconds of each page of `path`, scrolling by cursor, up to `pages` pages."""
    out: list[float] = []
    cursor = None
    sep = "&" if "?" in path else "?"
    for _ in range(pages):
        t, page = await timed(client, path + (f"{sep}cursor={cursor}" if cursor else ""), headers)
        out.append(t)
        cursor = page["next_cursor"]
        if cursor is None:
            break
    return out


async def _scroll(client: Any, path: str, headers: dict[str, str], n: int) -> dict[str, Any]:
    return _stats(await _pages(client, path, headers, max(n // 4, MIN_SAMPLES)))


async def _scroll_each(
    client: Any, paths: list[str], headers: dict[str, str], n: int
) -> dict[str, Any]:
    """Each path scrolled in turn: a filter whose customers sit far down the recency
    order (a lifecycle) is slow on its later pages, not on its first."""
    pages = max(n // 4 // len(paths), MIN_SAMPLES // 2)
    return _stats([t for path in paths for t in await _pages(client, path, headers, pages)])


def _queries(customers: int, orders: int) -> dict[str, list[str]]:
    rng = random.Random(20)
    picks = [rng.randint(1, customers) for _ in range(10)]
    return {
        # Names are 客户<id>: 客 is everyone, 客户12 a few hundred, a whole name one.
        "q_name": ["客", "客户12", f"客户{picks[0]}", "户9", f"{picks[1]}"],
        "q_phone": [phone_of(i) for i in picks[:5]] + [phone_of(i)[-4:] for i in picks[5:]],
        "q_order": [order_no_of(rng.randint(1, orders)) for _ in range(10)],
        "q_none": ["不存在的客户", "zzzz"],
    }


async def measure(
    url: str, token: str, owner_id: int, channel_id: int, customers: int, orders: int, n: int
) -> dict[str, Any]:
    """In the process through ASGI with the background workers off: the retention
    worker's daily full pass at start must not share the timing of the reads."""
    import httpx

    from app.config import Settings
    from app.main import create_app

    app = create_app(Settings(database_url=url, secret_key=SECRET_KEY), run_workers=False)
    headers = {"Authorization": f"Bearer {token}"}
    base = "/api/v1/contacts?limit=50"
    reads = {
        "list": [base],
        "owner": [f"{base}&owner={owner_id}", f"{base}&owner=none", f"{base}&owner=me"],
        "channel": [f"{base}&channel_id={channel_id}"],
        "lifecycle": [f"{base}&lifecycle={x}" for x in LIFECYCLES],
        "tier": [f"{base}&tier={x}" for x in TIERS],
        "risk": [f"{base}&sort=risk"],
    }
    for key, qs in _queries(customers, orders).items():
        reads[key] = [f"{base}&q={q}" for q in qs]
    todo = [
        f"/api/v1/tasks?assignee=me&due={d}&limit=200" for d in ("overdue", "today", "week")
    ] + ["/api/v1/tasks/counts"]
    out: dict[str, Any] = {}
    transport = httpx.ASGITransport(app=app)
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=transport, base_url="http://bench") as client,
    ):
        for key, paths in reads.items():
            out[key] = await _series(client, paths, headers, n)
        out["scroll"] = await _scroll(client, base, headers, n)
        out["scroll_owner"] = await _scroll(client, f"{base}&owner={owner_id}", headers, n)
        out["scroll_lifecycle"] = await _scroll_each(client, reads["lifecycle"], headers, n)
        out["todo"] = await _series(client, todo, headers, n)
    return out


IMPORT_SCRIPT = """
import asyncio, json, sys, time
from pathlib import Path
from app.db import Database
from app.contacts.actions.orders_import import import_orders
# VmHWM, not ru_maxrss (tests/bench/peak_of.py says why).
from tests.bench.peak_of import vm_hwm_mb

async def main(url, path):
    body = Path(path).read_bytes()
    db = Database(url)
    t0 = time.perf_counter()
    async with db.session() as session:
        result = await import_orders(session, body)
    seconds = time.perf_counter() - t0
    await db.dispose()
    print(json.dumps({"seconds": seconds, "peak_mb": vm_hwm_mb(), **result}))

asyncio.run(main(sys.argv[1], sys.argv[2]))
"""


def import_csv(path: Path, rows: int, customers: int, start: int) -> None:
    """`rows` order items: new orders matched by phone, some two items per order,
    a few with warranty months. Order numbers carry the time, so a second run on the
    same database imports new orders again."""
    stamp = int(time.time())
    with path.open("w", encoding="utf-8") as f:
        f.write("order_no,ordered_at,amount,item,quantity,warranty_months,phone\n")
        n = 0
        order = start
        while n < rows:
            order += 1
            items = 2 if order % 4 == 0 else 1
            for k in range(min(items, rows - n)):
                months = "12" if order % 50 == 0 else ""
                phone = phone_of(1 + order % customers) if order % 20 else "19900000000"
                f.write(
                    f"IM{stamp}-{order:09d},2026-{1 + order % 12:02d}-{1 + order % 28:02d},"
                    f'{order % 997}.00,商品{k} =HYPERLINK("x"),{1 + k},{months},{phone}\n'
                )
                n += 1


def run_import(url: str, path: Path) -> dict[str, Any]:
    done = subprocess.run(
        [sys.executable, "-c", IMPORT_SCRIPT, url, str(path)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(f"import failed: {done.stderr[-2000:]}")
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


async def sweep(url: str, due: int) -> dict[str, Any]:
    """The sweep with nothing due, then with `due` customers whose birthday is in 5 days."""
    from sqlalchemy import update

    from app.contacts.sweep import sweep_once
    from app.db import Database
    from app.models import Contact, utcnow_for_models

    db = Database(url)
    try:
        t0 = time.perf_counter()
        idle = await sweep_once(db)
        idle_s = time.perf_counter() - t0
        soon = datetime.now(UTC).date() + timedelta(days=5)
        item = {
            "label": f"纪念日{int(time.time())}",  # a new occasion on every run
            "month": soon.month,
            "day": soon.day,
            "calendar": "solar",
            "year": None,
            "remind_days_before": 3,
        }
        async with db.session() as session:
            await session.execute(
                update(Contact)
                .where(Contact.id <= due)
                .values(
                    important_dates=[item],
                    next_care_check_at=utcnow_for_models() - timedelta(hours=1),
                )
            )
        t0 = time.perf_counter()
        busy = await sweep_once(db)
        busy_s = time.perf_counter() - t0
    finally:
        await db.dispose()
    return {"idle_s": idle_s, "idle": idle, "due": due, "due_s": busy_s, "due_result": busy}


async def run(
    url: str,
    workdir: Path,
    seeded: dict[str, Any],
    *,
    requests: int = 200,
    sweep_due: int = 1000,
    import_rows: int = 100_000,
) -> dict[str, Any]:
    """Every crm row on one database seeded by seed_crm (`seeded`: what it returned)."""
    customers, orders = seeded["customers"], seeded["orders"]
    token = await prepare(url, seeded)
    workdir.mkdir(parents=True, exist_ok=True)  # noqa: ASYNC240 - once, before any load
    result = await measure(
        url, token, seeded["agents"][1], seeded["channels"][1], customers, orders, requests
    )
    csv_path = workdir / "orders.csv"
    await asyncio.to_thread(import_csv, csv_path, import_rows, customers, orders)
    result["import"] = await asyncio.to_thread(run_import, url, csv_path)
    result["import"]["rows"] = import_rows
    result["sweep"] = await sweep(url, sweep_due)
    return result


async def table_rows(kind: str, url: str, seeded: dict[str, Any]) -> list[str]:
    """The `crm` part's customer rows (tests/bench/seed_crm.py `crm_part`)."""
    with tempfile.TemporaryDirectory(prefix="huiliu-crm-") as tmp:
        result = await run(url, Path(tmp), seeded)
    return rows({kind: result}, seeded["customers"])


LABELS = {
    "list": "customers list, first page",
    "owner": "customers by owner (id, none, me)",
    "channel": "customers by channel",
    "lifecycle": "customers by lifecycle",
    "tier": "customers by tier",
    "risk": "customers by risk",
    "scroll": "customers, scrolling by cursor",
    "scroll_owner": "customers by owner, scrolling",
    "scroll_lifecycle": "customers by lifecycle, scrolling (each lifecycle)",
    "q_name": "customers q= name",
    "q_phone": "customers q= phone (whole, last 4)",
    "q_order": "customers q= order number",
    "q_none": "customers q= no match",
}


def rows(results: dict[str, Any], customers: int = 100_000) -> list[str]:
    """Bench table rows for the crm part, one dict per database."""
    out = []
    size = f"{customers:,} customers"
    for kind, r in results.items():
        for key, label in LABELS.items():
            p95 = r[key]["p95"] * 1000
            ok = "met" if p95 < TARGETS["customers_p95_ms"] else "MISSED"
            out.append(
                f"| {label}, p95 ({size}) | {kind} | {p95:.1f} ms "
                f"(p50 {r[key]['p50'] * 1000:.1f}) | | {ok} ({r[key]['n']} requests) "
                "| < 50 ms |"
            )
        p95 = r["todo"]["p95"] * 1000
        ok = "met" if p95 < TARGETS["todo_p95_ms"] else "MISSED"
        out.append(
            f"| to-do list (overdue, today, week, counts), p95 | {kind} | {p95:.1f} ms "
            f"(p50 {r['todo']['p50'] * 1000:.1f}) | | {ok} | < 30 ms |"
        )
        imp = r["import"]
        ok = imp["seconds"] < TARGETS["import_s"] and imp["peak_mb"] < TARGETS["import_mb"]
        out.append(
            f"| orders CSV import, {imp['rows']:,} rows | {kind} | {imp['seconds']:.1f} s, "
            f"peak RSS {imp['peak_mb']:.0f} MB ({imp['created']:,} created, "
            f"{imp['unmatched']:,} unmatched) | | {'met' if ok else 'MISSED'} "
            "| < 30 s, < 200 MB |"
        )
        s = r["sweep"]
        ok = s["idle_s"] < SWEEP_TARGET_S
        out.append(
            f"| hourly sweep, nothing due / {s['due']:,} due | {kind} | "
            f"{s['idle_s'] * 1000:.0f} ms / {s['due_s']:.2f} s "
            f"({s['due_result']['tasks']:,} tasks) | | {'met' if ok else 'MISSED'} "
            "| < 5 s idle, proportional |"
        )
    return out
