"""Writes of the retention rules: each customer's score row, and the `at_risk` task.

`refresh_scores` recomputes the customers it is given (the worker gives those whose
history changed since their row was written, and everyone once a day, so a day
passing counts); the ingest path does not wait for it, so storing a message costs
nothing more. Tiers need every buyer's figures (means over all of them), so they are
recomputed on full passes only.

Work is set-based per batch: a batch's inputs are read in a few queries, scored in
Python, and written in bulk (one upsert of the score rows; the follow-up cadences of
customers whose tier changed and the new tasks in a few statements). A first pass over
100,000 new customers makes tens of thousands of tasks: one by one they cost a dozen
queries each (30 customers a second).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any, cast

from sqlalchemy import Table, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from app.contacts.actions.followup import schedule_follow_ups
from app.contacts.actions.task_events import announce_created, create_tasks
from app.contacts.actions.tasks import HELD_TASK_IDS
from app.models import Contact, Order, RetentionScore, Task
from app.retention.churn import money
from app.retention.inputs import YIELD_EVERY, PassFacts, batch_inputs, give_way, pass_facts
from app.retention.lifecycle import lifecycle
from app.retention.periods import local_date
from app.retention.risk import score
from app.retention.tiers import high_value, rfm, tiers

# Customers per read: bounded memory, and on a full pass one short transaction each (the
# worker commits between batches: SQLite has one writer, and ingest must not wait on it;
# the writes come at the batch's end). 500: fewer round trips than 100, as fast as 2,000.
BATCH = 500
AT_RISK_REPEAT_DAYS = 7  # CONTRACT section 11: "not again for the same customer within 7 days"
HISTORY_DAYS = 8  # enough to read the score a week ago


async def _tiers(
    session: AsyncSession, now: datetime
) -> tuple[dict[int, str], set[int], dict[int, Decimal]]:
    today = local_date(now)
    rows = await session.execute(
        select(Order.contact_id, Order.ordered_at, Order.amount).where(
            Order.contact_id.is_not(None), Order.ordered_at > today - timedelta(days=366)
        )
    )
    values = rfm(((c, d, a) for c, d, a in rows if c is not None), today)
    spend = {c: v.monetary for c, v in values.items()}
    return tiers(values), high_value(spend), spend


async def _recently_tasked(session: AsyncSession, ids: list[int], now: datetime) -> set[int]:
    """Of `ids`, the customers given an `at_risk` task in the last 7 days (one query)."""
    return set(
        await session.scalars(
            select(Task.contact_id).where(
                Task.contact_id.in_(ids),
                Task.kind == "at_risk",
                Task.created_at >= now - timedelta(days=AT_RISK_REPEAT_DAYS),
            )
        )
    )


def _at_risk_task(contact: Any, result: dict[str, Any], now: datetime) -> dict[str, Any]:
    """The row of the `at_risk` task for a customer entering `high` (for `create_tasks`)."""
    reasons = "；".join(f["detail"] for f in result["factors"])
    return {
        "kind": "at_risk",
        "title": f"客户流失风险 {result['score']}：{reasons}",
        "contact_id": contact.id,
        "due_at": now,
        "assignee_id": contact.owner_id,
        "occasion_key": f"at_risk:{contact.id}:{local_date(now).isoformat()}",
    }


async def refresh_scores(
    session: AsyncSession,
    now: datetime,
    contact_ids: list[int] | None = None,
    *,
    after_batch: Callable[[], Awaitable[None]] | None = None,
) -> int:
    """Recompute the given customers (all when None, tiers included); how many.

    `after_batch`: called after each batch of a full pass (the worker commits there and
    gives the server's other work its turn)."""
    full = contact_ids is None
    tier_of: dict[int, str] = {}
    top: set[int] = set()
    spend: dict[int, Decimal] = {}
    if full:
        tier_of, top, spend = await _tiers(session, now)
    facts = await pass_facts(session)
    # The tasks made are announced once at the end, as the sweep does: one by one up to
    # 200, else one `task.bulk_created` (a first pass over 100,000 customers makes tens
    # of thousands). A caller already holding task ids (a sweep) keeps them.
    held: list[int] | None = None
    if HELD_TASK_IDS not in session.info:
        held = session.info[HELD_TASK_IDS] = []
    try:
        done = await _refresh_batches(
            session, now, contact_ids, full, (tier_of, top, spend), facts, after_batch
        )
    finally:
        if held is not None:
            session.info.pop(HELD_TASK_IDS, None)
    if held:
        await announce_created(session, held, "retention")
    return done


# What a batch reads of each customer: a few columns, not the ORM object (a full pass
# reads 100,000 of them).
CUSTOMER_COLUMNS = (
    Contact.id,
    Contact.name,
    Contact.owner_id,
    Contact.follow_up_days,
    Contact.lifecycle,
    Contact.lifecycle_changed_at,
    Contact.created_at,
)
SCORE_COLUMNS = ("score", "band", "factors", "history", "lifecycle", "computed_at")
TIER_COLUMNS = ("tier", "high_value", "spend_365")


def _upsert(session: AsyncSession, full: bool) -> Any:
    """The batch's write of its score rows: insert, or update what this pass computes
    (the tier columns on full passes only). A Core statement on the table, executed on
    the connection: the ORM's bulk insert leaves out the keys whose value is None and
    sends each run of rows with the same keys as its own executemany (a tier of None
    beside a tier split a batch of 500 into hundreds: 100-170 ms a batch, 10 ms now)."""
    dialect = session.get_bind().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    stmt = insert(cast(Table, RetentionScore.__table__))
    columns = SCORE_COLUMNS + (TIER_COLUMNS if full else ())
    return stmt.on_conflict_do_update(
        index_elements=["contact_id"], set_={c: stmt.excluded[c] for c in columns}
    )


async def _refresh_batches(
    session: AsyncSession,
    now: datetime,
    contact_ids: list[int] | None,
    full: bool,
    tiered: tuple[dict[int, str], set[int], dict[int, Decimal]],
    facts: PassFacts,
    after_batch: Callable[[], Awaitable[None]] | None,
) -> int:
    """Batch by batch: read the batch's inputs in a few queries, score in Python, write
    the score rows in one statement, and the cadences of customers whose tier changed
    and the new tasks in bulk."""
    tier_of, top, spend = tiered
    today = local_date(now)
    keep_from = str(today - timedelta(days=HISTORY_DAYS))
    stmt = select(*CUSTOMER_COLUMNS).where(Contact.merged_into_id.is_(None)).order_by(Contact.id)
    upsert = _upsert(session, full)
    done = 0
    after = 0
    while True:
        page = stmt.where(Contact.id > after).limit(BATCH)
        if contact_ids is not None:
            page = page.where(Contact.id.in_(contact_ids))
        # Core rows on the session's connection (what the batch reads is columns; the
        # ORM's row loading cost a tenth of a full pass).
        conn = await session.connection()
        contacts = list((await conn.execute(page)).all())
        if not contacts:
            return done
        after = contacts[-1].id
        inputs = await batch_inputs(session, contacts, now, facts)
        old = {
            cid: (band, tier, history)
            for cid, band, tier, history in await conn.execute(
                select(
                    RetentionScore.contact_id,
                    RetentionScore.band,
                    RetentionScore.tier,
                    RetentionScore.history,
                ).where(RetentionScore.contact_id.in_([c.id for c in contacts]))
            )
        }
        entering = [c.id for c in contacts if c.id not in old or old[c.id][0] != "high"]
        tasked = await _recently_tasked(session, entering, now) if entering else set()
        values: list[dict[str, Any]] = []
        new_tasks: list[dict[str, Any]] = []
        retier: list[Any] = []
        for k, contact in enumerate(contacts):
            await give_way(k, YIELD_EVERY)  # requests run between slices of the batch
            data, hard = inputs[contact.id]
            result = score(data, now)
            was_band, old_tier, old_history = old.get(contact.id, ("low", None, {}))
            history = {d: s for d, s in (old_history or {}).items() if d >= keep_from}
            history[today.isoformat()] = result["score"]
            row = {
                "contact_id": contact.id,
                "score": result["score"],
                "band": result["band"],
                "factors": result["factors"],
                "history": history,
                "lifecycle": lifecycle(data.interactions, hard, now, result["band"]),
                "computed_at": now,
                "tier": old_tier,
                "high_value": False,
                "spend_365": money(Decimal(0)),
            }
            if full:
                row["tier"] = tier_of.get(contact.id)
                row["high_value"] = contact.id in top
                row["spend_365"] = money(spend.get(contact.id, Decimal(0)))
                if row["tier"] != old_tier and contact.follow_up_days is None:
                    retier.append(contact)  # the cadence follows the tier (CONTRACT section 8)
            values.append(row)
            if result["band"] == "high" and was_band != "high" and contact.id not in tasked:
                new_tasks.append(_at_risk_task(contact, result, now))
            done += 1
        await conn.execute(upsert, values)
        if retier:
            follow_ups = await schedule_follow_ups(
                session, retier, {c.id: tier_of.get(c.id) for c in retier}
            )
            await create_tasks(session, follow_ups, "follow_up")
        await create_tasks(session, new_tasks, "retention")
        if full:  # a full pass holds one batch at a time, not every customer
            session.expunge_all()
            if after_batch is not None:
                await after_batch()
