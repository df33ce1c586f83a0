"""REST API for the customer record (CONTRACT section 8): customers list, tasks, holidays."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel, Field

from app.audit import record_audit
from app.contacts import calendar
from app.contacts.actions.followup import TIER_FOLLOW_UP_DAYS
from app.contacts.actions.lifecycle import set_lifecycle
from app.contacts.actions.merge import merge_contacts, unmerge_contacts
from app.contacts.actions.tasks import (
    TaskOut,
    cancel_task,
    complete_task,
    create_task,
    snooze_task,
    task_out,
)
from app.contacts.customers_queries import list_customers
from app.contacts.queries import access_contact, contact_view
from app.contacts.task_queries import access_task, list_tasks, todo_counts
from app.deps import AdminDep, SessionDep, ViewerDep
from app.errors import BadRequest
from app.models import Conversation, HolidayDay, TaskKind, User, utcnow_for_models
from app.pagination import PageDep

router = APIRouter(prefix="/api/v1", tags=["customers"])

WhoQuery = Annotated[str | None, Query(pattern=r"^(me|none|\d{1,10})$")]


@dataclass(frozen=True)
class CustomerFilters:
    """The customers list's query parameters, handed to `list_customers` as they are."""

    q: Annotated[str | None, Query(max_length=200)] = None
    owner: WhoQuery = None
    lifecycle: Annotated[str | None, Query(pattern="^(new|active|at_risk|lost|recovered)$")] = None
    tier: str | None = None
    channel_id: int | None = None
    sort: Annotated[str, Query(pattern="^(recent|risk)$")] = "recent"


@router.get("/contacts")
async def get_customers(
    session: SessionDep,
    viewer: ViewerDep,
    f: Annotated[CustomerFilters, Depends()],
    pg: PageDep,
) -> dict[str, Any]:
    """Customers, most recent activity first, or highest risk first (`sort=risk`)."""
    if f.tier and f.tier not in TIER_FOLLOW_UP_DAYS:
        raise BadRequest("tier: must be one of " + ", ".join(TIER_FOLLOW_UP_DAYS))
    return await pg.answer(list_customers, session, viewer, **vars(f))


@dataclass(frozen=True)
class TaskFilters:
    """The to-do list's query parameters, handed to `list_tasks` as they are."""

    assignee: WhoQuery = None
    status: Annotated[str, Query(pattern="^(open|done|cancelled)$")] = "open"
    due: Annotated[str | None, Query(pattern="^(overdue|today|week)$")] = None
    kind: Annotated[str | None, Query(max_length=20)] = None
    contact_id: int | None = None


@router.get("/tasks")
async def get_tasks(
    session: SessionDep,
    viewer: ViewerDep,
    f: Annotated[TaskFilters, Depends()],
    pg: PageDep,
) -> dict[str, Any]:
    return await pg.answer(list_tasks, session, viewer, **vars(f))


@router.get("/tasks/counts")
async def get_task_counts(session: SessionDep, viewer: ViewerDep) -> dict[str, int]:
    """The viewer's own open tasks: overdue, today, this week, due (overdue + today); and
    whether today is a working day."""
    return await todo_counts(session, viewer)


class TaskIn(BaseModel):
    contact_id: int
    title: str = Field(min_length=1, max_length=300)
    due_at: datetime
    assignee_id: int | None = None
    conversation_id: int | None = None


@router.post("/tasks", status_code=201)
async def post_task(body: TaskIn, session: SessionDep, viewer: ViewerDep) -> TaskOut:
    contact = await access_contact(session, viewer, body.contact_id)
    title = " ".join(body.title.split())
    if not title:
        raise BadRequest("title must not be empty")
    if body.due_at.tzinfo is None:
        raise BadRequest("due_at: give a time with its time zone")
    assignee_id = body.assignee_id if body.assignee_id is not None else contact.owner_id
    if assignee_id is not None:
        user = await session.get(User, assignee_id)
        if user is None or not user.active:
            raise BadRequest(f"assignee_id: no active user with id {assignee_id}")
    if body.conversation_id is not None:
        conversation = await session.get(Conversation, body.conversation_id)
        if conversation is None or conversation.contact_id != contact.id:
            raise BadRequest("conversation_id: not a conversation of this customer")
    task = await create_task(
        session,
        kind=TaskKind.MANUAL,
        title=title,
        contact_id=contact.id,
        due_at=body.due_at,
        assignee_id=assignee_id,
        source="manual",
        conversation_id=body.conversation_id,
        created_by_id=viewer.id,
    )
    assert task is not None
    return await task_out(session, task)


class CompleteIn(BaseModel):
    outcome: str | None = Field(default=None, max_length=2000)


class SnoozeIn(BaseModel):
    until: datetime


@router.post("/tasks/{task_id}/complete")
async def post_complete(
    task_id: int, session: SessionDep, viewer: ViewerDep, body: CompleteIn | None = None
) -> TaskOut:
    task = await access_task(session, viewer, task_id, for_update=True)
    await complete_task(session, task, body.outcome if body else None)
    return await task_out(session, task)


@router.post("/tasks/{task_id}/cancel")
async def post_cancel(task_id: int, session: SessionDep, viewer: ViewerDep) -> TaskOut:
    task = await access_task(session, viewer, task_id, for_update=True)
    await cancel_task(session, task, None)
    return await task_out(session, task)


@router.post("/tasks/{task_id}/snooze")
async def post_snooze(
    task_id: int, body: SnoozeIn, session: SessionDep, viewer: ViewerDep
) -> TaskOut:
    task = await access_task(session, viewer, task_id, for_update=True)
    await snooze_task(session, task, body.until)
    return await task_out(session, task)


class HolidayIn(BaseModel):
    day: date
    workday: bool  # false: a holiday; true: a make-up working day
    name: str = Field(default="", max_length=100)


class HolidaysIn(BaseModel):
    days: list[HolidayIn] = Field(max_length=400)


@router.get("/holidays/{year}")
async def get_holidays(year: int, session: SessionDep, viewer: ViewerDep) -> dict[str, Any]:
    """The admin's holiday and make-up days for a year, and whether the library knows it."""
    if not 2000 <= year <= 2099:
        raise BadRequest("year: 2000-2099")
    rows = await calendar.holiday_rows(session, year)
    return {
        "year": year,
        "library_knows_year": calendar.library_knows(year),
        "days": [{"day": r.day.isoformat(), "workday": r.workday, "name": r.name} for r in rows],
    }


@router.put("/holidays/{year}")
async def put_holidays(
    year: int, body: HolidaysIn, session: SessionDep, viewer: AdminDep
) -> dict[str, Any]:
    """Replace the year's table (the State Council's schedule as the admin entered it)."""
    if not 2000 <= year <= 2099:
        raise BadRequest("year: 2000-2099")
    bad = [d.day.isoformat() for d in body.days if d.day.year != year]
    if bad:
        raise BadRequest(f"days not in {year}: {', '.join(bad)}")
    for row in await calendar.holiday_rows(session, year):
        await session.delete(row)
    await session.flush()
    now = utcnow_for_models()
    for d in {d.day: d for d in body.days}.values():
        session.add(HolidayDay(day=d.day, workday=d.workday, name=d.name.strip(), updated_at=now))
    record_audit(
        session, viewer.user, "holidays.updated", "holidays", year, {"days": len(body.days)}
    )
    await session.flush()
    calendar.forget_admin_table(session)
    return await get_holidays(year, session, viewer)


class MergeIn(BaseModel):
    other_id: int


class UnmergeIn(BaseModel):
    merge_id: int


@router.post("/contacts/{contact_id}/merge")
async def post_merge(
    contact_id: int, body: MergeIn, session: SessionDep, viewer: ViewerDep
) -> dict[str, Any]:
    """The other customer's identities, conversations, orders, tasks and dates move here."""
    contact = await access_contact(session, viewer, contact_id)
    other = await access_contact(session, viewer, body.other_id)
    merge = await merge_contacts(session, viewer, contact, other)
    view = await contact_view(session, viewer, contact.id)
    return {**view.model_dump(mode="json"), "merge_id": merge.id}


@router.post("/contacts/{contact_id}/unmerge")
async def post_unmerge(
    contact_id: int, body: UnmergeIn, session: SessionDep, viewer: ViewerDep
) -> dict[str, Any]:
    contact = await access_contact(session, viewer, contact_id)
    await unmerge_contacts(session, viewer, contact, body.merge_id)
    return (await contact_view(session, viewer, contact.id)).model_dump(mode="json")


class LifecycleIn(BaseModel):
    lifecycle: str = Field(max_length=20)
    reason: str | None = Field(default=None, max_length=1000)


@router.post("/contacts/{contact_id}/lifecycle")
async def post_lifecycle(
    contact_id: int, body: LifecycleIn, session: SessionDep, viewer: ViewerDep
) -> dict[str, Any]:
    """Mark a customer lost (with a reason) or active again."""
    contact = await access_contact(session, viewer, contact_id)
    await set_lifecycle(session, viewer, contact, body.lifecycle, body.reason)
    return (await contact_view(session, viewer, contact.id)).model_dump(mode="json")
