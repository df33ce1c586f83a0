"""Reads of invitation campaigns: a campaign with its counts, funnel and mix; its invitees
with their history; the CSV export; how to reach the customer of an invite or remind task."""

from __future__ import annotations

import csv
import io
from datetime import datetime
from typing import Any

from pydantic import BaseModel
from sqlalchemy import exists, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.accounts.viewer import Viewer
from app.campaigns.actions import TRANSITIONS
from app.campaigns.mix import mix_out
from app.db import row_by_id
from app.errors import NotFound
from app.models import (
    Campaign,
    CampaignInvitee,
    CampaignTransition,
    Contact,
    ContactIdentity,
    InviteeState,
    User,
)
from app.pagination import newest_first

S = InviteeState
# The funnel counts each invitee at every stage it went through (the machine only moves
# forward, and no_answer -> contacted stays at "contacted").
FUNNEL: dict[str, tuple[str, ...]] = {
    "listed": tuple(S),
    "contacted": (
        S.CONTACTED,
        S.CONFIRMED,
        S.DECLINED,
        S.NO_ANSWER,
        S.REMINDED,
        S.ATTENDED,
        S.NO_SHOW,
    ),
    "confirmed": (S.CONFIRMED, S.REMINDED, S.ATTENDED, S.NO_SHOW),
    "reminded": (S.REMINDED, S.ATTENDED, S.NO_SHOW),
    "attended": (S.ATTENDED,),
}


class Ref(BaseModel):
    id: int
    name: str


class CampaignOut(BaseModel):
    id: int
    title: str
    starts_at: datetime
    capacity: int
    location: str
    created_by: Ref | None
    created_at: datetime
    counts: dict[str, int]
    funnel: dict[str, int]
    mix: dict[str, Any]
    seats_left: int


class StepOut(BaseModel):
    from_state: str | None
    to_state: str
    note: str | None
    actor: Ref | None
    at: datetime


class InviteeOut(BaseModel):
    contact: Ref
    phone: str | None
    owner: Ref | None
    state: str
    # Where the state machine lets this invitee go next (the page's buttons).
    next_states: list[str]
    segment: str
    note: str | None
    invite_task_id: int | None
    remind_task_id: int | None
    updated_at: datetime
    history: list[StepOut]


def _visible(viewer: Viewer) -> Any:
    clause = viewer.channel_clause(ContactIdentity.channel_id)
    if clause is None:
        return None
    return exists().where(ContactIdentity.contact_id == CampaignInvitee.contact_id, clause)


async def _names(session: AsyncSession, ids: set[int | None]) -> dict[int, str]:
    wanted = sorted(i for i in ids if i is not None)
    if not wanted:
        return {}
    return dict(
        (await session.execute(select(User.id, User.name).where(User.id.in_(wanted)))).all()
    )


def _ref(names: dict[int, str], user_id: int | None) -> Ref | None:
    return Ref(id=user_id, name=names.get(user_id, "")) if user_id is not None else None


async def access_campaign(
    session: AsyncSession, campaign_id: int, *, for_update: bool = False
) -> Campaign:
    campaign = await row_by_id(session, Campaign, campaign_id, for_update=for_update)
    if campaign is None:
        raise NotFound("campaign not found")
    return campaign


async def campaigns_out(
    session: AsyncSession, viewer: Viewer, campaigns: list[Campaign]
) -> list[CampaignOut]:
    ids = [c.id for c in campaigns]
    by_state: dict[int, dict[str, int]] = {i: {} for i in ids}
    by_segment: dict[int, dict[str, int]] = {i: {} for i in ids}
    if ids:
        stmt = (
            select(
                CampaignInvitee.campaign_id,
                CampaignInvitee.state,
                CampaignInvitee.segment,
                func.count(),
            )
            .where(CampaignInvitee.campaign_id.in_(ids))
            .group_by(CampaignInvitee.campaign_id, CampaignInvitee.state, CampaignInvitee.segment)
        )
        visible = _visible(viewer)
        if visible is not None:
            stmt = stmt.where(visible)
        for cid, state, segment, n in (await session.execute(stmt)).all():
            by_state[cid][state] = by_state[cid].get(state, 0) + int(n)
            by_segment[cid][segment] = by_segment[cid].get(segment, 0) + int(n)
    names = await _names(session, {c.created_by_id for c in campaigns})
    out = []
    for c in campaigns:
        counts = {s.value: by_state[c.id].get(s.value, 0) for s in S}
        funnel = {stage: sum(counts[s] for s in states) for stage, states in FUNNEL.items()}
        seated = counts[S.CONFIRMED] + counts[S.REMINDED] + counts[S.ATTENDED]
        out.append(
            CampaignOut(
                id=c.id,
                title=c.title,
                starts_at=c.starts_at,
                capacity=c.capacity,
                location=c.location,
                created_by=_ref(names, c.created_by_id),
                created_at=c.created_at,
                counts=counts,
                funnel=funnel,
                mix=mix_out(by_segment[c.id]),
                seats_left=max(0, c.capacity - seated),
            )
        )
    return out


async def campaign_out(session: AsyncSession, viewer: Viewer, campaign: Campaign) -> CampaignOut:
    return (await campaigns_out(session, viewer, [campaign]))[0]


async def list_campaigns(
    session: AsyncSession, viewer: Viewer, *, cursor: str | None, limit: int
) -> tuple[list[CampaignOut], str | None]:
    """Newest first (by id)."""
    page, nxt = await newest_first(session, select(Campaign), Campaign.id, cursor, limit)
    return await campaigns_out(session, viewer, page), nxt


async def invitees_out(
    session: AsyncSession,
    viewer: Viewer,
    campaign_id: int,
    *,
    state: str | None = None,
    contact_id: int | None = None,
) -> list[InviteeOut]:
    stmt = (
        select(CampaignInvitee, Contact)
        .join(Contact, Contact.id == CampaignInvitee.contact_id)
        .where(CampaignInvitee.campaign_id == campaign_id)
    )
    visible = _visible(viewer)
    if visible is not None:
        stmt = stmt.where(visible)
    if state:
        stmt = stmt.where(CampaignInvitee.state == state)
    if contact_id is not None:
        stmt = stmt.where(CampaignInvitee.contact_id == contact_id)
    rows = (await session.execute(stmt.order_by(CampaignInvitee.id))).all()
    steps: dict[int, list[CampaignTransition]] = {inv.id: [] for inv, _ in rows}
    if steps:
        for step in await session.scalars(
            select(CampaignTransition)
            .where(CampaignTransition.invitee_id.in_(list(steps)))
            .order_by(CampaignTransition.id)
        ):
            steps[step.invitee_id].append(step)
    names = await _names(
        session,
        {c.owner_id for _, c in rows} | {s.actor_id for ss in steps.values() for s in ss},
    )
    return [
        InviteeOut(
            contact=Ref(id=c.id, name=c.name),
            phone=c.phone,
            owner=_ref(names, c.owner_id),
            state=inv.state,
            next_states=sorted(TRANSITIONS.get(inv.state, frozenset())),
            segment=inv.segment,
            note=inv.note,
            invite_task_id=inv.invite_task_id,
            remind_task_id=inv.remind_task_id,
            updated_at=inv.updated_at,
            history=[
                StepOut(
                    from_state=s.from_state,
                    to_state=s.to_state,
                    note=s.note,
                    actor=_ref(names, s.actor_id),
                    at=s.created_at,
                )
                for s in steps[inv.id]
            ],
        )
        for inv, c in rows
    ]


def csv_cell(value: Any) -> str:
    """Customer text is hostile: a cell starting with = + - @ (or tab, CR) is a formula to
    spreadsheet programs (OWASP "CSV injection"), so it gets a leading quote."""
    text = "" if value is None else str(value)
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


CSV_COLUMNS = ["contact_id", "name", "phone", "owner", "segment", "state", "note", "updated_at"]


def _line(values: list[Any]) -> str:
    out = io.StringIO()
    csv.writer(out).writerow([csv_cell(v) for v in values])
    return out.getvalue()


def campaign_csv(campaign: CampaignOut, invitees: list[InviteeOut]) -> str:
    """The funnel first, then one row per invitee; a BOM so spreadsheets read UTF-8."""
    parts = [
        _line(["campaign", campaign.title]),
        _line(["starts_at", campaign.starts_at.isoformat()]),
    ]
    parts += [_line(["funnel", stage, n]) for stage, n in campaign.funnel.items()]
    parts.append(_line([]))
    parts.append(_line(CSV_COLUMNS))
    for i in invitees:
        parts.append(
            _line(
                [
                    i.contact.id,
                    i.contact.name,
                    i.phone,
                    i.owner.name if i.owner else "",
                    i.segment,
                    i.state,
                    i.note,
                    i.updated_at.isoformat(),
                ]
            )
        )
    return "\ufeff" + "".join(parts)
