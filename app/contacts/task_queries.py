"""The to-do list: tasks by assignee, status and due window, soonest due first."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, exists, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.accounts.viewer import Viewer
from app.contacts.actions.tasks import TaskOut, tasks_out
from app.contacts.calendar import day_start, is_workday, today, week_end
from app.db import row_by_id
from app.errors import BadRequest, NotFound
from app.models import ContactIdentity, Task, TaskStatus
from app.pagination import decode_cursor, encode_cursor


def _visible(viewer: Viewer) -> Any:
    clause = viewer.channel_clause(ContactIdentity.channel_id)
    if clause is None:
        return None
    return exists().where(ContactIdentity.contact_id == Task.contact_id, clause)


def due_bounds(due: str) -> tuple[datetime | None, datetime]:
    """[from, to) of a due window in business time: overdue is before today."""
    day = today()
    start = day_start(day)
    if due == "overdue":
        return None, start
    if due == "today":
        return start, day_start(day + timedelta(days=1))
    return start, day_start(week_end(day) + timedelta(days=1))  # week: today to Sunday


async def list_tasks(
    session: AsyncSession,
    viewer: Viewer,
    *,
    assignee: str | None,
    status: str,
    due: str | None,
    kind: str | None,
    contact_id: int | None,
    cursor: str | None,
    limit: int,
) -> tuple[list[TaskOut], str | None]:
    stmt = select(Task).where(Task.status == status)
    visible = _visible(viewer)
    if visible is not None:
        stmt = stmt.where(visible)
    if assignee:
        stmt = stmt.where(viewer.person_clause(Task.assignee_id, assignee))
    if due:
        lo, hi = due_bounds(due)
        stmt = stmt.where(Task.due_at < hi)
        if lo is not None:
            stmt = stmt.where(Task.due_at >= lo)
    if kind:
        stmt = stmt.where(Task.kind == kind)
    if contact_id is not None:
        stmt = stmt.where(Task.contact_id == contact_id)
    if cursor:
        at, after = decode_cursor(cursor, 2)
        try:
            when = datetime.fromisoformat(at) if isinstance(at, str) else None
        except ValueError:
            when = None
        if when is None or not isinstance(after, int) or isinstance(after, bool):
            raise BadRequest("invalid cursor")
        stmt = stmt.where(or_(Task.due_at > when, and_(Task.due_at == when, Task.id > after)))
    rows = list((await session.scalars(stmt.order_by(Task.due_at, Task.id).limit(limit + 1))).all())
    nxt = None
    if len(rows) > limit:
        last = rows[limit - 1]
        nxt = encode_cursor([last.due_at.isoformat(), last.id])
    return await tasks_out(session, rows[:limit]), nxt


async def todo_counts(session: AsyncSession, viewer: Viewer) -> dict[str, int]:
    """The viewer's open tasks due by the end of today (the inbox top bar) by window."""
    windows = ("overdue", "today", "week")
    bounds = [due_bounds(due) for due in windows]
    # One read of the viewer's open tasks up to the end of the week (the widest window),
    # counted per window: every page's top bar asks for this.
    row = (
        await session.execute(
            select(
                *(
                    func.count().filter(
                        Task.due_at < hi, *(() if lo is None else (Task.due_at >= lo,))
                    )
                    for lo, hi in bounds
                )
            ).where(
                Task.assignee_id == viewer.id,
                Task.status == TaskStatus.OPEN,
                Task.due_at < max(hi for _, hi in bounds),
            )
        )
    ).one()
    counts = {due: int(n or 0) for due, n in zip(windows, row, strict=True)}
    counts["due"] = counts["overdue"] + counts["today"]
    # 1 on a working day in China (admin table, library, else weekends): the to-do page
    # says when today is a holiday, so a shop knows why customers are quiet.
    counts["workday"] = int(await is_workday(session, today()))
    return counts


async def access_task(
    session: AsyncSession, viewer: Viewer, task_id: int, *, for_update: bool = False
) -> Task:
    task = await row_by_id(session, Task, task_id, for_update=for_update)
    if task is None:
        raise NotFound("task not found")
    if viewer.channel_ids is not None:
        channels = await session.scalars(
            select(ContactIdentity.channel_id).where(ContactIdentity.contact_id == task.contact_id)
        )
        if not any(viewer.can_see_channel(ch) for ch in channels):
            raise NotFound("task not found")
    return task
