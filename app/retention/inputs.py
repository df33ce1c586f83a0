"""What the risk factors read for a batch of customers, in a few set-based queries.

The queries run on the session's connection (Core rows): the ORM's row loading was a
tenth of a full pass, for plain columns.

`pass_facts` is read once per pass (the same for every batch: who is orphaned, each
channel's first-response target); `batch_inputs` reads a batch's histories and turns
them into each customer's `RiskInput` and hard churn times. A full pass reads every
message of every customer, so the message query returns only the rows a factor can
use: every inbound message (interactions, churn events, waiting), but agent replies
only from the last 90 days (an older reply can only end a wait that started before
the 90 days, which never counts) and never private notes or system messages (not
replies); text only where the lexicon reads it, `extra` only for events.
"""

from __future__ import annotations

import asyncio
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import and_, case, or_, select, type_coerce
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from app.models import (
    Conversation,
    ConversationFacts,
    Message,
    Order,
    SenderType,
    ServiceSettings,
)
from app.models.base import JSONType
from app.retention.lexicon import complaint_words_in
from app.retention.periods import local_midnight
from app.retention.queries import is_hard_churn, orphaned_ids
from app.retention.risk import NEGATIVE_DAYS, UNANSWERED_DAYS, UNANSWERED_HOURS, RiskInput
from app.service.settings import DEFAULT_FIRST_RESPONSE_MINUTES

Failure = tuple[datetime, str, float]
# Conversation ids per statement: well under the bound parameters SQLite (32,766) and
# asyncpg (32,767) take.
CHUNK = 5000
# The Python parts of a batch (the lexicon, the scores) give the event loop back every
# this many customers, so requests are not held for a whole batch's CPU (a full pass runs
# in the server beside webhooks and agents).
YIELD_EVERY = 50
ROWS_PER_SLICE = 2000  # message rows turned into Python per slice


async def give_way(k: int, every: int) -> None:
    """At every `every`-th item of a long CPU loop, let the event loop run other work."""
    if k and k % every == 0:
        await asyncio.sleep(0)


@dataclass(frozen=True)
class PassFacts:
    """What every batch of a pass shares."""

    orphaned: set[int]
    targets: dict[int, int | None]  # channel id -> first-response minutes


async def pass_facts(session: AsyncSession) -> PassFacts:
    targets = await session.execute(
        select(ServiceSettings.channel_id, ServiceSettings.first_response_minutes)
    )
    return PassFacts(await orphaned_ids(session), dict(targets.all()))


def _first_long_wait(
    msgs: list[tuple[int, datetime]], until: datetime, since: datetime
) -> tuple[int, Failure] | None:
    """Of one stretch of a customer's messages waiting for a reply (until `until`), the
    first of the last 90 days that waited over 24 hours: one failure per stretch."""
    for cid, at in msgs:
        hours = (until - at).total_seconds() / 3600
        if at >= since and hours > UNANSWERED_HOURS:
            return cid, (at, "unanswered", hours)
    return None


def _chunks(ids: list[int]) -> list[list[int]]:
    return [ids[i : i + CHUNK] for i in range(0, len(ids), CHUNK)] or [[]]


async def _conversations(
    conn: AsyncConnection, ids: list[int], now: datetime, facts: PassFacts
) -> tuple[dict[int, int], dict[int, list[Failure]]]:
    """The batch's conversations (conversation id -> customer), and each customer's
    first responses over their channel's target in the last 90 days."""
    owner: dict[int, int] = {}
    slow: dict[int, list[Failure]] = defaultdict(list)
    since_90 = now - timedelta(days=UNANSWERED_DAYS)
    rows = await conn.execute(
        select(
            Conversation.id,
            Conversation.contact_id,
            Conversation.created_at,
            Conversation.first_response_at,
            Conversation.channel_id,
        )
        .where(Conversation.contact_id.in_(ids))
        .order_by(Conversation.id)
    )
    for conv_id, cid, created, responded, channel_id in rows:
        owner[conv_id] = cid
        if responded is None or created < since_90:
            continue
        minutes = (responded - created).total_seconds() / 60
        if minutes > (facts.targets.get(channel_id) or DEFAULT_FIRST_RESPONSE_MINUTES):
            slow[cid].append((created, "slow_first_response", minutes))
    return owner, slow


async def _message_rows(conn: AsyncConnection, conv_ids: list[int], now: datetime) -> list[Any]:
    """`(conversation, inbound, event, text, extra, at, id)` of the messages a factor can
    use, in time order. By conversation ids, not a join on the customers: PostgreSQL
    estimated the join's conversations too many and scanned all of them for each batch
    (52 ms a batch against 14). A customer with thousands of conversations makes
    several statements (bound parameters are limited), merged here."""
    since_90 = now - timedelta(days=UNANSWERED_DAYS)
    since_30 = now - timedelta(days=NEGATIVE_DAYS)
    inbound = Message.direction == "inbound"
    stmt = select(
        Message.conversation_id,
        inbound,
        Message.content_type == "event",
        case((and_(inbound, Message.created_at >= since_30), Message.content)),
        type_coerce(case((Message.content_type == "event", Message.extra)), JSONType),
        Message.created_at,
        Message.id,
    ).order_by(Message.created_at, Message.id)
    rows: list[Any] = []
    chunks = _chunks(conv_ids)
    for chunk in chunks:
        result = await conn.execute(
            stmt.where(
                Message.conversation_id.in_(chunk),
                Message.created_at <= now,
                or_(
                    inbound,
                    and_(
                        Message.sender_type == SenderType.USER,
                        Message.private.is_(False),
                        Message.created_at >= since_90,
                    ),
                ),
            )
        )
        for k, part in enumerate(result.partitions(ROWS_PER_SLICE)):  # rows in slices
            await give_way(k, 1)
            rows += part
    if len(chunks) > 1:
        rows.sort(key=lambda r: (r[5], r[6]))
    return rows


async def _histories(
    rows: list[Any], owner: dict[int, int], now: datetime
) -> tuple[dict[int, list[datetime]], dict[int, list[datetime]], dict[int, list[str]], list[Any]]:
    """Interactions, hard churn times and recent texts by customer, and the unanswered
    failures `(customer, failure)`, from the batch's messages in time order."""
    since_90 = now - timedelta(days=UNANSWERED_DAYS)
    inter: dict[int, list[datetime]] = defaultdict(list)
    churns: dict[int, list[datetime]] = defaultdict(list)
    texts: dict[int, list[str]] = defaultdict(list)
    failures: list[Any] = []
    # Per conversation, the customer's messages of the last 90 days still waiting for an
    # agent reply (older ones can never count).
    waiting: dict[int, list[tuple[int, datetime]]] = defaultdict(list)
    for k, (conv_id, is_inbound, is_event, content, extra, at, _) in enumerate(rows):
        await give_way(k, ROWS_PER_SLICE)
        if not is_inbound:  # an agent's reply (the query reads no other outbound rows)
            msgs = waiting.pop(conv_id, None)
            if msgs and (found := _first_long_wait(msgs, at, since_90)):
                failures.append(found)
            continue
        cid = owner[conv_id]
        if is_event:
            if is_hard_churn(extra):
                churns[cid].append(at)
            continue
        inter[cid].append(at)
        if content:
            texts[cid].append(content)
        if at >= since_90:
            waiting[conv_id].append((cid, at))
    for msgs in waiting.values():
        if found := _first_long_wait(msgs, now, since_90):
            failures.append(found)
    return inter, churns, texts, failures


async def _ratings(conn: AsyncConnection, owner: dict[int, int]) -> dict[int, int]:
    """Each customer's last rating (conversation facts, app/models/service.py): the
    newest wins."""
    newest: dict[int, tuple[datetime | None, int | None]] = {}
    for chunk in _chunks(sorted(owner)):
        rows = await conn.execute(
            select(
                ConversationFacts.conversation_id,
                ConversationFacts.csat_rated_at,
                ConversationFacts.csat_score,
            ).where(
                ConversationFacts.conversation_id.in_(chunk),
                ConversationFacts.csat_score.is_not(None),
            )
        )
        for conv_id, rated_at, rating in rows:
            cid = owner[conv_id]
            best = newest.get(cid)
            if best is None or (rated_at is not None and (best[0] is None or rated_at >= best[0])):
                newest[cid] = (rated_at, rating)
    return {cid: rating for cid, (_, rating) in newest.items() if rating is not None}


async def batch_inputs(
    session: AsyncSession, contacts: Sequence[Any], now: datetime, facts: PassFacts
) -> dict[int, tuple[RiskInput, list[datetime]]]:
    """Each customer's risk inputs and hard churn times (`contacts`: rows with id,
    lifecycle and lifecycle_changed_at)."""
    conn = await session.connection()
    ids = [c.id for c in contacts]
    owner, slow = await _conversations(conn, ids, now, facts)
    rows = await _message_rows(conn, list(owner), now) if owner else []
    inter, churns, texts, waits = await _histories(rows, owner, now)
    # The unanswered messages first, then the slow first responses (the factor names
    # the latest; on a tie, the first of them).
    failures: dict[int, list[Failure]] = defaultdict(list)
    for cid, failure in waits:
        failures[cid].append(failure)
    for cid, found in slow.items():
        failures[cid] += found
    ratings = await _ratings(conn, owner) if owner else {}
    orders = await conn.execute(
        select(Order.contact_id, Order.ordered_at).where(Order.contact_id.in_(ids))
    )
    midnights: dict[date, datetime] = {}  # a batch's 1,500 orders fall on fewer days
    for oid, day in orders:
        at = midnights.get(day)
        if at is None:
            at = midnights[day] = local_midnight(day)
        if oid is not None and at <= now:
            inter[oid].append(at)
    out: dict[int, tuple[RiskInput, list[datetime]]] = {}
    for k, c in enumerate(contacts):
        await give_way(k, YIELD_EVERY)  # the lexicon reads a month of texts: in slices
        hard = churns.get(c.id, [])
        if c.lifecycle == "lost" and c.lifecycle_changed_at is not None:
            hard.append(c.lifecycle_changed_at)  # marked lost by an agent, still in force
        data = RiskInput(
            interactions=sorted(inter.get(c.id, [])),
            service_failures=failures.get(c.id, []),
            complaint_words=complaint_words_in(texts.get(c.id, [])),
            orphaned=c.id in facts.orphaned,
            last_rating=ratings.get(c.id),
        )
        out[c.id] = (data, sorted(hard))
    return out
