"""Follow-up cadence (回访): one open follow-up task per customer, due at
`last_touch + follow_up_days` (contract section 8), where last_touch is the latest of
the last completed follow-up, the last non-private agent reply, the first interaction.
A customer without their own `follow_up_days` is followed up on their tier's default."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

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


async def last_touch(session: AsyncSession, contact: Contact) -> datetime:
    done = await session.scalar(
        select(func.max(Task.closed_at)).where(
            Task.contact_id == contact.id,
            Task.kind == TaskKind.FOLLOW_UP,
            Task.status == TaskStatus.DONE,
        )
    )
    replied = await session.scalar(
        select(func.max(Message.created_at))
        .join(Conversation, Conversation.id == Message.conversation_id)
        .where(
            Conversation.contact_id == contact.id,
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
