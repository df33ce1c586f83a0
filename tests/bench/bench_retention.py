"""Service report, churn report, at-risk list and the full risk recompute on a CRM-sized
database (issues 16 and 17, "Performance"), seeded by `seed_crm`.

`run(url)` times, in this process and one request at a time, the functions the API and
the /retention page call (the database's work and ours; no HTTP): the service report
for 30 days by agent and by channel and for 365 days by day, the churn report for 12
months by channel, the at-risk list's first page and everything the /retention page
reads (`overview`), each p50/p95 after a warm-up
(the churn report's first call also brings `churn_days` up to date with the seeded rows,
written in bulk: a full rebuild, not timed), with the load average after each.
The full recompute of every customer's risk score runs twice in a child process
(`python -m tests.bench.bench_retention recompute URL`): the first after seeding, then
the daily one; each timed, with the child's peak RSS (VmHWM) after each (a row each).
"""

from __future__ import annotations

import asyncio
import os
import sys
import time
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Any

from tests.bench.bench_support import ROOT, SECRET_KEY, percentile
from tests.bench.peak_of import vm_hwm_mb

TARGETS_MS = {
    "report_agent_30": 100.0,
    "report_channel_30": 100.0,
    "report_day_365": 300.0,
    "churn_channel_12": 500.0,
    "at_risk": 50.0,
    "overview": 500.0,  # ours, not an issue target: the page a shop owner opens weekly
}
LABELS = {
    "report_agent_30": "service report, 30 days by agent",
    "report_channel_30": "service report, 30 days by channel",
    "report_day_365": "service report, 365 days by day",
    "churn_channel_12": "churn report, 12 months by channel",
    "at_risk": "at-risk list, first page",
    "overview": "retention page overview (12 months and the last week of churn, lists)",
}
RECOMPUTE_SECONDS, RECOMPUTE_MB = 60.0, 300.0
SECONDS_PER_KIND = 15.0  # each kind stops after `requests` or this long (at least MIN)
MIN_SAMPLES = 10


async def _timed(fn: Callable[[], Awaitable[Any]], requests: int) -> dict[str, float]:
    await fn()  # warm-up: statement caches, pages in the buffer cache
    times: list[float] = []
    started = time.perf_counter()
    while len(times) < requests:
        if len(times) >= MIN_SAMPLES and time.perf_counter() - started > SECONDS_PER_KIND:
            break
        t0 = time.perf_counter()
        await fn()
        times.append(time.perf_counter() - t0)
    return {"p50": percentile(times, 50), "p95": percentile(times, 95), "n": len(times)}


def _viewer() -> Any:
    from app.accounts.viewer import Viewer
    from app.models import User

    return Viewer(user=User(id=0, name="bench", role="supervisor"), channel_ids=None)


async def reads(url: str, requests: int, kinds: set[str] | None = None) -> dict[str, Any]:
    os.environ.setdefault("HUILIU_SECRET_KEY", SECRET_KEY)  # the settings the session reads
    from app.db import Database
    from app.models import utcnow_for_models
    from app.retention.overview import at_risk, overview
    from app.retention.report import churn_report
    from app.service.hours import zone
    from app.service.reports import Range, service_report

    db = Database(url)
    viewer = _viewer()
    out: dict[str, Any] = {}
    try:
        async with db.session() as session:
            tz = zone(session)
            today = utcnow_for_models().astimezone(tz).date()

            def span(days: int) -> Range:
                from app.service.reports import parse_moment

                since = parse_moment(str(today - timedelta(days=days - 1)), tz, "since")
                until = parse_moment(str(today + timedelta(days=1)), tz, "until")
                assert since is not None and until is not None
                return Range(since, until, tz)

            jobs: dict[str, Callable[[], Awaitable[Any]]] = {
                "report_agent_30": lambda: service_report(session, viewer, span(30), "agent"),
                "report_channel_30": lambda: service_report(session, viewer, span(30), "channel"),
                "report_day_365": lambda: service_report(session, viewer, span(365), "day"),
                "churn_channel_12": lambda: churn_report(session, viewer, "month", by="channel"),
                "at_risk": lambda: at_risk(session, viewer),
                "overview": lambda: overview(session, viewer, utcnow_for_models()),
            }
            for key, job in jobs.items():
                if kinds is None or key in kinds:
                    out[key] = await _timed(job, requests)
                    # The machine is shared: the load next to each figure.
                    out[key]["load"] = os.getloadavg()[0]
    finally:
        await db.dispose()
    return out


async def recompute(url: str) -> dict[str, float]:
    """Two full recomputes in a child process: the first after seeding (every customer
    new: tiers set, cadences and at_risk tasks made), then the daily one (the worker's
    pass once a day); seconds of each and the child's peak RSS (MB)."""
    env = {"HUILIU_SECRET_KEY": SECRET_KEY, **os.environ, "PYTHONPATH": str(ROOT)}
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "tests.bench.bench_retention",
        "recompute",
        url,
        env=env,
        stdout=asyncio.subprocess.PIPE,
    )
    out, _ = await proc.communicate()
    if proc.returncode != 0:
        raise RuntimeError(f"recompute exited with {proc.returncode}")
    first, first_kb, second, peak_kb = (float(x) for x in out.split())
    return {
        "first": first,
        "first_peak_mb": first_kb / 1024,
        "seconds": second,
        "peak_mb": peak_kb / 1024,
    }


async def run(url: str, requests: int = 100) -> dict[str, Any]:
    """Every retention row on a seeded database (scores are recomputed first: the
    at-risk list reads them)."""
    result: dict[str, Any] = {"recompute": await recompute(url)}
    result.update(await reads(url, requests))
    return result


async def table_rows(kind: str, url: str, seeded: dict[str, Any]) -> list[str]:
    """The `crm` part's retention rows (tests/bench/seed_crm.py `crm_part`)."""
    size = f"{seeded['customers']:,} customers, {seeded['messages']:,} msgs"
    return rows(kind, size, await run(url))


def rows(kind: str, size: str, r: dict[str, Any]) -> list[str]:
    out = []
    for key, label in LABELS.items():
        if key not in r:
            continue
        p95 = r[key]["p95"] * 1000
        target = TARGETS_MS[key]
        ok = "met" if p95 < target else "MISSED"
        out.append(
            f"| {label}, p95 ({size}) | {kind} | {p95:.1f} ms (p50 {r[key]['p50'] * 1000:.1f}) "
            f"| | {ok} ({r[key]['n']} requests, load {r[key].get('load', 0):.1f}) "
            f"| < {target:.0f} ms |"
        )
    if "recompute" in r:
        c = r["recompute"]
        # The first pass after seeding: every customer new (tiers set, a follow-up cadence
        # and task for each buyer, at_risk tasks); its peak is read before the daily pass.
        ok = c["first"] < RECOMPUTE_SECONDS and c["first_peak_mb"] < RECOMPUTE_MB
        out.append(
            f"| risk scores, full recompute, first after seeding ({size}) | {kind} "
            f"| {c['first']:.1f} s, peak RSS {c['first_peak_mb']:.0f} MB "
            f"| | {'met' if ok else 'MISSED'} "
            f"| < {RECOMPUTE_SECONDS:.0f} s, < {RECOMPUTE_MB:.0f} MB |"
        )
        ok = c["seconds"] < RECOMPUTE_SECONDS and c["peak_mb"] < RECOMPUTE_MB
        out.append(
            f"| risk scores, full recompute, daily ({size}) | {kind} | {c['seconds']:.1f} s, "
            f"peak RSS {c['peak_mb']:.0f} MB (both passes) | | {'met' if ok else 'MISSED'} "
            f"| < {RECOMPUTE_SECONDS:.0f} s, < {RECOMPUTE_MB:.0f} MB |"
        )
    return out


async def _recompute_here(url: str) -> None:
    from app.db import Database
    from app.retention.worker import refresh_once

    db = Database(url)
    try:
        for _ in range(2):
            t0 = time.perf_counter()
            n = await refresh_once(db, full=True)
            print(time.perf_counter() - t0, flush=True)
            # the child's own peak so far, KB: after the first pass, then after both
            print(round(vm_hwm_mb() * 1024), flush=True)
    finally:
        await db.dispose()
    print(f"recomputed {n} customers twice", file=sys.stderr)


if __name__ == "__main__":
    if sys.argv[1:2] == ["recompute"]:
        asyncio.run(_recompute_here(sys.argv[2]))
    else:
        kinds = set(sys.argv[2].split(",")) if len(sys.argv) > 2 else None
        print(asyncio.run(reads(sys.argv[1], 30, kinds)))
