"""Tiers (RFM) and the high-value set (CONTRACT section 11) on hand-worked examples."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal
from itertools import combinations

from hypothesis import given
from hypothesis import strategies as st

from app.retention.tiers import Rfm, high_value, rfm, tiers

TODAY = date(2026, 12, 3)


def ago(days: int) -> date:
    return TODAY - timedelta(days=days)


def test_rfm_counts_the_last_365_days_only() -> None:
    orders = [
        (1, ago(10), Decimal("100")),
        (1, ago(40), Decimal("50")),
        (1, ago(365), Decimal("999")),  # exactly 365 days ago: outside
        (2, ago(364), Decimal("5")),
        (3, ago(400), Decimal("7")),  # no order in the window: no tier
        (4, ago(-1), Decimal("7")),  # dated tomorrow: not yet
    ]
    got = rfm(orders, TODAY)
    assert got == {1: Rfm(10, 2, Decimal("150")), 2: Rfm(364, 1, Decimal("5"))}


def test_the_eight_classes_against_the_means() -> None:
    # mean recency 20, mean frequency 2, mean spend 100
    values = {
        1: Rfm(10, 3, Decimal("150")),  # H H H
        2: Rfm(20, 1, Decimal("100")),  # H L H (at the mean counts as high)
        3: Rfm(30, 2, Decimal("120")),  # L H H
        4: Rfm(30, 1, Decimal("100")),  # L L H
        5: Rfm(10, 2, Decimal("50")),  # H H L
        6: Rfm(10, 1, Decimal("60")),  # H L L
        7: Rfm(30, 4, Decimal("90")),  # L H L
        8: Rfm(20, 2, Decimal("130")),  # H H H
    }
    assert sum(v.recency_days for v in values.values()) == 20 * 8
    assert sum(v.frequency for v in values.values()) == 2 * 8
    assert sum(v.monetary for v in values.values()) == 100 * 8
    got = tiers(values)
    assert [got[i] for i in range(1, 8)] == [
        "important_value",
        "important_develop",
        "important_keep",
        "important_retain",
        "general_value",
        "general_develop",
        "general_keep",
    ]
    one = tiers({9: Rfm(100, 1, Decimal("1"))})
    assert one == {9: "important_value"}  # alone, a customer is at every mean
    assert tiers({10: Rfm(5, 1, Decimal(1)), 11: Rfm(50, 1, Decimal(1))})[11] == "important_keep"
    assert tiers({}) == {}
    low = tiers({1: Rfm(5, 1, Decimal(0)), 2: Rfm(50, 3, Decimal(9))})
    assert low[1] == "general_develop" and low[2] == "important_keep"


def test_high_value_is_the_smallest_top_set_with_ties() -> None:
    assert high_value({1: Decimal(80), 2: Decimal(10), 3: Decimal(10)}) == {1}
    assert high_value({1: Decimal(79), 2: Decimal(11), 3: Decimal(10)}) == {1, 2}
    # 2 and 3 tie at the cut: both in
    assert high_value({1: Decimal(70), 2: Decimal(10), 3: Decimal(10), 4: Decimal(10)}) == {
        1,
        2,
        3,
        4,
    }
    assert high_value({1: Decimal(60), 2: Decimal(25), 3: Decimal(25)}) == {1, 2, 3}
    assert high_value({1: Decimal(0)}) == set() and high_value({}) == set()


@given(st.dictionaries(st.integers(0, 20), st.integers(0, 50).map(Decimal), max_size=8))
def test_high_value_brute_force(spend: dict[int, Decimal]) -> None:
    total = sum(spend.values(), Decimal(0))
    got = high_value(spend)
    if total == 0:
        assert got == set()
        return
    # the smallest size of any set holding >= 80 %: the top ones
    ids = list(spend)
    best = min(
        k
        for k in range(1, len(ids) + 1)
        for combo in combinations(ids, k)
        if sum(spend[i] for i in combo) >= total * Decimal("0.8")
    )
    top = sorted(spend.values(), reverse=True)
    cut = top[best - 1]
    assert got == {i for i, v in spend.items() if v >= cut}
