"""The writes of invitation campaigns: create and edit a campaign, list invitees, move them.

The state machine is CONTRACT section 10's, and nothing else: a move it does not list, or a
confirmation beyond the capacity, is refused with 409 and the reason. Every move is kept
(`campaign_transitions`: who, when, from, to, note). The tasks go through
app/contacts/actions/tasks.py with an occasion key per campaign and customer, so listing or
confirming twice never makes a second task.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.accounts.viewer import Viewer
from app.campaigns.mix import segments_of
from app.contacts.actions.tasks import complete_task, create_task, move_task_due
from app.contacts.calendar import day_start, is_workday, local_day, today
from app.errors import BadRequest, Conflict
from app.models import (
    Campaign,
    CampaignInvitee,
    CampaignTaskKind,
    CampaignTransition,
    Contact,
    InviteeState,
    Task,
    TaskStatus,
    utcnow_for_models,
)

S = InviteeState
# CONTRACT section 10, exactly.
TRANSITIONS: dict[str, frozenset[str]] = {
    S.LISTED: frozenset({S.CONTACTED}),
    S.CONTACTED: frozenset({S.CONFIRMED, S.DECLINED, S.NO_ANSWER}),
    S.NO_ANSWER: frozenset({S.CONTACTED}),
    S.CONFIRMED: frozenset({S.REMINDED}),
    S.REMINDED: frozenset({S.ATTENDED, S.NO_SHOW}),
}
# The states that hold a seat (capacity is checked when confirming).
SEATED = (S.CONFIRMED, S.REMINDED, S.ATTENDED)
INVITE_DAYS_BEFORE = 3  # the seeds' workflow: phone or message 2-3 days before
REMIND_DAYS_BEFORE = 1  # ... and remind the day before
MAX_INVITEES = 500  # one request's worth; a shop's event holds tens


async def invite_due(session: AsyncSession, starts_at: datetime) -> datetime:
    """The start of the day 3 days before, moved back to a working day (China's calendar)."""
    day = local_day(starts_at) - timedelta(days=INVITE_DAYS_BEFORE)
    for _ in range(60):  # the longest holiday run is 8 days; 60 is a safe bound
        if await is_workday(session, day):
            break
        day -= timedelta(days=1)
    return max(day_start(day), day_start(today()))


def remind_due(starts_at: datetime) -> datetime:
    day = local_day(starts_at) - timedelta(days=REMIND_DAYS_BEFORE)
    return max(day_start(day), day_start(today()))


def _clean(text: str, field: str, *, required: bool) -> str:
    cleaned = " ".join(text.split())
    if required and not cleaned:
        raise BadRequest(f"{field} must not be empty")
    return cleaned


def _check_start(starts_at: datetime) -> None:
    if starts_at.tzinfo is None:
        raise BadRequest("starts_at: give a time with its time zone (e.g. 2026-12-24T14:00+08:00)")
    if starts_at <= utcnow_for_models():
        raise BadRequest("starts_at: the start time is in the past")


async def create_campaign(
    session: AsyncSession,
    viewer: Viewer,
    *,
    title: str,
    starts_at: datetime,
    capacity: int,
    location: str,
) -> Campaign:
    _check_start(starts_at)
    now = utcnow_for_models()
    campaign = Campaign(
        title=_clean(title, "title", required=True),
        starts_at=starts_at,
        capacity=capacity,
        location=_clean(location, "location", required=False),
        created_by_id=viewer.id,
        created_at=now,
        updated_at=now,
    )
    session.add(campaign)
    await session.flush()
    return campaign


async def seats_taken(session: AsyncSession, campaign_id: int) -> int:
    return int(
        await session.scalar(
            select(func.count()).where(
                CampaignInvitee.campaign_id == campaign_id, CampaignInvitee.state.in_(SEATED)
            )
        )
        or 0
    )


async def update_campaign(
    session: AsyncSession,
    campaign: Campaign,
    *,
    title: str | None,
    starts_at: datetime | None,
    capacity: int | None,
    location: str | None,
) -> Campaign:
    """Edit; a new start time moves the open invite and remind tasks with it."""
    if title is not None:
        campaign.title = _clean(title, "title", required=True)
    if location is not None:
        campaign.location = _clean(location, "location", required=False)
    if capacity is not None:
        taken = await seats_taken(session, campaign.id)
        if capacity < taken:
            raise Conflict(f"capacity: {taken} invitees have already confirmed")
        campaign.capacity = capacity
    if starts_at is not None and starts_at != campaign.starts_at:
        _check_start(starts_at)
        campaign.starts_at = starts_at
        await _move_tasks(session, campaign)
    campaign.updated_at = utcnow_for_models()
    await session.flush()
    return campaign


async def _move_tasks(session: AsyncSession, campaign: Campaign) -> None:
    invitees = list(
        await session.scalars(
            select(CampaignInvitee).where(CampaignInvitee.campaign_id == campaign.id)
        )
    )
    due = {
        CampaignTaskKind.INVITE: await invite_due(session, campaign.starts_at),
        CampaignTaskKind.REMIND: remind_due(campaign.starts_at),
    }
    task_ids = [t for i in invitees for t in (i.invite_task_id, i.remind_task_id) if t]
    if not task_ids:
        return
    tasks = await session.scalars(
        select(Task).where(Task.id.in_(task_ids), Task.status == TaskStatus.OPEN)
    )
    for task in tasks:
        await move_task_due(session, task, due[CampaignTaskKind(task.kind)])


def _task_title(kind: str, campaign: Campaign, contact: Contact) -> str:
    verb = "邀约" if kind == CampaignTaskKind.INVITE else "活动前提醒"
    return f"{verb}「{campaign.title}」: {contact.name or f'#{contact.id}'}"


def _check_not_started(campaign: Campaign) -> None:
    if campaign.starts_at <= utcnow_for_models():
        raise Conflict("the campaign has already started")


async def add_invitees(
    session: AsyncSession, viewer: Viewer, campaign: Campaign, contacts: list[Contact]
) -> tuple[list[CampaignInvitee], list[int]]:
    """List customers (each once): `listed`, with an invite task for their owner. Returns the
    new invitees and the ids of customers who were already on the list."""
    _check_not_started(campaign)
    existing = set(
        await session.scalars(
            select(CampaignInvitee.contact_id).where(
                CampaignInvitee.campaign_id == campaign.id,
                CampaignInvitee.contact_id.in_([c.id for c in contacts]),
            )
        )
    )
    fresh = [c for c in {c.id: c for c in contacts}.values() if c.id not in existing]
    now = utcnow_for_models()
    segments = await segments_of(session, fresh, now)
    due = await invite_due(session, campaign.starts_at)
    added: list[CampaignInvitee] = []
    for contact in fresh:
        invitee = CampaignInvitee(
            campaign_id=campaign.id,
            contact_id=contact.id,
            state=S.LISTED,
            segment=segments[contact.id],
            added_by_id=viewer.id,
            created_at=now,
            updated_at=now,
        )
        session.add(invitee)
        await session.flush()
        session.add(
            CampaignTransition(
                invitee_id=invitee.id,
                from_state=None,
                to_state=S.LISTED,
                actor_id=viewer.id,
                created_at=now,
            )
        )
        task = await create_task(
            session,
            kind=CampaignTaskKind.INVITE,
            title=_task_title(CampaignTaskKind.INVITE, campaign, contact),
            contact_id=contact.id,
            due_at=due,
            assignee_id=contact.owner_id,
            source="campaign",
            occasion_key=f"invite:{campaign.id}:{contact.id}",
            created_by_id=viewer.id,
        )
        invitee.invite_task_id = task.id if task else None
        added.append(invitee)
    await session.flush()
    return added, sorted(existing)


async def move_invitee(
    session: AsyncSession,
    viewer: Viewer,
    campaign: Campaign,
    invitee: CampaignInvitee,
    to_state: str,
    note: str | None,
) -> CampaignInvitee:
    """One step of the state machine, kept with who and when; 409 with the reason otherwise."""
    try:
        target = InviteeState(to_state)
    except ValueError:
        raise BadRequest(
            f"state: {to_state!r} is not one of {', '.join(s.value for s in S)}"
        ) from None
    allowed = TRANSITIONS.get(invitee.state, frozenset())
    if target not in allowed:
        nexts = ", ".join(sorted(allowed)) or "nothing (final state)"
        raise Conflict(f"cannot go from {invitee.state} to {target}; from here: {nexts}")
    if target == S.CONFIRMED:
        taken = await seats_taken(session, campaign.id)
        if taken >= campaign.capacity:
            raise Conflict(f"the campaign is full: {taken} of {campaign.capacity} seats confirmed")
    now = utcnow_for_models()
    note = (note or "").strip() or None
    session.add(
        CampaignTransition(
            invitee_id=invitee.id,
            from_state=invitee.state,
            to_state=target,
            note=note,
            actor_id=viewer.id,
            created_at=now,
        )
    )
    invitee.state = target
    invitee.updated_at = now
    if note is not None:
        invitee.note = note
    await session.flush()
    await _tasks_after(session, viewer, campaign, invitee, target)
    return invitee


async def _tasks_after(
    session: AsyncSession,
    viewer: Viewer,
    campaign: Campaign,
    invitee: CampaignInvitee,
    target: InviteeState,
) -> None:
    """Reaching the customer completes the invite task; confirming makes the remind task;
    reminding completes it."""
    if target == S.CONTACTED:
        await _complete(session, invitee.invite_task_id, "contacted")
    elif target == S.CONFIRMED:
        contact = await session.get(Contact, invitee.contact_id)
        assert contact is not None
        task = await create_task(
            session,
            kind=CampaignTaskKind.REMIND,
            title=_task_title(CampaignTaskKind.REMIND, campaign, contact),
            contact_id=contact.id,
            due_at=remind_due(campaign.starts_at),
            assignee_id=contact.owner_id,
            source="campaign",
            occasion_key=f"remind:{campaign.id}:{contact.id}",
            created_by_id=viewer.id,
        )
        if task is not None:
            invitee.remind_task_id = task.id
            await session.flush()
    elif target == S.REMINDED:
        await _complete(session, invitee.remind_task_id, "reminded")


async def _complete(session: AsyncSession, task_id: int | None, outcome: str) -> None:
    if task_id is None:
        return
    task = await session.get(Task, task_id)
    if task is not None and task.status == TaskStatus.OPEN:
        await complete_task(session, task, outcome)
