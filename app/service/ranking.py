"""Nearest-rank percentiles of the service report (contract section 9): the value at
rank ceil(p x n) of n sorted values, from one sorted list or across several."""

from __future__ import annotations

import math
from bisect import bisect_right
from collections.abc import Sequence


def rank(n: int, p: float) -> int:
    """Nearest rank (1-based) of the p-th percentile of n values: ceil(p x n), at least 1."""
    return max(1, math.ceil(p * n))


def percentile(sorted_values: Sequence[int], p: float) -> int | None:
    """Nearest rank: the value at rank ceil(p x n) (1-based); None for no values."""
    if not sorted_values:
        return None
    return sorted_values[rank(len(sorted_values), p) - 1]


def percentile_of_runs(runs: Sequence[Sequence[int]], p: float) -> int | None:
    """`percentile` of all the values of `runs` (each sorted), without merging them.

    The value at rank k is the smallest x with at least k values <= x: a binary search
    over x, counting with `bisect` in each run (about 30 x len(runs) bisects for a year
    of seconds, against a sort of every value: a year's total by day was 365 runs and
    100,000 values). Integers only.
    """
    n = sum(len(run) for run in runs)
    if not n:
        return None
    k = rank(n, p)
    lo = min(run[0] for run in runs if run)
    hi = max(run[-1] for run in runs if run)
    while lo < hi:
        mid = (lo + hi) // 2
        if sum(bisect_right(run, mid) for run in runs) >= k:
            hi = mid
        else:
            lo = mid + 1
    return lo
