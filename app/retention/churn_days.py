# ruff: noqa: S608 - SQL from our own fixed fragments and integer ids; values are bound
"""Each customer's interaction days (`churn_days`), kept so the churn report does not
derive them from every message each time.

Every comparison in CONTRACT section 11's churn is between an interaction and a period
boundary (`s`, `e`, `s - W`, `e - W`, `s - 365`), all China midnights: so interactions
matter only by their China day. One row per customer and day with an interaction
(inbound non-event messages, orders) holds:

- `next_day`: the customer's next such day (NULL for the last one): the span
  `(day, next_day]` holds exactly the period starts whose last interaction before them
  is on `day`;
- `channel_id`: the channel of the customer's last inbound non-event message on or
  before `day` (NULL when only orders so far): the group "by channel";
- `cents` and `cum`: the order amounts (cents) of that day and of every day up to it;
- `year_before` and `year_order_day`: the spend on days up to `day - 365` and the
  first order day in `[day - 364, day]`, so the spend in the year before a period start
  is known without a look-up while no order enters that year's first days;
- `hard_day`: `day` itself when a hard churn event that day is at or after the day's
  last interaction, else the first later day with a hard churn event. A hard churn is
  the one comparison with an exact time (CONTRACT: "no hard churn event between their
  last interaction before `s` and `s`"); for the period starts in `(day, next_day]` it
  is settled here once: the customer is at the start of `s` when `hard_day` is NULL or
  at least `s`, and lost by it in `[s, e)` when `hard_day < e`.

`churn_day_orders` remembers whose days each order was counted in, so an order moved to
another customer rewrites the days of both.

Kept current without touching ingest: `refresh` (the retention worker each minute, and
the churn report right before it counts, so reports are exact) rewrites the rows of the
customers changed since the refresh recorded in `churn_day_marks`: the senders of the
messages and the subjects of the audit rows newer than its ids, the customers of the
orders changed since, and both customers of a merge or unmerge. Message and audit ids
are given out before their transactions commit, so a refresh starts from a mark at
least `SLACK` older than the last refresh (writes commit within `SLACK`); rewriting a
customer twice is harmless. Without any mark (a database made from the models), or
with more than `FULL_ABOVE` customers changed (rows written in bulk, as the benches
do), a refresh rebuilds every customer and starts the marks again from its own (a write
still uncommitted at that moment is missed until that customer changes again; the
migration that adds the tables rebuilds everyone with the application stopped).
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Integer, bindparam, text
from sqlalchemy.ext.asyncio import AsyncSession

from app.contacts.actions.churn import HARD_CHURN_EVENTS
from app.models import utcnow_for_models
from app.models.base import UTCDateTime
from app.retention.churn import REVENUE_DAYS
from app.retention.queries import LOST_AUDIT_ACTION

CHANNEL_BITS = 1 << 20  # channel ids below about a million fit under the time in a key
SLACK = timedelta(minutes=10)  # a write commits within this long of taking its id/time
BATCH = 500  # customers rewritten per statement
FULL_ABOVE = 5_000  # more changed customers than this: rebuild everyone at once
LOCK_KEY = 17_0001  # PostgreSQL advisory lock: one refresh at a time

# What `is_hard_churn` says, in SQL (the events are fixed names, quoted here).
_EVENTS = ", ".join(f"'{e}'" for e in sorted(HARD_CHURN_EVENTS))
# China days since 1970 (of a time column, `{}`), milliseconds since 1970, a time as
# a value that compares exactly (SQLite: the stored text, with the microseconds a bulk
# writer may leave out when they are 0), the hard churn marks, per dialect.
SQL = {
    "postgresql": {
        "day": "(timezone('Asia/Shanghai', {})::date - DATE '1970-01-01')",
        "msg_ms": "floor(extract(epoch FROM m.created_at) * 1000)::bigint",
        "time": "{}",
        "no_time": "CAST(NULL AS timestamptz)",  # typed: a UNION of NULLs is text
        "order_day": "(o.ordered_at - DATE '1970-01-01')",
        "hard": f"(m.extra->>'event' IN ({_EVENTS}) OR m.extra->>'churn' = 'hard')",
        "lost_mark": "a.details->>'to' = 'lost'",
        "object_id": "CAST(a.object_id AS INTEGER)",
        "digits": "a.object_id ~ '^[0-9]{1,9}$'",
    },
    "sqlite": {
        # Whole seconds first: julianday keeps milliseconds, so 23:59:59.9999 would be
        # rounded into the next day.
        "day": "CAST(julianday(substr({}, 1, 19), '+8 hours') - 2440587.5 AS INTEGER)",
        "msg_ms": "CAST((julianday(m.created_at) - 2440587.5) * 86400000 AS INTEGER)",
        "time": "substr({} || '.000000', 1, 26)",
        "no_time": "NULL",
        "order_day": "CAST(julianday(o.ordered_at) - 2440587.5 AS INTEGER)",
        "hard": (
            f"(json_extract(m.extra, '$.event') IN ({_EVENTS})"
            " OR json_extract(m.extra, '$.churn') = 'hard')"
        ),
        "lost_mark": "json_extract(a.details, '$.to') = 'lost'",
        "object_id": "CAST(a.object_id AS INTEGER)",
        "digits": "a.object_id NOT GLOB '*[^0-9]*' AND length(a.object_id) BETWEEN 1 AND 9",
    },
}
LOST_MARK_ACTION = LOST_AUDIT_ACTION  # an agent marking a customer lost


def dialect_sql(name: str) -> dict[str, str]:
    return SQL["postgresql" if name == "postgresql" else "sqlite"]


def _in(column: str, ids: list[int] | None) -> str:
    if ids is None:
        return ""
    return f" AND {column} IN ({', '.join(str(int(i)) for i in ids)})"


def rebuild_statements(dialect: str, ids: list[int] | None) -> list[str]:
    """The statements that rewrite the rows of customers `ids` (None: everyone, the
    backfill): their days and the orders counted in them."""
    q = dialect_sql(dialect)
    msg_day, msg_time = q["day"].format("m.created_at"), q["time"].format("m.created_at")
    # An agent's lost mark: its customer (a CASE, so no text is cast before it is checked).
    marked = f"CASE WHEN {q['digits']} THEN {q['object_id']} END"
    # Per customer and China day: the channel key, the order cents, the interactions
    # (`n`), the last inbound message's time (`li`) and the last hard churn's (`hl`).
    days = f"""
        SELECT c, d, MAX(k) AS k, SUM(cents) AS cents, SUM(n) AS n,
               MAX(li) AS li, MAX(hl) AS hl FROM (
            SELECT cv.contact_id AS c, {msg_day} AS d,
                   {q["msg_ms"]} * {CHANNEL_BITS} + m.channel_id AS k, 0 AS cents, 1 AS n,
                   {msg_time} AS li, {q["no_time"]} AS hl
            FROM conversations cv JOIN messages m ON m.conversation_id = cv.id
            WHERE m.direction = 'inbound' AND m.content_type <> 'event'
              {_in("cv.contact_id", ids)}
            UNION ALL
            SELECT o.contact_id, {q["order_day"]}, NULL, CAST(ROUND(o.amount * 100) AS BIGINT),
                   1, {q["no_time"]}, {q["no_time"]}
            FROM orders o WHERE o.contact_id IS NOT NULL {_in("o.contact_id", ids)}
            UNION ALL
            SELECT cv.contact_id, {msg_day}, NULL, 0, 0, {q["no_time"]}, {msg_time}
            FROM conversations cv JOIN messages m ON m.conversation_id = cv.id
            WHERE m.direction = 'inbound' AND m.content_type = 'event' AND {q["hard"]}
              {_in("cv.contact_id", ids)}
            UNION ALL
            SELECT {marked}, {q["day"].format("a.created_at")}, NULL, 0, 0, {q["no_time"]},
                   {q["time"].format("a.created_at")}
            FROM audit_log a
            WHERE a.action = '{LOST_MARK_ACTION}' AND a.object_type = 'contact'
              AND {q["digits"]} AND {q["lost_mark"]} {_in(marked, ids)}
        ) x GROUP BY c, d
    """
    # `hard_day`: the day itself when a hard churn that day is at or after its last
    # interaction (an order counts at the day's start, before any message), else the
    # next day with a hard churn (days without interactions count here, then go).
    hard = f"""
        SELECT g.c, g.d, g.k, g.cents, g.n,
               CASE WHEN g.hl IS NOT NULL AND (g.li IS NULL OR g.hl >= g.li) THEN g.d
                    ELSE MIN(CASE WHEN g.hl IS NOT NULL THEN g.d END) OVER (
                        PARTITION BY g.c ORDER BY g.d
                        ROWS BETWEEN 1 FOLLOWING AND UNBOUNDED FOLLOWING) END AS hard_day
        FROM ({days}) g
    """
    insert = f"""
        INSERT INTO churn_days (contact_id, day, next_day, channel_id, cents, cum,
                                year_before, year_order_day, hard_day)
        SELECT y.c, y.d,
               LEAD(y.d) OVER (PARTITION BY y.c ORDER BY y.d),
               MAX(y.k) OVER (PARTITION BY y.c ORDER BY y.d ROWS UNBOUNDED PRECEDING)
                 % {CHANNEL_BITS},
               y.cents,
               SUM(y.cents) OVER (PARTITION BY y.c ORDER BY y.d ROWS UNBOUNDED PRECEDING),
               COALESCE(SUM(y.cents) OVER (PARTITION BY y.c ORDER BY y.d
                        RANGE BETWEEN UNBOUNDED PRECEDING AND {REVENUE_DAYS} PRECEDING), 0),
               MIN(CASE WHEN y.cents > 0 THEN y.d END) OVER (PARTITION BY y.c ORDER BY y.d
                        RANGE BETWEEN {REVENUE_DAYS - 1} PRECEDING AND CURRENT ROW),
               y.hard_day
        FROM ({hard}) y JOIN contacts ct ON ct.id = y.c AND ct.merged_into_id IS NULL
        WHERE y.n > 0
    """
    where = "" if ids is None else f" WHERE 1 = 1{_in('contact_id', ids)}"
    return [
        f"DELETE FROM churn_days{where}",
        insert,
        f"DELETE FROM churn_day_orders{where}",
        "INSERT INTO churn_day_orders (order_id, contact_id)"
        f" SELECT o.id, o.contact_id FROM orders o WHERE o.contact_id IS NOT NULL"
        f"{_in('o.contact_id', ids)}",
    ]


def _changed_sql(q: dict[str, str]) -> str:
    # CROSS JOIN: SQLite reads the new messages first (by id), not every conversation.
    return f"""
        SELECT cv.contact_id FROM messages m CROSS JOIN conversations cv
        WHERE cv.id = m.conversation_id AND m.id > :message_id
        UNION SELECT {q["object_id"]} FROM audit_log a
        WHERE a.id > :audit_id AND a.action = '{LOST_MARK_ACTION}'
          AND a.object_type = 'contact' AND {q["digits"]}
        UNION SELECT o.contact_id FROM orders o
        WHERE o.updated_at >= :since AND o.contact_id IS NOT NULL
        UNION SELECT d.contact_id FROM orders o JOIN churn_day_orders d ON d.order_id = o.id
        WHERE o.updated_at >= :since
        UNION SELECT contact_id FROM contact_merges
        WHERE created_at >= :since OR undone_at >= :since
        UNION SELECT other_id FROM contact_merges
        WHERE created_at >= :since OR undone_at >= :since
    """  # noqa: S608 - fixed fragments, values bound


async def rebuild(session: AsyncSession, ids: Iterable[int] | None) -> None:
    """Rewrite the rows of customers `ids` (None: everyone)."""
    dialect = session.get_bind().dialect.name
    if ids is None:
        for sql in rebuild_statements(dialect, None):
            await session.execute(text(sql))
        return
    todo = sorted(set(ids))
    for k in range(0, len(todo), BATCH):
        for sql in rebuild_statements(dialect, todo[k : k + BATCH]):
            await session.execute(text(sql))


async def _top_ids(session: AsyncSession) -> tuple[int, int]:
    row = (
        await session.execute(
            text("SELECT (SELECT MAX(id) FROM messages), (SELECT MAX(id) FROM audit_log)")
        )
    ).one()
    return int(row[0] or 0), int(row[1] or 0)


async def refresh(session: AsyncSession, now: datetime | None = None) -> int | None:
    """Bring `churn_days` up to date in the session's transaction; the customers
    rewritten (None: everyone, there was no mark or more than `FULL_ABOVE` changed)."""
    dialect = session.get_bind().dialect.name
    q = dialect_sql(dialect)
    if dialect == "postgresql":
        # One refresh at a time: two rewriting the same customer would both insert it.
        await session.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": LOCK_KEY})
    now = now or utcnow_for_models()
    marks: list[Any] = list(
        await session.execute(
            text(
                "SELECT id, at, message_id, audit_id FROM churn_day_marks ORDER BY at, id"
            ).columns(id=Integer, at=UTCDateTime, message_id=Integer, audit_id=Integer)
        )
    )
    top_message, top_audit = await _top_ids(session)
    changed: list[int] | None = None
    base = None
    if marks:
        latest_at = marks[-1][1]
        older = [m for m in marks if m[1] <= latest_at - SLACK]
        base = older[-1] if older else marks[0]
        values = {
            "message_id": int(base[2]),
            "audit_id": int(base[3]),
            "since": base[1] - SLACK,
        }
        stmt = text(_changed_sql(q)).bindparams(bindparam("since", type_=UTCDateTime))
        changed = sorted({int(c) for (c,) in await session.execute(stmt, values) if c is not None})
    if changed == []:
        return 0  # nothing to write (a later refresh starts from the same mark)
    if changed is not None and len(changed) > FULL_ABOVE:
        changed = None  # one pass over everything is quicker than many small ones
    await rebuild(session, changed)
    if changed is None:
        # Everything was read again: the next refresh starts from here (starting from an
        # older mark would find the same many changes and rebuild everything again).
        await session.execute(text("DELETE FROM churn_day_marks"))
        # The planner's figures for the new rows (the report's plan depends on them).
        await session.execute(text("ANALYZE churn_days"))
    elif base is not None:
        # The marks older than the one this refresh started from are done with.
        old = text("DELETE FROM churn_day_marks WHERE at < :at").bindparams(
            bindparam("at", type_=UTCDateTime)
        )
        await session.execute(old, {"at": base[1]})
    stmt = text(
        "INSERT INTO churn_day_marks (at, message_id, audit_id) VALUES (:at, :m, :a)"
    ).bindparams(bindparam("at", type_=UTCDateTime))
    await session.execute(stmt, {"at": now, "m": top_message, "a": top_audit})
    return None if changed is None else len(changed)
