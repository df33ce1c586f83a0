"""Token buckets in this process's memory, for the widget's per-visitor and per-IP limits.

In memory on purpose: a visitor frame must not cost a database write to be counted.
With several processes each counts its own share, so the effective limit is that
many times higher: an accepted limitation (the limits guard against floods, they
are not quotas).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class Rate:
    burst: float  # what may be spent at once
    per_second: float  # how fast it comes back


class RateLimiter:
    """Bucket per key; `take` answers 0 when allowed, else the seconds to wait."""

    def __init__(
        self, rate: Rate, *, max_keys: int = 50_000, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.rate = rate
        self.max_keys = max_keys
        self.clock = clock
        self._buckets: dict[str, tuple[float, float]] = {}

    def take(self, key: str, cost: float = 1.0) -> float:
        now = self.clock()
        tokens, updated = self._buckets.get(key, (self.rate.burst, now))
        tokens = min(self.rate.burst, tokens + (now - updated) * self.rate.per_second)
        if tokens < cost:
            self._buckets[key] = (tokens, now)
            missing = cost - tokens
            return missing / self.rate.per_second if self.rate.per_second > 0 else 3600.0
        self._buckets[key] = (tokens - cost, now)
        if len(self._buckets) > self.max_keys:
            self._prune(now)
        return 0.0

    def _prune(self, now: float) -> None:
        """Forget buckets that have refilled (idle keys); if that is not enough, all."""
        full_after = self.rate.burst / self.rate.per_second if self.rate.per_second > 0 else 0
        self._buckets = {k: v for k, v in self._buckets.items() if now - v[1] < full_after}
        if len(self._buckets) > self.max_keys:
            self._buckets.clear()
