"""The server the ingest A/B of the retention hook runs (tests/bench/bench_rescore.py).

The app as `huiliu serve` builds it, but its retention worker is set by the bench:
`HUILIU_BENCH_RETENTION_HOOK=on` runs the incremental pass (the customers whose history
changed: what a stored message triggers for retention) every
`HUILIU_BENCH_RETENTION_SECONDS` and never the full one (the daily pass is not the
per-message cost, and both sides start with every score fresh); `off` never runs it.
Only the bench starts this; the product has no such switch.
"""

from __future__ import annotations

import os

from fastapi import FastAPI

from app.main import create_app
from app.retention.worker import RetentionWorker, refresh_once


def create() -> FastAPI:
    hook = os.environ.get("HUILIU_BENCH_RETENTION_HOOK", "on")
    seconds = float(os.environ.get("HUILIU_BENCH_RETENTION_SECONDS", "60"))

    async def incremental(self: RetentionWorker) -> int:
        return await refresh_once(self.db) if hook == "on" else 0

    RetentionWorker.run_once = incremental  # type: ignore[method-assign]
    RetentionWorker.interval = lambda self: seconds  # type: ignore[method-assign]
    return create_app()
