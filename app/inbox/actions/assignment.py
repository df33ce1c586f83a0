"""Who gets a conversation: automatic assignment, the re-queue rules, system notes.

- A new customer conversation goes to an online agent of its channel with room
  (fewer open conversations than `assignment_capacity`): the customer's previous
  agent if that agent qualifies, otherwise round robin (the qualifying agent whose
  last automatic assignment is oldest). Nobody qualifies: it stays in the queue.
- "Online" is the shared presence table (app/models/presence.py): seen within three
  heartbeats on any server process.
- Only agents are assigned automatically; supervisors and admins pick by hand.
- Capacity counts `open` conversations (`pending` ones wait on the customer).
- Every automatic decision takes one lock (a PostgreSQL advisory lock for the
  transaction; SQLite serialises writers), so two conversations arriving at once
  cannot both take an agent's last free slot.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, exists, func, or_, select, text, true
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession

from app.audit import record_audit
from app.config import Settings, settings_of
from app.inbox.actions.events import publish_conversation, publish_message
from app.models import (
    AgentPresence,
    Conversation,
    ConversationStatus,
    Message,
    Role,
    SenderType,
    User,
    UserChannel,
    utcnow_for_models,
)
from app.realtime.events import EventType
from app.searchindex.index import index_message

ASSIGNMENT_LOCK_KEY = 0x48554C41  # "HULA": one decision at a time across processes
SYSTEM_NAME = "系统"


def online_ttl(settings: Settings) -> timedelta:
    return timedelta(seconds=3 * settings.assignment_sweep_seconds)


TRANSACTION_FACTS = "huiliu_assignment_facts"


@dataclass
class _Facts:
    """What stays true until the transaction ends, so a batch of new conversations
    (app/ingest/batcher.py) asks once: the lock is held; a channel had nobody with room
    (assignments in this transaction only add load, so nobody stays nobody)."""

    transaction: object
    locked: bool = False
    nobody: set[int] = field(default_factory=set)


def _facts(session: AsyncSession) -> _Facts:
    transaction = session.sync_session.get_transaction()
    facts: _Facts | None = session.info.get(TRANSACTION_FACTS)
    if facts is None or facts.transaction is not transaction:
        facts = session.info[TRANSACTION_FACTS] = _Facts(transaction)
    return facts


async def lock_assignment(session: AsyncSession) -> None:
    facts = _facts(session)
    if not facts.locked and session.get_bind().dialect.name == "postgresql":
        await session.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": ASSIGNMENT_LOCK_KEY})
    facts.locked = True


def _works_on(channel_id: int) -> Any:
    """Users with no channel limit, or limited to channels including this one."""
    limited = exists().where(UserChannel.user_id == User.id)
    here = exists().where(UserChannel.user_id == User.id, UserChannel.channel_id == channel_id)
    return or_(~limited, here)


def _open_load() -> Any:
    return (
        select(func.count(Conversation.id))
        .where(Conversation.assignee_id == User.id, Conversation.status == ConversationStatus.OPEN)
        .correlate(User)
        .scalar_subquery()
    )


async def online_user_ids(session: AsyncSession, now: datetime | None = None) -> set[int]:
    now = now or utcnow_for_models()
    since = now - online_ttl(settings_of(session))
    rows = await session.scalars(
        select(AgentPresence.user_id).where(AgentPresence.last_seen_at >= since)
    )
    return set(rows)


async def _candidates(session: AsyncSession, channel_id: int, now: datetime) -> list[int]:
    """Online agents of the channel with room, in round-robin order. Two statements: the
    online agents in order, then their open loads in one GROUP BY (a correlated count per
    agent cost one index probe per online agent on every new conversation)."""
    settings = settings_of(session)
    stmt = (
        select(User.id)
        .join(AgentPresence, AgentPresence.user_id == User.id)
        .where(
            User.active.is_(True),
            User.role == Role.AGENT,
            AgentPresence.last_seen_at >= now - online_ttl(settings),
            _works_on(channel_id),
        )
        .order_by(AgentPresence.last_assigned_at.asc().nulls_first(), User.id)
    )
    online = list(await session.scalars(stmt))
    if not online:
        return []
    rows = await session.execute(
        select(Conversation.assignee_id, func.count(Conversation.id))
        .where(Conversation.assignee_id.in_(online), Conversation.status == ConversationStatus.OPEN)
        .group_by(Conversation.assignee_id)
    )
    loads = {int(user_id): int(n) for user_id, n in rows if user_id is not None}
    return [i for i in online if loads.get(i, 0) < settings.assignment_capacity]


async def _previous_agent(session: AsyncSession, conversation: Conversation) -> int | None:
    return await session.scalar(
        select(Conversation.assignee_id)
        .where(
            Conversation.contact_id == conversation.contact_id,
            Conversation.id != conversation.id,
            Conversation.assignee_id.is_not(None),
        )
        .order_by(Conversation.id.desc())
        .limit(1)
    )


async def _mark_assigned(session: AsyncSession, user_id: int, now: datetime) -> None:
    insert = pg_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert
    stmt = insert(AgentPresence).values(user_id=user_id, last_seen_at=now, last_assigned_at=now)
    await session.execute(
        stmt.on_conflict_do_update(
            index_elements=["user_id"], set_={"last_assigned_at": stmt.excluded.last_assigned_at}
        )
    )


async def assign_new_conversation(session: AsyncSession, conversation: Conversation) -> int | None:
    """Give a just-opened conversation to an online agent (before its created event is
    published, which then carries the assignee). Returns the agent's id or None."""
    if settings_of(session).assignment_capacity <= 0 or conversation.assignee_id is not None:
        return None
    if conversation.channel_id in _facts(session).nobody:
        return None
    await lock_assignment(session)
    now = utcnow_for_models()
    candidates = await _candidates(session, conversation.channel_id, now)
    if not candidates:
        _facts(session).nobody.add(conversation.channel_id)
        return None
    previous = await _previous_agent(session, conversation)
    chosen, rule = (
        (previous, "returning customer")
        if previous in candidates
        else (candidates[0], "round robin")
    )
    assert chosen is not None
    conversation.assignee_id = chosen
    conversation.assigned_at = now
    await _mark_assigned(session, chosen, now)
    record_audit(
        session,
        None,
        "conversation.assigned",
        "conversation",
        conversation.id,
        {"from": None, "to": chosen, "rule": rule},
    )
    return chosen


async def least_loaded_member(
    session: AsyncSession, channel_id: int, exclude: set[int], online: set[int]
) -> int | None:
    """The rule for offboarding without a named successor: an active agent of the
    channel with room, online ones first, then the fewest open conversations."""
    settings = settings_of(session)
    load = _open_load()
    stmt = select(User.id, load).where(
        User.active.is_(True),
        User.role == Role.AGENT,
        User.id.not_in(sorted(exclude)) if exclude else true(),
        _works_on(channel_id),
    )
    if settings.assignment_capacity > 0:
        stmt = stmt.where(load < settings.assignment_capacity)
    rows = (await session.execute(stmt)).all()
    if not rows:
        return None
    return min(rows, key=lambda r: (r[0] not in online, r[1], r[0]))[0]


async def add_system_note(session: AsyncSession, conversation: Conversation, content: str) -> None:
    """A private note from the system (handovers, re-queues): indexed and published."""
    note = Message(
        conversation_id=conversation.id,
        channel_id=conversation.channel_id,
        direction="outbound",
        private=True,
        sender_type=SenderType.SYSTEM,
        sender_id=None,
        sender_name=SYSTEM_NAME,
        content_type="text",
        content=content,
        attachments=[],
        extra={},
        delivery_status=None,
        created_at=utcnow_for_models(),
    )
    session.add(note)
    await session.flush()
    await index_message(session, note)
    publish_message(session, note, EventType.MESSAGE_CREATED)


async def hand_over(
    session: AsyncSession, conversation: Conversation, to: User | None, note: str
) -> None:
    """Move a conversation to `to` (None: the queue) with a system note and an event."""
    now = utcnow_for_models()
    conversation.assignee_id = to.id if to else None
    conversation.assigned_at = now if to else None
    conversation.updated_at = now
    await add_system_note(session, conversation, note)
    await publish_conversation(session, conversation, EventType.CONVERSATION_ASSIGNED)


def _older(column: Any, cutoff: datetime) -> Any:
    return or_(column.is_(None), column < cutoff)


async def requeue_stale(
    session: AsyncSession, *, check_offline: bool = True, batch: int = 100
) -> list[int]:
    """Return to the queue open conversations whose assignee has been offline, or has
    not answered the customer, for longer than configured. Returns their ids."""
    settings = settings_of(session)
    now = utcnow_for_models()
    rules: list[tuple[Any, str]] = []
    if check_offline and settings.assignment_offline_seconds > 0:
        cutoff = now - timedelta(seconds=settings.assignment_offline_seconds)
        seen_lately = exists().where(
            AgentPresence.user_id == Conversation.assignee_id,
            AgentPresence.last_seen_at >= cutoff,
        )
        offline = and_(_older(Conversation.assigned_at, cutoff), ~seen_lately)
        rules.append((offline, "离线"))
    if settings.assignment_unanswered_seconds > 0:
        cutoff = now - timedelta(seconds=settings.assignment_unanswered_seconds)
        unanswered = and_(
            Conversation.last_inbound_at.is_not(None),
            Conversation.last_inbound_at >= Conversation.last_message_at,
            Conversation.last_inbound_at < cutoff,
            _older(Conversation.assigned_at, cutoff),
        )
        minutes = round(settings.assignment_unanswered_seconds / 60)
        rules.append((unanswered, f"{minutes} 分钟未回复"))
    moved: list[int] = []
    for condition, reason in rules:
        rows = await session.scalars(
            select(Conversation)
            .where(
                Conversation.status == ConversationStatus.OPEN,
                Conversation.assignee_id.is_not(None),
                condition,
            )
            .order_by(Conversation.id)
            .limit(batch)
            .with_for_update(skip_locked=True)
        )
        for conversation in rows.all():
            user = await session.get(User, conversation.assignee_id)
            name = user.name if user else f"#{conversation.assignee_id}"
            record_audit(
                session,
                None,
                "conversation.requeued",
                "conversation",
                conversation.id,
                {"from": conversation.assignee_id, "reason": reason},
            )
            await hand_over(session, conversation, None, f"{name} {reason}，会话回到待分配队列")
            moved.append(conversation.id)
    return moved
