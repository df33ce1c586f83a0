"""Follow-up cadence (回访): one open follow-up task per customer, due at
`last_touch + follow_up_days` (contract section 8), where last_touch is the latest of
the last completed follow-up, the last non-private agent reply, the first interaction.
A customer without their own `follow_up_days` is followed up on their tier's default."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, Select, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from app.contacts.actions.task_events import move_tasks_due
from app.contacts.actions.tasks import cancel_task, create_task, move_task_due
from app.models import Contact, Conversation, Message, RetentionScore, Task, TaskKind, TaskStatus

# The tier's default cadence in days (CONTRACT section 8), for customers without their
# own `follow_up_days`; the tiers are the RFM classes of CONTRACT section 11
# (app/retention/tiers.py). "important_*" customers bring most of the revenue, so they
# are called monthly, and sooner when they are slipping away: "keep" (frequent but not
# recent) in three weeks, "retain" (neither recent nor frequent) in two, before they are
# lost. "general_*" customers are worth a touch per quarter at most: two months while
# they still buy recently or often ("value", "develop"), three months otherwise, so the
# to-do list is not flooded with low-value calls. A customer with no tier (no order in
# the last 365 days) gets no automatic follow-up.
TIER_FOLLOW_UP_DAYS: dict[str, int] = {
    "important_value": 30,
    "important_develop": 30,
    "important_keep": 21,
    "important_retain": 14,
    "general_value": 60,
    "general_develop": 60,
    "general_keep": 90,
    "general_retain": 90,
}


def latest_message_of(contact_id: int, *conditions: ColumnElement[bool]) -> Select[datetime]:
    """When the contact's latest message meeting `conditions` was written (NULL: none), over
    all their conversations. Aggregates bypass UTCDateTime on SQLite: naive or text there."""
    return (
        select(func.max(Message.created_at))
        .join(Conversation, Conversation.id == Message.conversation_id)
        .where(Conversation.contact_id == contact_id, *conditions)
    )


def latest_messages_of(
    contact_ids: list[int], *conditions: ColumnElement[bool]
) -> Select[int, datetime]:
    """`latest_message_of` for many contacts at once: (contact id, when) rows, one per
    contact that has such a message."""
    return (
        select(Conversation.contact_id, func.max(Message.created_at))
        .join(Conversation, Conversation.id == Message.conversation_id)
        .where(Conversation.contact_id.in_(contact_ids), *conditions)
        .group_by(Conversation.contact_id)
    )


async def last_touch(session: AsyncSession, contact: Contact) -> datetime:
    done = await session.scalar(
        select(func.max(Task.closed_at)).where(
            Task.contact_id == contact.id,
            Task.kind == TaskKind.FOLLOW_UP,
            Task.status == TaskStatus.DONE,
        )
    )
    replied = await session.scalar(
        latest_message_of(
            contact.id,
            Message.direction == "outbound",
            Message.sender_type == "user",
            Message.private.is_(False),
        )
    )
    first = await session.scalar(
        select(func.min(Conversation.created_at)).where(Conversation.contact_id == contact.id)
    )
    # Aggregates bypass UTCDateTime on SQLite: they come back naive (or as text).
    candidates = [_aware(t) for t in (done, replied, first or contact.created_at) if t]
    return max(candidates)


def _aware(value: datetime | str) -> datetime:
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    return value if value.tzinfo else value.replace(tzinfo=UTC)


async def open_follow_up(session: AsyncSession, contact_id: int) -> Task | None:
    return await session.scalar(
        select(Task).where(
            Task.contact_id == contact_id,
            Task.kind == TaskKind.FOLLOW_UP,
            Task.status == TaskStatus.OPEN,
        )
    )


async def follow_up_days(session: AsyncSession, contact: Contact) -> int | None:
    """The customer's cadence: their own, else their tier's default, else none."""
    if contact.follow_up_days is not None:
        return contact.follow_up_days
    tier = await session.scalar(
        select(RetentionScore.tier).where(RetentionScore.contact_id == contact.id)
    )
    return TIER_FOLLOW_UP_DAYS.get(tier) if tier else None


async def schedule_follow_up(session: AsyncSession, contact: Contact) -> Task | None:
    """Make the open follow-up task agree with the cadence: create, move, or cancel it."""
    current = await open_follow_up(session, contact.id)
    days = await follow_up_days(session, contact)
    if days is None:
        contact.next_follow_up_at = None
        if current is not None:
            await cancel_task(session, current, "回访周期已取消")
        return None
    due = await last_touch(session, contact) + timedelta(days=days)
    contact.next_follow_up_at = due
    if current is not None:
        await move_task_due(session, current, due)
        return current
    closed = await session.scalar(
        select(func.count()).where(
            Task.contact_id == contact.id,
            Task.kind == TaskKind.FOLLOW_UP,
            Task.status != TaskStatus.OPEN,
        )
    )
    return await create_task(
        session,
        kind=TaskKind.FOLLOW_UP,
        title=f"回访 {contact.name}".strip(),
        contact_id=contact.id,
        due_at=due,
        assignee_id=contact.owner_id,
        source="follow_up",
        # One task per cycle: the n-th cycle after n closed follow-ups.
        occasion_key=f"follow_up:{contact.id}:{closed}",
    )


async def last_touches(session: AsyncSession, contacts: Sequence[Any]) -> dict[int, datetime]:
    """`last_touch` of each of `contacts`, in three grouped queries."""
    ids = [c.id for c in contacts]
    done = dict(
        (
            await session.execute(
                select(Task.contact_id, func.max(Task.closed_at))
                .where(
                    Task.contact_id.in_(ids),
                    Task.kind == TaskKind.FOLLOW_UP,
                    Task.status == TaskStatus.DONE,
                )
                .group_by(Task.contact_id)
            )
        ).all()
    )
    replied = dict(
        (
            await session.execute(
                latest_messages_of(
                    ids,
                    Message.direction == "outbound",
                    Message.sender_type == "user",
                    Message.private.is_(False),
                )
            )
        ).all()
    )
    first = dict(
        (
            await session.execute(
                select(Conversation.contact_id, func.min(Conversation.created_at))
                .where(Conversation.contact_id.in_(ids))
                .group_by(Conversation.contact_id)
            )
        ).all()
    )
    out: dict[int, datetime] = {}
    for c in contacts:
        times = (done.get(c.id), replied.get(c.id), first.get(c.id) or c.created_at)
        out[c.id] = max(_aware(t) for t in times if t)
    return out


async def schedule_follow_ups(
    session: AsyncSession, contacts: Sequence[Any], tiers: dict[int, str | None]
) -> list[dict[str, Any]]:
    """`schedule_follow_up` for many customers whose tier is known (`tiers`, by contact id):
    the same outcome in a few queries. `contacts`: rows with id, name, owner_id,
    follow_up_days and created_at (their `next_follow_up_at` is written by primary key:
    contacts loaded in the session are not refreshed). Open tasks are moved here in one flush, or
    cancelled (rare: a tier lost); the tasks to create are returned as rows for `create_tasks`,
    so the caller inserts a whole batch's at once."""
    if not contacts:
        return []
    ids = [c.id for c in contacts]
    current: dict[int, Task] = {}
    for task in await session.scalars(
        select(Task)
        .where(
            Task.contact_id.in_(ids),
            Task.kind == TaskKind.FOLLOW_UP,
            Task.status == TaskStatus.OPEN,
        )
        .order_by(Task.id)
    ):
        current.setdefault(task.contact_id, task)
    closed = dict(
        (
            await session.execute(
                select(Task.contact_id, func.count())
                .where(
                    Task.contact_id.in_(ids),
                    Task.kind == TaskKind.FOLLOW_UP,
                    Task.status != TaskStatus.OPEN,
                )
                .group_by(Task.contact_id)
            )
        ).all()
    )
    touched = await last_touches(session, contacts)
    rows: list[dict[str, Any]] = []
    moves: list[tuple[Task, datetime]] = []
    nexts: list[dict[str, Any]] = []
    for contact in contacts:
        tier = tiers.get(contact.id)
        days = contact.follow_up_days
        if days is None:
            days = TIER_FOLLOW_UP_DAYS.get(tier) if tier else None
        open_task = current.get(contact.id)
        if days is None:
            nexts.append({"id": contact.id, "next_follow_up_at": None})
            if open_task is not None:
                await cancel_task(session, open_task, "回访周期已取消")
            continue
        due = touched[contact.id] + timedelta(days=days)
        nexts.append({"id": contact.id, "next_follow_up_at": due})
        if open_task is not None:
            moves.append((open_task, due))
            continue
        rows.append(
            {
                "kind": TaskKind.FOLLOW_UP,
                "title": f"回访 {contact.name}".strip(),
                "contact_id": contact.id,
                "due_at": due,
                "assignee_id": contact.owner_id,
                "occasion_key": f"follow_up:{contact.id}:{closed.get(contact.id, 0)}",
            }
        )
    await session.execute(update(Contact), nexts)  # by primary key, one executemany
    await move_tasks_due(session, moves)
    return rows
