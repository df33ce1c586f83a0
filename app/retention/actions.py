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

from collections import defaultdict
from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import and_, case, select, type_coerce
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from app.contacts.actions.followup import schedule_follow_ups
from app.contacts.actions.task_events import announce_created, create_tasks
from app.contacts.actions.tasks import HELD_TASK_IDS
from app.models import (
    Contact,
    Conversation,
    ConversationFacts,
    Message,
    Order,
    RetentionScore,
    SenderType,
    ServiceSettings,
    Task,
)
from app.models.base import JSONType
from app.retention.churn import money
from app.retention.lexicon import complaint_words_in
from app.retention.lifecycle import lifecycle
from app.retention.periods import local_date, local_midnight
from app.retention.queries import is_hard_churn, orphaned_ids
from app.retention.risk import (
    NEGATIVE_DAYS,
    UNANSWERED_DAYS,
    UNANSWERED_HOURS,
    RiskInput,
    score,
)
from app.retention.tiers import high_value, rfm, tiers

# Customers per read: bounded memory, and on a full pass one short transaction each (the
# worker commits between batches: SQLite has one writer, and ingest must not wait on it;
# the writes come at the batch's end). 500: fewer round trips than 100, as fast as 2,000.
BATCH = 500
AT_RISK_REPEAT_DAYS = 7  # CONTRACT section 11: "not again for the same customer within 7 days"
# The first-response target when the channel sets none (CONTRACT section 9: default 5).
DEFAULT_FIRST_RESPONSE_MINUTES = 5
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


async def _inputs(
    session: AsyncSession, contacts: Sequence[Any], now: datetime, orphaned: set[int]
) -> dict[int, tuple[RiskInput, list[datetime]]]:
    """Each customer's risk inputs and hard churn times (`contacts`: rows of
    CUSTOMER_COLUMNS, or contacts)."""
    ids = [c.id for c in contacts]
    inter: dict[int, list[datetime]] = defaultdict(list)
    churns: dict[int, list[datetime]] = defaultdict(list)
    texts: dict[int, list[str]] = defaultdict(list)
    failures: dict[int, list[tuple[datetime, str, float]]] = defaultdict(list)
    # Per conversation, the customer's messages still waiting for an agent reply.
    waiting: dict[int, list[tuple[int, datetime]]] = defaultdict(list)

    def waited(msgs: list[tuple[int, datetime]], until: datetime) -> None:
        """The first message of the last 90 days that waited over 24 hours, if any."""
        for cid, at in msgs:
            hours = (until - at).total_seconds() / 3600
            if at >= since_90 and hours > UNANSWERED_HOURS:
                failures[cid].append((at, "unanswered", hours))
                return

    since_90 = now - timedelta(days=UNANSWERED_DAYS)
    since_30 = now - timedelta(days=NEGATIVE_DAYS)
    # Text only where the lexicon reads it and `extra` only for events: a full pass reads
    # every message, and decoding each one's JSON was a tenth of its time.
    rows = await session.execute(
        select(
            Conversation.contact_id,
            Message.conversation_id,
            Message.direction,
            Message.sender_type,
            Message.private,
            Message.content_type,
            case(
                (
                    and_(Message.direction == "inbound", Message.created_at >= since_30),
                    Message.content,
                )
            ),
            type_coerce(case((Message.content_type == "event", Message.extra)), JSONType),
            Message.created_at,
        )
        .join(Conversation, Conversation.id == Message.conversation_id)
        .where(Conversation.contact_id.in_(ids), Message.created_at <= now)
        .order_by(Message.created_at, Message.id)
    )
    for cid, conv_id, direction, sender, private, ctype, content, extra, at in rows:
        if direction == "inbound":
            if ctype == "event":
                if is_hard_churn(extra):
                    churns[cid].append(at)
                continue
            inter[cid].append(at)
            if at >= since_30 and content:
                texts[cid].append(content)
            waiting[conv_id].append((cid, at))
        elif sender == SenderType.USER and not private:
            waited(waiting.pop(conv_id, []), at)
    for msgs in waiting.values():
        waited(msgs, now)
    # Each channel's first-response target (CONTRACT section 9), the default where unset.
    targets = dict(
        (
            await session.execute(
                select(ServiceSettings.channel_id, ServiceSettings.first_response_minutes)
            )
        ).all()
    )
    convs = await session.execute(
        select(
            Conversation.contact_id,
            Conversation.created_at,
            Conversation.first_response_at,
            Conversation.channel_id,
        ).where(
            Conversation.contact_id.in_(ids),
            Conversation.created_at >= since_90,
            Conversation.first_response_at.is_not(None),
        )
    )
    for cid, created, responded, channel_id in convs:
        if responded is None:
            continue
        minutes = (responded - created).total_seconds() / 60
        if minutes > (targets.get(channel_id) or DEFAULT_FIRST_RESPONSE_MINUTES):
            failures[cid].append((created, "slow_first_response", minutes))
    # The customer's last rating (conversation facts, app/models/service.py): the newest wins.
    ratings: dict[int, int] = {}
    rated = await session.execute(
        select(Conversation.contact_id, ConversationFacts.csat_score)
        .join(ConversationFacts, ConversationFacts.conversation_id == Conversation.id)
        .where(Conversation.contact_id.in_(ids), ConversationFacts.csat_score.is_not(None))
        .order_by(ConversationFacts.csat_rated_at)
    )
    for cid, rating in rated:
        if rating is not None:
            ratings[cid] = rating
    orders = await session.execute(
        select(Order.contact_id, Order.ordered_at).where(Order.contact_id.in_(ids))
    )
    for oid, day in orders:
        at = local_midnight(day)
        if oid is not None and at <= now:
            inter[oid].append(at)
    out: dict[int, tuple[RiskInput, list[datetime]]] = {}
    for c in contacts:
        times = sorted(inter.get(c.id, []))
        hard = churns.get(c.id, [])
        if c.lifecycle == "lost" and c.lifecycle_changed_at is not None:
            hard.append(c.lifecycle_changed_at)  # marked lost by an agent, still in force
        data = RiskInput(
            interactions=times,
            service_failures=failures.get(c.id, []),
            complaint_words=complaint_words_in(texts.get(c.id, [])),
            orphaned=c.id in orphaned,
            last_rating=ratings.get(c.id),
        )
        out[c.id] = (data, sorted(hard))
    return out


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
    orphaned = await orphaned_ids(session)
    # The tasks made are announced once at the end, as the sweep does: one by one up to
    # 200, else one `task.bulk_created` (a first pass over 100,000 customers makes tens
    # of thousands). A caller already holding task ids (a sweep) keeps them.
    held: list[int] | None = None
    if HELD_TASK_IDS not in session.info:
        held = session.info[HELD_TASK_IDS] = []
    try:
        done = await _refresh_batches(
            session, now, contact_ids, full, (tier_of, top, spend), orphaned, after_batch
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
    (the tier columns on full passes only)."""
    dialect = session.get_bind().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    stmt = insert(RetentionScore)
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
    orphaned: set[int],
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
        contacts = list((await session.execute(page)).all())
        if not contacts:
            return done
        after = contacts[-1].id
        inputs = await _inputs(session, contacts, now, orphaned)
        old = {
            cid: (band, tier, history)
            for cid, band, tier, history in await session.execute(
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
        for contact in contacts:
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
        await session.execute(upsert, values)
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
