"""Tiers (RFM) and the high-value set, exactly as CONTRACT section 11 defines them; pure.

Over the last 365 days of orders, among the customers with at least one order in them:
R is high when the days since the last order are at most the mean, F when the order
count is at least the mean, M when the spend is at least the mean.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal

TIER_DAYS = 365
HIGH_VALUE_SHARE = Decimal("0.8")  # "the 20 % of customers who bring 80 % of revenue"

# (R high, F high, M high) -> the eight standard Chinese RFM classes.
TIERS: dict[tuple[bool, bool, bool], str] = {
    (True, True, True): "important_value",  # 重要价值
    (True, False, True): "important_develop",  # 重要发展
    (False, True, True): "important_keep",  # 重要保持
    (False, False, True): "important_retain",  # 重要挽留
    (True, True, False): "general_value",  # 一般价值
    (True, False, False): "general_develop",  # 一般发展
    (False, True, False): "general_keep",  # 一般保持
    (False, False, False): "general_retain",  # 一般挽留
}


@dataclass(frozen=True)
class Rfm:
    recency_days: int
    frequency: int
    monetary: Decimal


def rfm(orders: Iterable[tuple[int, date, Decimal]], today: date) -> dict[int, Rfm]:
    """Each customer's R, F, M over orders `(contact_id, ordered_at, amount)` in the last
    365 days up to and including `today` (orders dated later are not counted)."""
    since = today - timedelta(days=TIER_DAYS)
    last: dict[int, date] = {}
    count: dict[int, int] = {}
    spend: dict[int, Decimal] = {}
    for cid, day, amount in orders:
        if not since < day <= today:
            continue
        last[cid] = max(last.get(cid, day), day)
        count[cid] = count.get(cid, 0) + 1
        spend[cid] = spend.get(cid, Decimal(0)) + Decimal(amount)
    return {cid: Rfm((today - last[cid]).days, count[cid], spend[cid]) for cid in last}


def tiers(values: Mapping[int, Rfm]) -> dict[int, str]:
    """Each customer's tier; customers without orders in the window have none (absent)."""
    if not values:
        return {}
    n = len(values)
    # Compare against the exact means: sum / n, multiplied out to avoid rounding.
    r_sum = sum(v.recency_days for v in values.values())
    f_sum = sum(v.frequency for v in values.values())
    m_sum = sum((v.monetary for v in values.values()), Decimal(0))
    return {
        cid: TIERS[(v.recency_days * n <= r_sum, v.frequency * n >= f_sum, v.monetary * n >= m_sum)]
        for cid, v in values.items()
    }


def high_value(spend: Mapping[int, Decimal]) -> set[int]:
    """The smallest top set of spenders holding at least 80 % of the total spend;
    customers tied with the last one in are all included."""
    total = sum(spend.values(), Decimal(0))
    if total <= 0:
        return set()
    ranked = sorted(spend.items(), key=lambda kv: kv[1], reverse=True)
    chosen: set[int] = set()
    held = Decimal(0)
    cut: Decimal | None = None
    for cid, amount in ranked:
        if cut is not None and amount < cut:
            break
        chosen.add(cid)
        held += amount
        if cut is None and held >= total * HIGH_VALUE_SHARE:
            cut = amount
    return chosen
