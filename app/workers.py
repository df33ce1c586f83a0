"""One polling worker base: a background task that runs passes until stopped.

A pass (`run_once`) does what is due and says how much it did. Between passes the
worker sleeps for its interval, or less when `wake()` is called (new work queued in
this process). A pass that raises is logged and the next waits longer each time it
fails again (the database restarting, a platform down), up to ERROR_BACKOFF_MAX, so a
broken dependency is not hammered; the first success returns to the interval.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

log = logging.getLogger(__name__)

# Consecutive failures double the wait up to this (seconds), or the interval if longer:
# short enough that a worker is back within seconds of a database restart.
ERROR_BACKOFF_MAX = 10.0


class PollingWorker:
    """Subclasses set `name`, implement `run_once`, and may set `drain`. The interval is
    the one given to `__init__`, or what a subclass's `interval()` computes (from
    settings that may change)."""

    name = "worker"
    # Run the next pass at once after one that did something (a queue being worked off);
    # off for workers whose passes look at rows that are not yet due again.
    drain = False

    def __init__(self, interval: float | None = None) -> None:
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self.failures = 0  # consecutive failed passes
        self._every = interval

    def interval(self) -> float:
        if self._every is None:
            raise NotImplementedError("give an interval or override interval()")
        return self._every

    async def run_once(self) -> int:
        """One pass; how much it did (0: nothing was due)."""
        raise NotImplementedError

    def wake(self) -> None:
        self._wake.set()

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name=self.name)

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    def delay(self) -> float:
        """The wait before the next pass: the interval, doubled per consecutive failure."""
        interval = self.interval()
        if not self.failures:
            return interval
        return min(interval * 2 ** (self.failures - 1), max(interval, ERROR_BACKOFF_MAX))

    async def _run(self) -> None:
        while True:
            try:
                done = await self.run_once()
                self.failures = 0
            except Exception:
                self.failures += 1
                log.exception("%s pass failed (%d in a row); retrying", self.name, self.failures)
                done = 0
            if done and self.drain:
                continue
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self.delay())
            self._wake.clear()
