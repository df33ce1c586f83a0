"""Tasks: the one place that creates, completes, cancels and snoozes them.

Every change queues `task.created` or `task.updated` with the task, so the to-do
page and the inbox counter follow live. A task made for an occasion (a birthday
this year, an order item's warranty, a follow-up cycle) carries a unique
`occasion_key`: the insert is `ON CONFLICT DO NOTHING`, so two sweeps or two
workers never make two tasks for one occasion.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel
from sqlalchemy import func, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from app.errors import BadRequest, Conflict
from app.models import (
    Contact,
    ContactIdentity,
    Conversation,
    ConversationStatus,
    Task,
    TaskKind,
    TaskStatus,
    User,
    utcnow_for_models,
)
from app.realtime.events import EventType, publish


class PersonRef(BaseModel):
    id: int
    name: str


class TaskOut(BaseModel):
    id: int
    kind: str
    title: str
    contact: PersonRef
    conversation_id: int | None
    assignee: PersonRef | None
    due_at: datetime
    status: str
    outcome: str | None
    source: str
    # Can the customer be written to now: "open_window" (until), "closed", "unreachable".
    reach: str
    reach_until: datetime | None
    created_at: datetime
    closed_at: datetime | None


async def reach_of(
    session: AsyncSession, contact_ids: list[int]
) -> dict[int, tuple[str, datetime | None]]:
    """Per contact: an open reply window (latest until), closed, or unreachable everywhere."""
    if not contact_ids:
        return {}
    now = utcnow_for_models()
    windows = dict(
        (
            await session.execute(
                select(Conversation.contact_id, func.max(Conversation.reply_window_expires_at))
                .where(
                    Conversation.contact_id.in_(contact_ids),
                    Conversation.status != ConversationStatus.RESOLVED,
                    Conversation.reply_window_expires_at > now,
                )
                .group_by(Conversation.contact_id)
            )
        ).all()
    )
    reachable = set(
        await session.scalars(
            select(ContactIdentity.contact_id)
            .where(
                ContactIdentity.contact_id.in_(contact_ids),
                ContactIdentity.unreachable.is_(False),
            )
            .distinct()
        )
    )
    out: dict[int, tuple[str, datetime | None]] = {}
    for cid in contact_ids:
        if cid in windows:
            out[cid] = ("open_window", windows[cid])
        elif cid in reachable:
            out[cid] = ("closed", None)
        else:
            out[cid] = ("unreachable", None)
    return out


async def tasks_out(session: AsyncSession, tasks: list[Task]) -> list[TaskOut]:
    contact_ids = sorted({t.contact_id for t in tasks})
    user_ids = sorted({t.assignee_id for t in tasks if t.assignee_id is not None})
    names = (
        dict(
            (
                await session.execute(
                    select(Contact.id, Contact.name).where(Contact.id.in_(contact_ids))
                )
            ).all()
        )
        if contact_ids
        else {}
    )
    users = (
        dict((await session.execute(select(User.id, User.name).where(User.id.in_(user_ids)))).all())
        if user_ids
        else {}
    )
    reach = await reach_of(session, contact_ids)
    return [
        TaskOut(
            id=t.id,
            kind=t.kind,
            title=t.title,
            contact=PersonRef(id=t.contact_id, name=names.get(t.contact_id, "")),
            conversation_id=t.conversation_id,
            assignee=PersonRef(id=t.assignee_id, name=users.get(t.assignee_id, ""))
            if t.assignee_id is not None
            else None,
            due_at=t.due_at,
            status=t.status,
            outcome=t.outcome,
            source=t.source,
            reach=reach[t.contact_id][0],
            reach_until=reach[t.contact_id][1],
            created_at=t.created_at,
            closed_at=t.closed_at,
        )
        for t in tasks
    ]


async def task_out(session: AsyncSession, task: Task) -> TaskOut:
    return (await tasks_out(session, [task]))[0]


async def contact_channel(session: AsyncSession, contact_id: int) -> int | None:
    """The channel an event about this customer is filed under (agents limited to some
    channels receive events of the channels they see)."""
    return await session.scalar(
        select(ContactIdentity.channel_id)
        .where(ContactIdentity.contact_id == contact_id)
        .order_by(ContactIdentity.id)
        .limit(1)
    )


# A session whose info holds a list under this key collects the ids of the tasks it
# creates instead of announcing each one: the sweep, which may make thousands, announces
# them once it knows how many (app/contacts/actions/task_events.py).
HELD_TASK_IDS = "huiliu_held_task_ids"


async def publish_task(session: AsyncSession, task: Task, type: EventType) -> None:
    held = session.info.get(HELD_TASK_IDS)
    if held is not None and type == EventType.TASK_CREATED:
        held.append(task.id)
        return
    publish(
        session,
        type,
        await task_out(session, task),
        channel_id=await contact_channel(session, task.contact_id),
        conversation_id=task.conversation_id,
    )


async def create_task(
    session: AsyncSession,
    *,
    kind: str,
    title: str,
    contact_id: int,
    due_at: datetime,
    assignee_id: int | None,
    source: str,
    occasion_key: str | None = None,
    conversation_id: int | None = None,
    created_by_id: int | None = None,
) -> Task | None:
    """Insert a task and announce it; None when a task for that occasion already exists."""
    now = utcnow_for_models()
    values: dict[str, Any] = {
        "kind": kind,
        "title": title[:300],
        "contact_id": contact_id,
        "conversation_id": conversation_id,
        "assignee_id": assignee_id,
        "due_at": due_at,
        "status": TaskStatus.OPEN,
        "source": source,
        "occasion_key": occasion_key,
        "created_by_id": created_by_id,
        "snoozed_count": 0,
        "created_at": now,
        "updated_at": now,
    }
    dialect = session.get_bind().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    stmt = insert(Task).values(**values)
    if occasion_key is not None:
        stmt = stmt.on_conflict_do_nothing(index_elements=["occasion_key"])
    task_id = await session.scalar(stmt.returning(Task.id))
    if task_id is None:
        return None
    task = await session.get(Task, task_id)
    assert task is not None
    await publish_task(session, task, EventType.TASK_CREATED)
    return task


def _require_open(task: Task) -> None:
    if task.status != TaskStatus.OPEN:
        raise Conflict(f"this task is {task.status}")


async def complete_task(session: AsyncSession, task: Task, outcome: str | None) -> Task:
    """Done, with what came of it; a follow-up needs an outcome and starts the next cycle."""
    _require_open(task)
    outcome = (outcome or "").strip() or None
    if task.kind == TaskKind.FOLLOW_UP and outcome is None:
        raise BadRequest("outcome: a follow-up needs its outcome (what the customer said)")
    await _close(session, task, TaskStatus.DONE, outcome)
    if task.kind == TaskKind.FOLLOW_UP:
        from app.contacts.actions.followup import schedule_follow_up

        contact = await session.get(Contact, task.contact_id)
        assert contact is not None
        await schedule_follow_up(session, contact)
    return task


async def cancel_task(session: AsyncSession, task: Task, reason: str | None = None) -> Task:
    _require_open(task)
    return await _close(session, task, TaskStatus.CANCELLED, reason)


async def _close(
    session: AsyncSession, task: Task, status: TaskStatus, outcome: str | None
) -> Task:
    """Done or cancelled, with what came of it (or why), now; the task lists are told."""
    now = utcnow_for_models()
    task.status = status
    task.outcome = outcome
    task.closed_at = now
    task.updated_at = now
    await session.flush()
    await publish_task(session, task, EventType.TASK_UPDATED)
    return task


async def snooze_task(session: AsyncSession, task: Task, until: datetime) -> Task:
    _require_open(task)
    if until.tzinfo is None:
        raise BadRequest("until: give a time with its time zone (e.g. 2026-12-24T09:00:00+08:00)")
    if until <= utcnow_for_models():
        raise BadRequest("until: must be in the future")
    task.due_at = until
    task.snoozed_count += 1
    task.updated_at = utcnow_for_models()
    await session.flush()
    await publish_task(session, task, EventType.TASK_UPDATED)
    return task


async def move_task_due(session: AsyncSession, task: Task, due_at: datetime) -> None:
    if task.due_at != due_at:
        task.due_at = due_at
        task.updated_at = utcnow_for_models()
        await session.flush()
        await publish_task(session, task, EventType.TASK_UPDATED)
