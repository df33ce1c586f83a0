"""Churn for a period (CONTRACT section 11), clause by clause, on hand-worked examples,
and brute-forced over random histories."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

from hypothesis import given, settings
from hypothesis import strategies as st

from app.retention.churn import History, churn
from app.retention.periods import local_midnight, next_start, period_start, periods_between

S = local_midnight(date(2026, 4, 1))  # 2026-03-31 16:00 UTC
E = local_midnight(date(2026, 5, 1))
DAY = timedelta(days=1)


def at(d: date, hour: int = 12) -> datetime:
    return local_midnight(d) + timedelta(hours=hour)


def h(
    cid: int, *days: date, owner: int | None = 1, channel: int | None = 7, **kw: object
) -> History:
    return History(cid, owner, [(at(d), channel) for d in days], **kw)  # type: ignore[arg-type]


def one(hs: list[History], **kw: object) -> tuple[int, int, int]:
    row = churn(hs, S, E, **kw)[None]  # type: ignore[arg-type]
    return row.customers_at_start, row.lost, row.recovered


def test_periods_start_monday_and_calendar_months_in_shanghai() -> None:
    assert period_start(date(2026, 12, 3), "week") == date(2026, 11, 30)  # a Thursday
    assert period_start(date(2026, 11, 30), "week") == date(2026, 11, 30)
    assert period_start(date(2026, 8, 31), "quarter") == date(2026, 7, 1)
    assert next_start(date(2026, 10, 1), "quarter") == date(2027, 1, 1)
    assert next_start(date(2026, 12, 1), "month") == date(2027, 1, 1)
    assert list(periods_between(date(2026, 1, 15), date(2026, 3, 1), "month")) == [
        (date(2026, 1, 1), date(2026, 2, 1)),
        (date(2026, 2, 1), date(2026, 3, 1)),
    ]
    # midnight in Shanghai is 16:00 UTC the day before
    assert local_midnight(date(2026, 4, 1)) == datetime(2026, 3, 31, 16, tzinfo=UTC)


def test_at_start_needs_an_interaction_in_the_window_before_s() -> None:
    inside = h(1, date(2026, 1, 2))  # 89 days before 1 April
    outside = h(2, date(2025, 12, 31))  # 91 days before
    # the one inside is also lost: 2 Jan + 90 d = 2 April, before 1 May, silent since
    assert one([inside, outside]) == (1, 1, 0)
    # W = 30: only the last 30 days count
    assert one([h(3, date(2026, 2, 25))], window_days=30)[0] == 0
    assert one([h(3, date(2026, 2, 25))], window_days=90)[0] == 1


def test_time_zone_midnight_decides_which_side_of_s() -> None:
    # 31 March 23:30 in Shanghai is before s; 1 April 00:30 is inside the period
    before = History(1, 1, [(local_midnight(date(2026, 4, 1)) - timedelta(minutes=30), 7)])
    after = History(2, 1, [(local_midnight(date(2026, 4, 1)) + timedelta(minutes=30), 7)])
    assert one([before]) == (1, 0, 0)
    assert one([after]) == (0, 0, 0)  # new in the period: not counted


def test_lost_when_silent_and_window_runs_out_before_e() -> None:
    # last 15 Jan + 90 d = 15 April < 1 May: lost
    assert one([h(1, date(2026, 1, 15))]) == (1, 1, 0)
    # last 20 March + 90 d = 18 June, not before 1 May: not lost yet
    assert one([h(2, date(2026, 3, 20))]) == (1, 0, 0)
    # silent but talked in the period: not lost
    assert one([h(3, date(2026, 1, 15), date(2026, 4, 20))]) == (1, 0, 0)


def test_hard_churn_in_period_is_lost_even_when_active() -> None:
    hist = h(1, date(2026, 3, 20), date(2026, 4, 3), hard_churn=[at(date(2026, 4, 10))])
    assert one([hist]) == (1, 1, 0)
    # a hard churn after e does not count for this period
    hist = h(2, date(2026, 3, 20), hard_churn=[at(date(2026, 5, 2))])
    assert one([hist]) == (1, 0, 0)


def test_hard_churn_before_s_after_last_interaction_excludes() -> None:
    gone = h(1, date(2026, 3, 1), hard_churn=[at(date(2026, 3, 5))])
    assert one([gone]) == (0, 0, 0)
    # churned, then came back before s: counted again
    back = h(2, date(2026, 3, 1), date(2026, 3, 10), hard_churn=[at(date(2026, 3, 5))])
    assert one([back]) == (1, 0, 0)


def test_recovered_needs_silence_in_window_and_an_older_interaction() -> None:
    rec = h(1, date(2025, 10, 1), date(2026, 4, 5))
    never_before = h(2, date(2026, 4, 5))  # new customer: not recovered
    assert one([rec, never_before]) == (0, 0, 1)
    # with an interaction inside the window, it is simply active
    assert one([h(3, date(2025, 10, 1), date(2026, 3, 1), date(2026, 4, 5))]) == (1, 0, 0)


def test_order_only_customers_count_and_have_no_channel() -> None:
    day = local_midnight(date(2026, 2, 1))
    buyer = History(1, 2, [(day, None)], [(day, Decimal("100"))])
    rows = churn([buyer, h(2, date(2026, 2, 1), channel=9)], S, E, by="channel")
    assert rows[None].customers_at_start == 1 and rows[9].customers_at_start == 1
    assert churn([buyer], S, E, by="owner")[2].customers_at_start == 1


def test_by_channel_uses_the_last_inbound_message_before_s() -> None:
    hist = History(
        1,
        1,
        [(at(date(2026, 3, 1)), 5), (at(date(2026, 3, 20)), 6), (at(date(2026, 3, 25)), None)],
    )
    assert list(churn([hist], S, E, by="channel")) == [6]


def test_revenue_figures_use_the_year_before_s() -> None:
    orders = [
        (local_midnight(date(2025, 3, 31)), Decimal("1000")),  # more than 365 d before s
        (local_midnight(date(2025, 6, 1)), Decimal("200")),
        (local_midnight(date(2026, 1, 10)), Decimal("50")),
        (local_midnight(date(2026, 4, 10)), Decimal("999")),  # in the period: not counted
    ]
    lost = History(1, 1, [(t, None) for t, _ in orders[:3]], orders[:3])
    kept = History(
        2, 1, [(at(date(2026, 3, 30)), 7)], [(local_midnight(date(2026, 3, 30)), Decimal("30"))]
    )
    row = churn([lost, kept], S, E)[None]
    assert (row.customers_at_start, row.lost) == (2, 1)
    assert row.revenue_at_start == Decimal("280") and row.revenue_lost == Decimal("250")
    assert row.churn_rate == 0.5 and row.revenue_churn_rate == float(Decimal(250) / Decimal(280))


def test_rates_are_null_when_nothing_to_divide() -> None:
    row = churn([], S, E)[None]
    assert row.churn_rate is None and row.revenue_churn_rate is None


# --- brute force: the definitions read literally, over random histories ---------------


def brute(
    hs: list[History], s: datetime, e: datetime, w: int
) -> tuple[int, int, int, Decimal, Decimal]:
    win = timedelta(days=w)
    n0 = lost = rec = 0
    rev0 = revl = Decimal(0)
    for x in hs:
        times = [t for t, _ in x.interactions]
        before = [t for t in times if t < s]
        in_window = [t for t in times if s - win <= t < s]
        in_period = [t for t in times if s <= t < e]
        if in_window:
            last = max(before)
            if any(last <= c < s for c in x.hard_churn):
                continue
            spend = sum((a for t, a in x.orders if s - timedelta(days=365) <= t < s), Decimal(0))
            n0 += 1
            rev0 += spend
            if any(s <= c < e for c in x.hard_churn) or (not in_period and last + win < e):
                lost += 1
                revl += spend
        if in_period and not in_window and any(t < s - win for t in times):
            rec += 1
    return n0, lost, rec, rev0, revl


BASE = datetime(2025, 1, 1, tzinfo=UTC)
# whole days, so that boundaries (t + W == e, a churn at the same instant) are often hit
moment = st.integers(0, 500).map(lambda d: BASE + timedelta(days=d))


@st.composite
def histories(draw: st.DrawFn) -> list[History]:
    out = []
    for cid in range(draw(st.integers(0, 12))):
        msgs = draw(st.lists(st.tuples(moment, st.sampled_from([1, 2, None])), max_size=8))
        orders = draw(st.lists(st.tuples(moment, st.integers(1, 500).map(Decimal)), max_size=4))
        inter = msgs + [(t, None) for t, _ in orders]
        churns = draw(st.lists(moment, max_size=2))
        out.append(History(cid, draw(st.sampled_from([1, 2, None])), inter, orders, churns))
    return out


@settings(max_examples=300, deadline=None)
@given(histories(), moment, st.integers(1, 120), st.sampled_from([7, 30, 90]))
def test_churn_matches_brute_force(hs: list[History], s: datetime, days: int, w: int) -> None:
    e = s + timedelta(days=days)
    rows = churn(hs, s, e, w)
    row = rows[None]
    got = (row.customers_at_start, row.lost, row.recovered, row.revenue_at_start, row.revenue_lost)
    assert got == brute(hs, s, e, w)
    # grouping only splits the same customers
    for by in ("channel", "owner"):
        parts = churn(hs, s, e, w, by).values()
        assert sum(p.customers_at_start for p in parts) == row.customers_at_start
        assert sum(p.lost for p in parts) == row.lost
        assert sum(p.recovered for p in parts) == row.recovered
