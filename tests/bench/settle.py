"""Bring a freshly seeded database to the state a running install is in before timed
requests: every risk score computed today and the churn report's days current.

A seeded database has 100,000 customers and no score rows, so a server started on it
spends its first 15-40 s on a full retention pass (and its first minute pass rebuilds
every customer's churn days), and the requests timed meanwhile wait for its batches:
the 1M search and inbox rows measured that pass, not the steady state their targets are
about (README "Benchmarks"). The pass's own effect on requests is measured on purpose,
elsewhere (`tests/bench/recompute_latency.py`). Here the worker's own code does what its
first two passes would do, in a child process (`python -m tests.bench.settle URL`), so a
server started afterwards finds today's scores (`retention.worker.scored_today`) and
begins with the changes only.
"""

from __future__ import annotations

import asyncio
import os
import sys
import time

from tests.bench.bench_support import ROOT, SECRET_KEY


async def settle(url: str) -> float:
    """Seconds the child took (the full pass and the churn days' rebuild)."""
    env = {"HUILIU_SECRET_KEY": SECRET_KEY, **os.environ, "PYTHONPATH": str(ROOT)}
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "tests.bench.settle", url, env=env, stdout=asyncio.subprocess.PIPE
    )
    out, _ = await proc.communicate()
    if proc.returncode != 0:
        raise RuntimeError(f"settle exited with {proc.returncode}")
    return float(out.split()[-1])


async def _here(url: str) -> None:
    from app.db import Database
    from app.retention.worker import refresh_once

    db = Database(url)
    try:
        t0 = time.perf_counter()
        await refresh_once(db, full=True)  # what the worker does first on a new day
        await refresh_once(db)  # its next pass: churn days, then the changes (none)
        print(time.perf_counter() - t0, flush=True)
    finally:
        await db.dispose()


if __name__ == "__main__":
    asyncio.run(_here(sys.argv[1]))
