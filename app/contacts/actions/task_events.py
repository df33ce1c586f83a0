"""Announcing tasks made in bulk: one by one up to BULK_LIMIT, else one summary.

A sweep that finds a thousand birthdays, or an import with a thousand warranties,
must not send a thousand `task.created` frames to every open page (each page would
reload its list a thousand times). Up to BULK_LIMIT tasks are announced one by one as
usual; more make one `task.bulk_created` with how many, of which kinds, for whom: the
to-do page and the inbox's counter reload once.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from datetime import datetime
from typing import Any

from pydantic import BaseModel
from sqlalchemy import func, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from app.contacts.actions.tasks import HELD_TASK_IDS, tasks_out
from app.models import ContactIdentity, Task, TaskStatus, utcnow_for_models
from app.realtime.events import EventType, publish

BULK_LIMIT = 200
CHUNK = 500


class TasksCreated(BaseModel):
    """`task.bulk_created`: `count` tasks, by kind and by assignee id ("none": nobody)."""

    count: int
    kinds: dict[str, int]
    assignees: dict[str, int]
    source: str


def _chunks(ids: list[int]) -> Iterator[list[int]]:
    for start in range(0, len(ids), CHUNK):
        yield ids[start : start + CHUNK]


async def _announce_each(
    session: AsyncSession, ids: list[int], type: EventType = EventType.TASK_CREATED
) -> None:
    """task.created (or `type`) for each, as publish_task would send it, in a few queries."""
    tasks = list(await session.scalars(select(Task).where(Task.id.in_(ids)).order_by(Task.id)))
    contact_ids = sorted({t.contact_id for t in tasks})
    # The channel an event is filed under: the contact's first identity's (contact_channel).
    first = (
        select(ContactIdentity.contact_id, func.min(ContactIdentity.id).label("first"))
        .where(ContactIdentity.contact_id.in_(contact_ids))
        .group_by(ContactIdentity.contact_id)
        .subquery()
    )
    channels = dict(
        (
            await session.execute(
                select(ContactIdentity.contact_id, ContactIdentity.channel_id).join(
                    first, ContactIdentity.id == first.c.first
                )
            )
        ).all()
    )
    for task, out in zip(tasks, await tasks_out(session, tasks), strict=True):
        publish(
            session,
            type,
            out,
            channel_id=channels.get(task.contact_id),
            conversation_id=task.conversation_id,
        )


async def announce_created(session: AsyncSession, task_ids: list[int], source: str) -> None:
    """Queue the events for tasks just made (committed with `session`)."""
    ids = sorted(set(task_ids))
    if len(ids) <= BULK_LIMIT:
        await _announce_each(session, ids)
        return
    kinds: Counter[str] = Counter()
    assignees: Counter[str] = Counter()
    for batch in _chunks(ids):
        for kind, assignee, n in await session.execute(
            select(Task.kind, Task.assignee_id, func.count())
            .where(Task.id.in_(batch))
            .group_by(Task.kind, Task.assignee_id)
        ):
            kinds[kind] += n
            assignees["none" if assignee is None else str(assignee)] += n
    summary = TasksCreated(
        count=sum(kinds.values()),
        kinds=dict(sorted(kinds.items())),
        assignees=dict(sorted(assignees.items())),
        source=source,
    )
    publish(session, EventType.TASK_BULK_CREATED, summary, channel_id=None, conversation_id=None)


async def create_tasks(session: AsyncSession, rows: list[dict[str, Any]], source: str) -> list[int]:
    """`create_task` for many tasks at once: chunked `INSERT ... ON CONFLICT DO NOTHING`
    (a task whose occasion already has one is skipped), the new ids returned. Each row
    gives kind, title, contact_id, due_at, assignee_id and occasion_key. The new tasks are
    held when the session holds task ids (HELD_TASK_IDS, the caller announces them all
    at its end), else announced now as `announce_created` does."""
    if not rows:
        return []
    now = utcnow_for_models()
    values = [
        {
            "kind": r["kind"],
            "title": r["title"][:300],
            "contact_id": r["contact_id"],
            "conversation_id": r.get("conversation_id"),
            "assignee_id": r["assignee_id"],
            "due_at": r["due_at"],
            "status": TaskStatus.OPEN,
            "source": source,
            "occasion_key": r.get("occasion_key"),
            "created_by_id": None,
            "snoozed_count": 0,
            "created_at": now,
            "updated_at": now,
        }
        for r in rows
    ]
    dialect = session.get_bind().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    # One statement compiled once, its rows sent as the driver's executemany (the
    # "insertmanyvalues" of SQLAlchemy 2): a multi-row VALUES would be compiled anew for
    # every batch.
    stmt = insert(Task).on_conflict_do_nothing(index_elements=["occasion_key"]).returning(Task.id)
    # render_nulls: the ORM otherwise leaves a None (no assignee, no occasion) out of its
    # row and sends each run of rows with the same keys as its own statement; a first
    # retention pass (owned and unowned customers interleaved) made hundreds per batch.
    made = [
        i
        for i in await session.scalars(stmt, values, execution_options={"render_nulls": True})
        if i is not None
    ]
    held = session.info.get(HELD_TASK_IDS)
    if held is not None:
        held.extend(made)
    elif made:
        await announce_created(session, made, source)
    return made


async def move_tasks_due(session: AsyncSession, moves: list[tuple[Task, datetime]]) -> None:
    """`move_task_due` for many tasks: one flush, then `task.updated` for each moved."""
    now = utcnow_for_models()
    moved = []
    for task, due_at in moves:
        if task.due_at != due_at:
            task.due_at, task.updated_at = due_at, now
            moved.append(task.id)
    if moved:
        await session.flush()
        await _announce_each(session, moved, EventType.TASK_UPDATED)
