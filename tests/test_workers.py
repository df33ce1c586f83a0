"""The polling worker base (app/workers.py): passes, wake-ups, draining, error backoff."""

from __future__ import annotations

import asyncio

import pytest

from app.workers import ERROR_BACKOFF_MAX, PollingWorker


class Counting(PollingWorker):
    name = "counting"

    def __init__(self, results: list[int | Exception], interval: float = 60.0) -> None:
        super().__init__()
        self.results = results
        self.passes = 0
        self._interval = interval
        self.ran = asyncio.Event()

    def interval(self) -> float:
        return self._interval

    async def run_once(self) -> int:
        self.passes += 1
        self.ran.set()
        result = self.results.pop(0) if self.results else 0
        if isinstance(result, Exception):
            raise result
        return result


async def _passes(worker: Counting, n: int) -> None:
    async with asyncio.timeout(2):
        while worker.passes < n:
            worker.ran.clear()
            await worker.ran.wait()


def test_failures_double_the_wait_up_to_the_cap() -> None:
    worker = Counting([], interval=1.0)
    waits = []
    for failures in range(7):
        worker.failures = failures
        waits.append(worker.delay())
    assert waits == [1.0, 1.0, 2.0, 4.0, 8.0, ERROR_BACKOFF_MAX, ERROR_BACKOFF_MAX]
    slow = Counting([], interval=15.0)  # an interval above the cap is never shortened
    slow.failures = 3
    assert slow.delay() == 15.0


async def test_sleeps_until_woken_and_recovers_after_a_failure() -> None:
    worker = Counting([RuntimeError("database restarting"), 0, 0])
    worker.start()
    try:
        await _passes(worker, 1)
        assert worker.failures == 1
        await asyncio.sleep(0.05)
        assert worker.passes == 1  # waiting its (long) interval
        worker.wake()
        await _passes(worker, 2)
        assert worker.failures == 0
        worker.wake()
        await _passes(worker, 3)
    finally:
        await worker.stop()
    assert worker._task is None


@pytest.mark.parametrize(("drain", "expected"), [(True, 4), (False, 1)])
async def test_drain_runs_again_at_once_while_there_is_work(drain: bool, expected: int) -> None:
    worker = Counting([5, 5, 5, 0])
    worker.drain = drain
    worker.start()
    try:
        await _passes(worker, 1)
        await asyncio.sleep(0.05)
        assert worker.passes == expected
    finally:
        await worker.stop()
