"""A customer's lifecycle now (CONTRACT section 11); pure.

`lost` after a hard churn event or W days without interaction, until the next
interaction, which makes them `recovered` for 30 days, then `active`; `new` within 30
days of their first interaction; `at_risk` when the risk band is high; else `active`.
"""

from __future__ import annotations

from bisect import bisect_left
from datetime import datetime, timedelta

from app.retention.churn import DEFAULT_WINDOW_DAYS

FRESH_DAYS = 30  # how long `new` and `recovered` last


def lifecycle(
    interactions: list[datetime],
    hard_churn: list[datetime],
    now: datetime,
    band: str,
    window_days: int = DEFAULT_WINDOW_DAYS,
) -> str:
    """`interactions` and `hard_churn` sorted, all at or before `now`."""
    w = timedelta(days=window_days)
    fresh = timedelta(days=FRESH_DAYS)
    if not interactions:
        return "lost" if hard_churn else "active"
    last = interactions[-1]
    if (hard_churn and hard_churn[-1] >= last) or now - last > w:
        return "lost"
    # The latest return: an interaction after W days of silence or after a hard churn.
    for i in range(len(interactions) - 1, 0, -1):
        t, prev = interactions[i], interactions[i - 1]
        if now - t >= fresh:
            break
        j = bisect_left(hard_churn, prev)
        if t - prev > w or (j < len(hard_churn) and hard_churn[j] < t):
            return "recovered"
    first = interactions[0]
    if hard_churn and hard_churn[0] < first and now - first < fresh:
        return "recovered"  # came back after a churn that preceded everything we know
    if now - first < fresh:
        return "new"
    return "at_risk" if band == "high" else "active"
