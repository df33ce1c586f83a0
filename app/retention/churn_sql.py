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


async def churn_by_sql(
    session: AsyncSession,
    spans: Sequence[tuple[date, date]],
    window_days: int,
    by: str,
    viewer: Viewer | None,
) -> list[dict[Any, ChurnRow]]:
    """Each period's rows by group (as `churn.churn` returns them, without `lost_ids`)
    over the visible customers without a hard churn event (`churn_hard`), from
    `churn_days` as it stands (`churn_days.refresh` first)."""
    where, params = _visible(viewer)
    periods = " UNION ALL ".join(
        f"SELECT {i} AS i, {_days(s)} AS s, {_days(e)} AS e" for i, (s, e) in enumerate(spans)
    )
    join = ""
    if where or by == "owner":
        join = f" JOIN contacts ct ON ct.id = h.c{where}"
    group = {"channel": "h.ch", "owner": "ct.owner_id"}.get(by)
    select_group, group_by = (f"{group} AS g", f", {group}") if group else ("NULL AS g", "")
    stmt = text(
        f"""
        WITH periods AS ({periods}),
        hits AS (
            SELECT p.i, p.s, p.e, d.contact_id AS c, d.day AS d, d.next_day AS n,
                   d.channel_id AS ch, d.cum, 1 AS at_start
            FROM periods p JOIN churn_days d
              ON d.day >= p.s - :w AND d.day < p.s
             AND (d.next_day IS NULL OR d.next_day >= p.s)
            UNION ALL
            SELECT p.i, p.s, p.e, d.contact_id, d.day, d.next_day, d.channel_id, d.cum, 0
            FROM periods p JOIN churn_days d
              ON d.next_day >= p.s AND d.next_day < p.e AND d.day < p.s - :w
        ),
        counted AS (
            SELECT h.*,
                   CASE WHEN h.at_start = 1 AND (h.n IS NULL OR h.n >= h.e)
                        AND h.d < h.e - :w THEN 1 ELSE 0 END AS lost,
                   CASE WHEN h.at_start = 1 AND h.cum > 0 THEN h.cum - COALESCE((
                       SELECT b.cum FROM churn_days b
                       WHERE b.contact_id = h.c AND b.day < h.s - :year
                       ORDER BY b.day DESC LIMIT 1), 0) ELSE 0 END AS rev
            FROM hits h WHERE h.c NOT IN (SELECT contact_id FROM churn_hard)
        )
        SELECT h.i, {select_group}, SUM(h.at_start), SUM(h.lost), SUM(h.rev),
               SUM(h.lost * h.rev), SUM(1 - h.at_start)
        FROM counted h{join}
        GROUP BY h.i{group_by}
        """  # noqa: S608 - our own fragments; values bound or integers we formatted
    )
    values = {"w": window_days, "year": REVENUE_DAYS, **params}
    out: list[dict[Any, ChurnRow]] = [{} for _ in spans]
    if by == "none":
        for rows in out:
            rows[None] = ChurnRow(group=None)
    for i, g, at_start, lost, rev, rev_lost, recovered in await session.execute(stmt, values):
        key = None if g is None else int(g)
        row = out[int(i)].setdefault(key, ChurnRow(group=key))
        row.customers_at_start += int(at_start or 0)
        row.lost += int(lost or 0)
        row.revenue_at_start += Decimal(int(rev or 0)) / 100
        row.revenue_lost += Decimal(int(rev_lost or 0)) / 100
        row.recovered += int(recovered or 0)
    return out
