"""Churn for a period, exactly as CONTRACT section 11 defines it; pure (no I/O).

`churn` takes every customer's history (interactions, orders, hard churn events) and
one period `[s, e)` and answers the figures per group. The query that builds the
histories is in `queries.py`; the tests brute-force the same definitions.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

DEFAULT_WINDOW_DAYS = 90  # CONTRACT section 11: "window W days (default 90)"
REVENUE_DAYS = 365  # revenue figures look at the year before the period starts
BY = ("none", "channel", "owner")


@dataclass
class History:
    """One customer's history, every list sorted by time (UTC-aware datetimes).

    `interactions` are (at, channel_id): an inbound non-event message has its channel,
    an order has None (at the start of its `ordered_at` day, China time).
    """

    contact_id: int
    owner_id: int | None = None
    interactions: list[tuple[datetime, int | None]] = field(default_factory=list)
    orders: list[tuple[datetime, Decimal]] = field(default_factory=list)
    hard_churn: list[datetime] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.interactions.sort(key=lambda x: x[0])
        self.orders.sort(key=lambda x: x[0])
        self.hard_churn.sort()
        self._times = [t for t, _ in self.interactions]

    def last_before(self, s: datetime) -> tuple[datetime, int] | None:
        """(time, index) of the last interaction before `s`."""
        i = bisect_left(self._times, s)
        return (self._times[i - 1], i - 1) if i else None

    def any_in(self, a: datetime, b: datetime) -> bool:
        i = bisect_left(self._times, a)
        return i < len(self._times) and self._times[i] < b

    def churned_in(self, a: datetime, b: datetime) -> bool:
        i = bisect_left(self.hard_churn, a)
        return i < len(self.hard_churn) and self.hard_churn[i] < b

    def spend(self, a: datetime, b: datetime) -> Decimal:
        return sum((amt for t, amt in self.orders if a <= t < b), Decimal(0))

    def channel_before(self, idx: int) -> int | None:
        """The channel of the last inbound message at or before interaction `idx`
        (orders carry none); None for a customer known only by orders."""
        for j in range(idx, -1, -1):
            ch = self.interactions[j][1]
            if ch is not None:
                return ch
        return None


@dataclass
class ChurnRow:
    group: Any
    customers_at_start: int = 0
    lost: int = 0
    revenue_at_start: Decimal = Decimal(0)
    revenue_lost: Decimal = Decimal(0)
    recovered: int = 0
    lost_ids: list[int] = field(default_factory=list)

    @property
    def churn_rate(self) -> float | None:
        return self.lost / self.customers_at_start if self.customers_at_start else None

    @property
    def revenue_churn_rate(self) -> float | None:
        if not self.revenue_at_start:
            return None
        return float(self.revenue_lost / self.revenue_at_start)


def _group(h: History, by: str, idx: int | None) -> Any:
    if by == "owner":
        return h.owner_id
    if by == "channel":
        return h.channel_before(idx) if idx is not None else None
    return None


def churn(
    histories: Iterable[History],
    s: datetime,
    e: datetime,
    window_days: int = DEFAULT_WINDOW_DAYS,
    by: str = "none",
) -> dict[Any, ChurnRow]:
    """The period `[s, e)` figures, one row per group (by none: the one group None)."""
    if by not in BY:
        raise ValueError(f"by: one of {', '.join(BY)}")
    w = timedelta(days=window_days)
    year = timedelta(days=REVENUE_DAYS)
    rows: dict[Any, ChurnRow] = {}
    if by == "none":
        rows[None] = ChurnRow(group=None)
    for h in histories:
        last = h.last_before(s)
        if last is None:
            continue  # nothing before s: neither at start nor recovered
        t, idx = last
        active_in = h.any_in(s, e)
        if t >= s - w:
            # A hard churn at or after the last interaction (and before s): gone already.
            if h.churned_in(t, s):
                continue
            row = rows.setdefault(_group(h, by, idx), ChurnRow(group=_group(h, by, idx)))
            spend = h.spend(s - year, s)
            row.customers_at_start += 1
            row.revenue_at_start += spend
            if h.churned_in(s, e) or (not active_in and t + w < e):
                row.lost += 1
                row.revenue_lost += spend
                row.lost_ids.append(h.contact_id)
        elif active_in:
            # Last interaction before s is older than s - W, so none in [s - W, s),
            # and there is one before s - W: recovered.
            row = rows.setdefault(_group(h, by, idx), ChurnRow(group=_group(h, by, idx)))
            row.recovered += 1
    return rows


def row_out(start: Any, end: Any, row: ChurnRow) -> dict[str, Any]:
    """One API item (CONTRACT section 11)."""
    return {
        "period_start": start,
        "period_end": end,
        "group": row.group,
        "customers_at_start": row.customers_at_start,
        "lost": row.lost,
        "churn_rate": row.churn_rate,
        "revenue_at_start": money(row.revenue_at_start),
        "revenue_lost": money(row.revenue_lost),
        "revenue_churn_rate": row.revenue_churn_rate,
        "recovered": row.recovered,
    }


def sorted_rows(rows: dict[Any, ChurnRow]) -> Sequence[ChurnRow]:
    """Groups in a stable order: known groups by id, then None."""
    return sorted(rows.values(), key=lambda r: (r.group is None, r.group or 0))


def money(amount: Decimal) -> str:
    """Amounts travel as strings with two decimals, like `orders_total`."""
    return str(Decimal(amount).quantize(Decimal("0.01")))
