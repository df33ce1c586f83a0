"""Churn counted by the database.

Every comparison in CONTRACT section 11's churn compares an interaction with a period
boundary, all of them midnights in Asia/Shanghai (no daylight saving): so a customer's
interactions matter only by their China day. `churn_days` (app/retention/churn_days.py,
refreshed right before a report) holds each customer's interaction days with the next
one, the channel so far, the spend so far and `hard_day`, what the customer's hard
churn events (the one comparison with an exact time, the last interaction) decide.
For a period `[s, e)` the one day `d` with `d < s <= next_day` (NULL: no next) is
the customer's last interaction before `s`; so each day contributes only to the few
periods whose start falls in its span:

- at start when `d >= s - W` and `hard_day` is NULL or at least `s`; lost when also
  `hard_day < e`, or `next_day >= e` (or none) and `d < e - W`;
- recovered when `d < s - W` and `s <= next_day < e`, read from the next days in `[s, e)`;
- revenue: the spend up to `d` less the spend before `s - 365`, kept per day while no
  order falls in the first days of that year, else one look-up by primary key.

The figures equal `churn.churn`'s (tests/retention/test_churn_sql.py checks them on
random histories, and after changes to them, on both databases).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from decimal import Decimal
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from app.accounts.viewer import Viewer
from app.retention.churn import REVENUE_DAYS, ChurnRow

EPOCH = date(1970, 1, 1)
PACK = 1 << 20  # more days than a report's dates (to 2100) count since EPOCH


def _visible(viewer: Viewer | None) -> tuple[str, dict[str, Any]]:
    if viewer is not None and not viewer.is_supervisor:
        return " AND ct.owner_id = :viewer_id", {"viewer_id": viewer.id}
    return "", {}


def _days(day: date) -> int:
    return (day - EPOCH).days


def _table(rows: Sequence[tuple[int, ...]]) -> str:
    """Rows of integers we computed, as a VALUES list (no limit on SQLite, unlike UNION)."""
    return "VALUES " + ", ".join("(" + ", ".join(str(int(v)) for v in r) + ")" for r in rows)


def _lookup(x: str, starts: Sequence[int], answers: Sequence[int]) -> str:
    """`answers[j]`, j = how many of the (ascending) `starts` are at most `x`: a binary
    search written out as nested CASEs (a few comparisons a row, no join)."""

    def search(lo: int, hi: int) -> str:  # j is in [lo, hi]
        if lo == hi:
            return str(int(answers[lo]))
        mid = (lo + hi + 1) // 2
        above, below = search(mid, hi), search(lo, mid - 1)
        return f"CASE WHEN {x} >= {int(starts[mid - 1])} THEN {above} ELSE {below} END"

    return search(0, len(starts))


async def churn_by_sql(
    session: AsyncSession,
    spans: Sequence[tuple[date, date]],
    window_days: int,
    by: str,
    viewer: Viewer | None,
) -> list[dict[Any, ChurnRow]]:
    """Each period's rows by group (as `churn.churn` returns them, without `lost_ids`)
    over the visible customers, from `churn_days` as it stands (`churn_days.refresh`
    first).

    A day `d` (next day `n`) is the last before each period start in `(d, n]`, and at
    start for those also at most `d + W` and `hard_day`: the periods `i0..i1`, where
    `i0` counts the starts up to `d` and `i1 + 1` those up to `min(n, d + W, hard_day)`
    (`_lookup` maps a day to that count). So a day adds one customer (and its spend so
    far) from period `i0` and takes them away after `i1` (running sums here, not one row
    per period in the database); it can be lost only in `i1` (before, the next start is
    within `d + W` and `hard_day`), and
    recovered only in the period holding `n`. The spend in the year before `s` is
    `cum - year_before` for the periods before `ify` (the count of starts up to
    `year_order_day + 365`), and looked up per period from there on."""
    where, params = _visible(viewer)
    postgres = session.get_bind().dialect.name == "postgresql"
    w = window_days
    starts = [_days(a) for a, _ in spans]
    ends = [_days(b) for _, b in spans]
    lo, hi = starts[0] - w, ends[-1]
    periods = _table(list(zip(range(len(spans)), starts, ends, strict=True)))
    least, greatest = ("LEAST", "GREATEST") if postgres else ("MIN", "MAX")
    join = ""
    if where or by == "owner":
        join = f" JOIN contacts ct ON ct.id = d.contact_id{where}"
    group = {"channel": "d.channel_id", "owner": "ct.owner_id"}.get(by, "NULL")
    group_by = "" if group == "NULL" else f", {group}"
    counted = list(range(len(spans) + 1))
    # One search gives both the count of starts up to `x1` and the end of the last
    # period counted (`e1`), packed in one integer (days since 1970 are below PACK).
    last_counted = [i * PACK + e for i, e in enumerate([0, *ends])]
    # Kept as subqueries (not merged into the outer one, which would compute each column
    # again wherever it is used): PostgreSQL's and SQLite's ways of saying so.
    fence = " OFFSET 0" if postgres else " LIMIT -1"
    stmt = text(
        f"""
        WITH periods (i, s, e) AS ({periods}),
        starting AS MATERIALIZED (
            SELECT g, c, cum, yr, i0, p1 / {PACK} - 1 AS i1,
                   {_lookup("xf", starts, counted)} AS ify,
                   CASE WHEN hd < p1 % {PACK}
                          OR ((n IS NULL OR n >= p1 % {PACK}) AND d < p1 % {PACK} - :w)
                        THEN 1 ELSE 0 END AS lost
            FROM (
                SELECT g, c, d, n, hd, cum, yr, xf, {_lookup("d", starts, counted)} AS i0,
                       {_lookup("x1", starts, last_counted)} AS p1
                FROM (
                    SELECT {group} AS g, d.contact_id AS c, d.day AS d, d.next_day AS n,
                           d.hard_day AS hd, d.cum, d.cum - d.year_before AS yr,
                           {least}(COALESCE(d.next_day, :hi), d.day + :w,
                                   COALESCE(d.hard_day, :hi)) AS x1,
                           COALESCE(d.year_order_day + :year, :hi) AS xf
                    FROM churn_days d{join}
                    WHERE d.day >= :lo AND d.day < :last_start{fence}
                ) x{fence}
            ) y
            WHERE p1 / {PACK} - 1 >= i0
        )
        -- One integer to sort by (the groups' counts are read back from it below).
        SELECT 0 AS k, ((i0 * 128 + i1) * 128 + ify) * 2 + lost, 0, 0, 0, g, COUNT(*), SUM(yr)
        FROM starting GROUP BY 2, g
        UNION ALL
        -- CROSS JOIN: SQLite reads the few customers to look up once, not once a period.
        SELECT 3 + h.lost * (CASE WHEN h.i1 = p.i THEN 1 ELSE 0 END), p.i, 0, 0, 0, h.g, 0,
               SUM(h.cum - COALESCE((
                   SELECT b.cum FROM churn_days b
                   WHERE b.contact_id = h.c AND b.day < p.s - :year
                   ORDER BY b.day DESC LIMIT 1), 0))
        FROM starting h CROSS JOIN periods p
        WHERE h.ify <= h.i1 AND p.i >= {greatest}(h.i0, h.ify) AND p.i <= h.i1
        GROUP BY 3 + h.lost * (CASE WHEN h.i1 = p.i THEN 1 ELSE 0 END), p.i, h.g
        UNION ALL
        SELECT 5, {_lookup("d.next_day", starts, counted)} - 1, 0, 0, 0, {group}, COUNT(*), 0
        FROM churn_days d{join}
        WHERE d.next_day >= :first_start AND d.next_day < :hi
          AND d.day < {_lookup("d.next_day", starts, [0, *starts])} - :w
        GROUP BY {_lookup("d.next_day", starts, counted)}{group_by}
        """  # noqa: S608 - our own fragments; values bound or integers we formatted
    )
    values = {
        "w": w,
        "year": REVENUE_DAYS,
        "lo": lo,
        "hi": hi,
        "last_start": starts[-1],
        "first_start": starts[0],
        **params,
    }
    if postgres:
        # Compiling this query (JIT) takes longer than running it; its hash tables
        # (a few hundred thousand days) would spill to disk in the default 4 MB.
        await session.execute(text("SET LOCAL jit = off"))
        await session.execute(text("SET LOCAL work_mem = '64MB'"))
        # The day-to-period map is a few hundred rows: hashed, not sorted against the days.
        await session.execute(text("SET LOCAL enable_mergejoin = off"))
    n = len(spans)
    if n >= 128:  # a period index is 7 bits of the key above (reports: MAX_PERIODS)
        raise ValueError("at most 127 periods")
    # steps[group][i]: [customers from i on, no longer from i on, spend in the year
    # before s from i on, no longer from i on, lost, their spend, spend looked up, of
    # which lost customers', recovered].
    steps: dict[Any, list[list[int]]] = {}

    def at(key: Any, i: int) -> list[int]:
        return steps.setdefault(key, [[0] * 9 for _ in range(n + 1)])[min(i, n)]

    for kind, i, _, _, _, g, count, cents in await session.execute(stmt, values):
        key = None if g is None else int(g)
        count, cents = int(count), int(cents or 0)
        if kind == 0:  # days counted from period i to i1, spend known before ify
            i, i1, ify, lost = i >> 15, (i >> 8) & 127, (i >> 1) & 127, i & 1
            at(key, i)[0] += count
            at(key, i1 + 1)[1] += count
            if ify > i:
                at(key, i)[2] += cents
                at(key, min(i1 + 1, ify))[3] += cents
            if lost:
                at(key, i1)[4] += count
                at(key, i1)[5] += cents if i1 < ify else 0
        elif kind in (3, 4):
            at(key, i)[6] += cents
            at(key, i)[7] += cents if kind == 4 else 0
        else:
            at(key, i)[8] += count
    out: list[dict[Any, ChurnRow]] = [{} for _ in spans]
    if by == "none":
        for rows in out:
            rows[None] = ChurnRow(group=None)
    for key, per_period in steps.items():
        at_start = spent = 0
        for i, x in enumerate(per_period[:n]):
            at_start += x[0] - x[1]
            spent += x[2] - x[3]
            if not (at_start or x[8]):
                continue
            row = out[i].setdefault(key, ChurnRow(group=key))
            row.customers_at_start += at_start
            row.lost += x[4]
            row.revenue_at_start += Decimal(spent + x[6]) / 100
            row.revenue_lost += Decimal(x[5] + x[7]) / 100
            row.recovered += x[8]
    return out


def _join(viewer: Viewer | None) -> tuple[str, dict[str, Any]]:
    where, params = _visible(viewer)
    return (f" JOIN contacts ct ON ct.id = d.contact_id{where}" if where else ""), params


async def lost_in(
    session: AsyncSession,
    span: tuple[date, date],
    window_days: int,
    viewer: Viewer | None,
    n: int | None,
    by: str = "none",
    group: int | None = None,
) -> list[int]:
    """The first `n` (None: all) visible customers lost in the period `span` (as
    `churn.churn`'s `lost_ids`), the biggest spenders before it first (then by id): their
    last day before `s` (`d < s <= next_day`) read by the day index. With `by` channel or
    owner, those of one group (`group`; None: the customers without one), grouped as
    `churn_by_sql` groups them."""
    where, params = _visible(viewer)
    join = f" JOIN contacts ct ON ct.id = d.contact_id{where}" if where or by == "owner" else ""
    column = {"channel": "d.channel_id", "owner": "ct.owner_id"}.get(by)
    if column is None:
        in_group = ""
    elif group is None:
        in_group = f" AND {column} IS NULL"
    else:
        in_group = f" AND {column} = :group"
        params["group"] = group
    stmt = text(
        f"""
        SELECT d.contact_id FROM churn_days d{join}
        WHERE d.day >= :s_w AND d.day < :s AND (d.next_day IS NULL OR d.next_day >= :s)
          AND (d.hard_day IS NULL OR d.hard_day >= :s)
          AND (d.hard_day < :e OR ((d.next_day IS NULL OR d.next_day >= :e) AND d.day < :e_w))
          {in_group}
        ORDER BY d.cum DESC, d.contact_id LIMIT :n
        """  # noqa: S608 - our own fragments; values bound
    )
    s, e = _days(span[0]), _days(span[1])
    # LIMIT -1 is SQLite's "no limit"; PostgreSQL's is LIMIT NULL (ALL).
    everyone = None if session.get_bind().dialect.name == "postgresql" else -1
    limit = everyone if n is None else n
    values = {"s": s, "e": e, "s_w": s - window_days, "e_w": e - window_days, "n": limit, **params}
    return [int(c) for (c,) in await session.execute(stmt, values)]


async def lost_between(
    session: AsyncSession,
    until: date,
    days: tuple[date, date],
    window_days: int,
    viewer: Viewer | None,
    n: int,
    skip: int,
) -> list[int]:
    """Visible customers whose last interaction before `until` was followed by a hard
    churn on a day in `days` (inclusive), or was `W` days before one, biggest spenders
    (all orders before `until`) first, then by id: `n` of them after `skip`. Days only:
    the exact time is the caller's to check on the two edge days."""
    join, params = _join(viewer)
    last = "d.day < :until AND (d.next_day IS NULL OR d.next_day >= :until)"
    stmt = text(
        f"""
        SELECT d.contact_id, d.cum FROM churn_days d{join}
        WHERE d.day >= :lo_w AND d.day <= :hi_w AND {last}
          AND (d.hard_day IS NULL OR d.hard_day >= :until)
        UNION ALL
        SELECT d.contact_id, d.cum FROM churn_days d{join}
        WHERE d.hard_day >= :lo AND d.hard_day <= :hi AND d.hard_day < :until AND {last}
        ORDER BY 2 DESC, 1 LIMIT :n OFFSET :skip
        """  # noqa: S608 - our own fragments; values bound
    )
    values = {
        "until": _days(until),
        "lo": _days(days[0]),
        "hi": _days(days[1]),
        "lo_w": _days(days[0]) - window_days,
        "hi_w": _days(days[1]) - window_days,
        "n": n,
        "skip": skip,
        **params,
    }
    return [int(c) for c, _ in await session.execute(stmt, values)]
