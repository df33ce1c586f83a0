"""The server the ingest A/B of the retention hook runs (tests/bench/bench_rescore.py).

The app as `huiliu serve` builds it, but its retention worker is set by the bench:
`HUILIU_BENCH_RETENTION_HOOK=on` runs the worker's incremental pass (the customers
changed since its last pass: what a stored message triggers for retention) every
`HUILIU_BENCH_RETENTION_SECONDS`, as if the day's full pass had just run (both sides
start with every score fresh; the daily pass is not the per-message cost); `off` never
runs it. Only the bench starts this; the product has no such switch.
"""

from __future__ import annotations

import os

from fastapi import FastAPI

from app.main import create_app
from app.models import utcnow_for_models
from app.retention.periods import local_date
from app.retention.worker import RetentionWorker


def create() -> FastAPI:
    hook = os.environ.get("HUILIU_BENCH_RETENTION_HOOK", "on")
    seconds = float(os.environ.get("HUILIU_BENCH_RETENTION_SECONDS", "60"))
    real_run_once = RetentionWorker.run_once

    async def run_once(self: RetentionWorker) -> int:
        if hook != "on":
            return 0
        if self._last is None:  # the scores are fresh: start as after the day's full pass
            self._last = utcnow_for_models()
            self._full_on = local_date(self._last)
        return await real_run_once(self)

    RetentionWorker.run_once = run_once  # type: ignore[method-assign]
    RetentionWorker.interval = lambda self: seconds  # type: ignore[method-assign]
    return create_app()
