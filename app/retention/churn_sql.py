"""Churn counted by the database, for the customers without a hard churn event.

Every comparison in CONTRACT section 11's churn compares an interaction with a period
boundary, `s - W` or `e - W`, all of them midnights in Asia/Shanghai (no daylight
saving): so a customer's interactions matter only by their China day. Hard churn
events are the exception (one is compared with the exact last interaction), so the
customers with one are left to the pure definitions in `churn.py` (`hard_churn_ids`
finds them), and this module answers for everyone else:

1. `days`: one row per customer and China day with an interaction (inbound non-event
   messages, orders), with that day's latest message as `key` (milliseconds x 2^20 +
   channel id, so the running maximum carries the last message's channel forward),
   and that day's order amounts in cents;
2. `spans`: each day with the customer's next interaction day (`LEAD`), the channel
   of the last message so far and the running spend;
3. per period `[s, e)`, the one span with `d < s <= next` is the customer's last
   interaction before `s`: at start when `d >= s - W`, lost when also `next >= e`
   (or none) and `d < e - W`, recovered when `d < s - W` and `s <= next < e`;
   revenue is the spend of the days in `[s - 365, s)`.

The figures equal `churn.churn`'s (tests/retention/test_churn_sql.py checks them on
random histories on both databases).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from decimal import Decimal
from typing import Any

from sqlalchemy import Date, bindparam, text
from sqlalchemy.ext.asyncio import AsyncSession

from app.accounts.viewer import Viewer
from app.models.base import UTCDateTime
from app.retention.churn import REVENUE_DAYS, ChurnRow

EPOCH = date(1970, 1, 1)
CHANNEL_BITS = 1 << 20  # channel ids below about a million fit under the time in `key`

# China days since 1970 and milliseconds since 1970, per dialect.
_SQL = {
    "postgresql": {
        "msg_day": "(timezone('Asia/Shanghai', m.created_at)::date - DATE '1970-01-01')",
        "msg_ms": "floor(extract(epoch FROM m.created_at) * 1000)::bigint",
        "order_day": "(o.ordered_at - DATE '1970-01-01')",
        "hard": "(m.extra->>'event' = 'unsubscribe' OR m.extra->>'churn' = 'hard')",
        "lost_mark": "a.details->>'to' = 'lost'",
        "object_id": "CAST(a.object_id AS INTEGER)",
        "digits": "a.object_id ~ '^[0-9]{1,9}$'",
    },
    "sqlite": {
        "msg_day": "CAST(julianday(m.created_at, '+8 hours') - 2440587.5 AS INTEGER)",
        "msg_ms": "CAST((julianday(m.created_at) - 2440587.5) * 86400000 AS INTEGER)",
        "order_day": "CAST(julianday(o.ordered_at) - 2440587.5 AS INTEGER)",
        "hard": (
            "(json_extract(m.extra, '$.event') = 'unsubscribe'"
            " OR json_extract(m.extra, '$.churn') = 'hard')"
        ),
        "lost_mark": "json_extract(a.details, '$.to') = 'lost'",
        "object_id": "CAST(a.object_id AS INTEGER)",
        "digits": "a.object_id NOT GLOB '*[^0-9]*' AND length(a.object_id) BETWEEN 1 AND 9",
    },
}


def _sql(session: AsyncSession) -> dict[str, str]:
    return _SQL["postgresql" if session.get_bind().dialect.name == "postgresql" else "sqlite"]


def _visible(viewer: Viewer | None) -> tuple[str, dict[str, Any]]:
    if viewer is not None and not viewer.is_supervisor:
        return " AND ct.owner_id = :viewer_id", {"viewer_id": viewer.id}
    return "", {}


async def hard_churn_ids(
    session: AsyncSession, until: Any, viewer: Viewer | None = None
) -> set[int]:
    """Customers with a hard churn event before `until` (what `queries.is_hard_churn`
    and the lost marks of the audit log say, read in SQL)."""
    q = _sql(session)
    where, params = _visible(viewer)
    stmt = text(
        f"""
        SELECT cv.contact_id FROM messages m
        JOIN conversations cv ON cv.id = m.conversation_id
        JOIN contacts ct ON ct.id = cv.contact_id AND ct.merged_into_id IS NULL{where}
        WHERE m.direction = 'inbound' AND m.content_type = 'event'
          AND m.created_at < :until AND {q["hard"]}
        UNION
        SELECT ct.id FROM audit_log a
        JOIN contacts ct ON {q["digits"]} AND ct.id = {q["object_id"]}
          AND ct.merged_into_id IS NULL{where}
        WHERE a.action = 'contact.lifecycle_changed' AND a.object_type = 'contact'
          AND a.created_at < :until AND {q["lost_mark"]}
        """  # noqa: S608 - fixed SQL fragments, values bound
    )
    stmt = stmt.bindparams(bindparam("until", type_=UTCDateTime))
    return {int(c) for (c,) in await session.execute(stmt, {"until": until, **params})}


def _days(day: date) -> int:
    return (day - EPOCH).days


async def churn_by_sql(
    session: AsyncSession,
    spans: Sequence[tuple[date, date]],
    until: Any,
    window_days: int,
    by: str,
    viewer: Viewer | None,
    excluded: set[int],
) -> list[dict[Any, ChurnRow]]:
    """Each period's rows by group (as `churn.churn` returns them, without `lost_ids`)
    over the visible customers not in `excluded`."""
    q = _sql(session)
    where, params = _visible(viewer)
    periods = " UNION ALL ".join(
        f"SELECT {i} AS i, {_days(s)} AS s, {_days(e)} AS e" for i, (s, e) in enumerate(spans)
    )
    group = {"channel": f"h.k % {CHANNEL_BITS}", "owner": "ct.owner_id"}.get(by)
    select_group, group_by = (f"{group} AS g", f", {group}") if group else ("NULL AS g", "")
    skip = ""
    if excluded:
        skip = f" AND ct.id NOT IN ({', '.join(str(int(c)) for c in sorted(excluded))})"
    stmt = text(
        f"""
        WITH days AS (
            SELECT c, d, MAX(k) AS k, SUM(cents) AS cents FROM (
                SELECT cv.contact_id AS c, {q["msg_day"]} AS d,
                       {q["msg_ms"]} * {CHANNEL_BITS} + m.channel_id AS k, 0 AS cents
                FROM messages m JOIN conversations cv ON cv.id = m.conversation_id
                WHERE m.direction = 'inbound' AND m.content_type <> 'event'
                  AND m.created_at < :until
                UNION ALL
                SELECT o.contact_id, {q["order_day"]}, NULL,
                       CAST(ROUND(o.amount * 100) AS BIGINT)
                FROM orders o
                WHERE o.contact_id IS NOT NULL AND o.ordered_at < :until_day
            ) x GROUP BY c, d
        ),
        spans AS (
            SELECT days.c, days.d,
                   LEAD(days.d) OVER (PARTITION BY days.c ORDER BY days.d) AS n,
                   MAX(days.k) OVER (PARTITION BY days.c ORDER BY days.d
                                     ROWS UNBOUNDED PRECEDING) AS k,
                   SUM(days.cents) OVER (PARTITION BY days.c ORDER BY days.d
                                         ROWS UNBOUNDED PRECEDING) AS spent
            FROM days JOIN contacts ct ON ct.id = days.c AND ct.merged_into_id IS NULL
                 {where}{skip}
        ),
        periods AS ({periods}),
        hits AS (
            SELECT p.i, p.s, p.e, h.c, h.d, h.n, h.k, h.spent,
                   CASE WHEN h.d >= p.s - :w THEN 1 ELSE 0 END AS at_start
            FROM spans h JOIN periods p
              ON h.d < p.s AND (h.n IS NULL OR h.n >= p.s)
             AND (h.d >= p.s - :w OR (h.n IS NOT NULL AND h.n < p.e))
        ),
        before AS (
            SELECT h.i, h.c, MAX(b.spent) AS spent
            FROM hits h JOIN spans b ON b.c = h.c AND b.d < h.s - :year
            WHERE h.at_start = 1
            GROUP BY h.i, h.c
        )
        SELECT h.i, {select_group},
               SUM(h.at_start) AS at_start,
               SUM(CASE WHEN h.at_start = 1 AND (h.n IS NULL OR h.n >= h.e)
                        AND h.d < h.e - :w THEN 1 ELSE 0 END) AS lost,
               SUM(h.at_start * (h.spent - COALESCE(b.spent, 0))) AS rev,
               SUM(CASE WHEN h.at_start = 1 AND (h.n IS NULL OR h.n >= h.e)
                        AND h.d < h.e - :w THEN h.spent - COALESCE(b.spent, 0)
                        ELSE 0 END) AS rev_lost,
               SUM(1 - h.at_start) AS recovered
        FROM hits h
        JOIN contacts ct ON ct.id = h.c
        LEFT JOIN before b ON b.i = h.i AND b.c = h.c
        GROUP BY h.i{group_by}
        """  # noqa: S608 - our own fragments; values bound or integers we formatted
    ).bindparams(bindparam("until", type_=UTCDateTime), bindparam("until_day", type_=Date))
    values = {
        "until": until,
        "until_day": spans[-1][1],
        "w": window_days,
        "year": REVENUE_DAYS,
        **params,
    }
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
