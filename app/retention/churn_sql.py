"""Churn counted by the database, for the customers without a hard churn event.

Every comparison in CONTRACT section 11's churn compares an interaction with a period
boundary, all of them midnights in Asia/Shanghai (no daylight saving): so a customer's
interactions matter only by their China day. `churn_days` (app/retention/churn_days.py,
refreshed right before a report) holds each customer's interaction days with the next
one, the channel so far and the spend so far. Hard churn events are the exception (one
is compared with the exact last interaction), so the customers with one (`churn_hard`)
are left to the pure definitions in `churn.py`, and this module answers for everyone
else. For a period `[s, e)` the one day `d` with `d < s <= next_day` (NULL: no next) is
the customer's last interaction before `s`; so each day contributes only to the few
periods whose start falls in its span:

- at start when `d >= s - W`, read from the days in `[s - W, s)`; lost when also
  `next_day >= e` (or none) and `d < e - W`;
- recovered when `d < s - W` and `s <= next_day < e`, read from the next days in `[s, e)`;
- revenue: the spend up to `d` less the spend up to the customer's last day before
  `s - 365` (one look-up by primary key, only for customers who spent anything).

The figures equal `churn.churn`'s (tests/retention/test_churn_sql.py checks them on
random histories, and after changes to them, on both databases).
"""

from __future__ import annotations

from collections.abc import Sequence
from bisect import bisect_right
from datetime import date
from decimal import Decimal
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from app.accounts.viewer import Viewer
from app.retention.churn import REVENUE_DAYS, ChurnRow

EPOCH = date(1970, 1, 1)


def _visible(viewer: Viewer | None) -> tuple[str, dict[str, Any]]:
    if viewer is not None and not viewer.is_supervisor:
        return " AND ct.owner_id = :viewer_id", {"viewer_id": viewer.id}
    return "", {}


async def hard_churn_ids(
    session: AsyncSession, until: Any = None, viewer: Viewer | None = None
) -> set[int]:
    """The visible customers `churn_hard` lists (a hard churn event at some time: the
    definitions count them, with `until`)."""
    where, params = _visible(viewer)
    stmt = text(
        "SELECT ct.id FROM churn_hard h JOIN contacts ct ON ct.id = h.contact_id"
        f" AND ct.merged_into_id IS NULL{where}"  # noqa: S608 - fixed fragment, values bound
    )
    return {int(c) for (c,) in await session.execute(stmt, params)}


def _days(day: date) -> int:
    return (day - EPOCH).days


def _table(rows: Sequence[tuple[int, ...]]) -> str:
    """Rows of integers we computed, as a VALUES list (no limit on SQLite, unlike UNION)."""
    return "VALUES " + ", ".join("(" + ", ".join(str(int(v)) for v in r) + ")" for r in rows)


async def churn_by_sql(
    session: AsyncSession,
    spans: Sequence[tuple[date, date]],
    window_days: int,
    by: str,
    viewer: Viewer | None,
) -> list[dict[Any, ChurnRow]]:
    """Each period's rows by group (as `churn.churn` returns them, without `lost_ids`)
    over the visible customers without a hard churn event (`churn_hard`), from
    `churn_days` as it stands (`churn_days.refresh` first).

    A day `d` (next day `n`) is the last before each period start in `(d, n]`, and at
    start for those also at most `d + W`: the periods `i0..i1`, where `i0` counts the
    starts up to `d` and `i1 + 1` those up to `min(n, d + W)` (`cal` maps a day to that
    count). So a day adds one customer (and its spend so far) from period `i0` and takes
    them away after `i1` (running sums here, not one row per period in the database);
    it can be lost only in `i1` (before, the next start is within `d + W`), and
    recovered only in the period holding `n`. Only the spend before `s - 365` of the
    customers who were there then is looked up per period."""
    where, params = _visible(viewer)
    postgres = session.get_bind().dialect.name == "postgresql"
    w = window_days
    starts = [_days(a) for a, _ in spans]
    ends = [_days(b) for _, b in spans]
    lo, hi = starts[0] - w, ends[-1]
    # cal(x, j): j = how many periods start on or before day x, for lo <= x <= hi.
    cal = _table([(x, bisect_right(starts, x)) for x in range(lo, hi + 1)])
    periods = _table(list(zip(range(len(spans)), starts, ends, strict=True)))
    least = "LEAST" if postgres else "MIN"
    join = ""
    if where or by == "owner":
        join = f" JOIN contacts ct ON ct.id = d.contact_id{where}"
    group = {"channel": "d.channel_id", "owner": "ct.owner_id"}.get(by, "NULL")
    group_by = "" if group == "NULL" else f", {group}"
    hard = "d.contact_id NOT IN (SELECT contact_id FROM churn_hard)"
    stmt = text(
        f"""
        WITH cal (x, j) AS {"MATERIALIZED" if postgres else ""} ({cal}),
        periods (i, s, e) AS ({periods}),
        spans AS (
            SELECT {group} AS g, d.contact_id AS c, d.day AS d, d.next_day AS n,
                   d.first_day AS f, d.cum, c0.j AS i0, c1.j - 1 AS i1
            FROM churn_days d{join}
            JOIN cal c0 ON c0.x = d.day
            JOIN cal c1 ON c1.x = {least}(COALESCE(d.next_day, :hi), d.day + :w, :hi)
            WHERE d.day >= :lo AND d.day < :last_start AND {hard}
        ),
        starting AS MATERIALIZED (SELECT * FROM spans WHERE i1 >= i0)
        SELECT 0 AS k, i0, g, COUNT(*), SUM(cum) FROM starting GROUP BY i0, g
        UNION ALL
        SELECT 1, i1 + 1, g, COUNT(*), SUM(cum) FROM starting GROUP BY i1 + 1, g
        UNION ALL
        SELECT 2, h.i1, h.g, COUNT(*), SUM(h.cum) FROM starting h
        JOIN periods p ON p.i = h.i1
        WHERE (h.n IS NULL OR h.n >= p.e) AND h.d < p.e - :w
        GROUP BY h.i1, h.g
        UNION ALL
        SELECT 3 + (CASE WHEN h.i1 = p.i AND (h.n IS NULL OR h.n >= p.e) AND h.d < p.e - :w
                         THEN 1 ELSE 0 END),
               p.i, h.g, 0, SUM(COALESCE((
                   SELECT b.cum FROM churn_days b
                   WHERE b.contact_id = h.c AND b.day < p.s - :year
                   ORDER BY b.day DESC LIMIT 1), 0))
        FROM starting h JOIN periods p ON p.i >= h.i0 AND p.i <= h.i1 AND h.f < p.s - :year
        GROUP BY 3 + (CASE WHEN h.i1 = p.i AND (h.n IS NULL OR h.n >= p.e) AND h.d < p.e - :w
                           THEN 1 ELSE 0 END), p.i, h.g
        UNION ALL
        SELECT 5, c1.j - 1, {group}, COUNT(*), 0
        FROM churn_days d{join}
        JOIN cal c1 ON c1.x = d.next_day
        JOIN periods p ON p.i = c1.j - 1
        WHERE d.next_day >= :first_start AND d.next_day < :hi AND d.day < p.s - :w AND {hard}
        GROUP BY c1.j - 1{group_by}
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
        # Compiling this query (JIT) takes longer than running it.
        await session.execute(text("SET LOCAL jit = off"))
    n = len(spans)
    # kind 0/1: a customer (and spend) from / no longer from period i on; 2: lost in i;
    # 3/4: spend before s - 365 to take off (4: of a lost customer); 5: recovered in i.
    steps: dict[Any, list[list[int]]] = {}
    for kind, i, g, count, cents in await session.execute(stmt, values):
        if int(i) < n:
            key = None if g is None else int(g)
            per = steps.setdefault(key, [[0] * 12 for _ in range(n)])[int(i)]
            per[2 * int(kind)] += int(count)
            per[2 * int(kind) + 1] += int(cents or 0)
    out: list[dict[Any, ChurnRow]] = [{} for _ in spans]
    if by == "none":
        for rows in out:
            rows[None] = ChurnRow(group=None)
    for key, per_period in steps.items():
        at_start = spent = 0
        for i, x in enumerate(per_period):
            at_start += x[0] - x[2]
            spent += x[1] - x[3]
            if not (at_start or x[10]):
                continue
            row = out[i].setdefault(key, ChurnRow(group=key))
            row.customers_at_start += at_start
            row.lost += x[4]
            row.revenue_at_start += Decimal(spent - x[7] - x[9]) / 100
            row.revenue_lost += Decimal(x[5] - x[9]) / 100
            row.recovered += x[10]
    return out
