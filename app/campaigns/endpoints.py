"""REST API of invitation campaigns (CONTRACT section 10), its CSV export, and the
one-click way from an invite or remind task to the customer."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query
from fastapi.responses import Response
from pydantic import BaseModel, Field
from sqlalchemy import select

from app.campaigns.actions import (
    MAX_INVITEES,
    add_invitees,
    create_campaign,
    move_invitee,
    update_campaign,
)
from app.campaigns.queries import (
    CampaignOut,
    InviteeOut,
    access_campaign,
    campaign_csv,
    campaign_out,
    invitees_out,
    list_campaigns,
)
from app.campaigns.reach import ReachOut, reach_for_task
from app.contacts.queries import access_contact
from app.contacts.task_queries import access_task
from app.deps import SessionDep, ViewerDep
from app.errors import BadRequest, NotFound
from app.models import CampaignInvitee, Contact, InviteeState
from app.pagination import PageDep, page

router = APIRouter(prefix="/api/v1", tags=["campaigns"])

MAX_CAPACITY = 100_000


class CampaignIn(BaseModel):
    title: str = Field(min_length=1, max_length=200)
    starts_at: datetime
    capacity: int = Field(ge=1, le=MAX_CAPACITY)
    location: str = Field(default="", max_length=300)


class CampaignPatch(BaseModel):
    title: str | None = Field(default=None, min_length=1, max_length=200)
    starts_at: datetime | None = None
    capacity: int | None = Field(default=None, ge=1, le=MAX_CAPACITY)
    location: str | None = Field(default=None, max_length=300)


class InviteesIn(BaseModel):
    contact_ids: list[int] = Field(min_length=1, max_length=MAX_INVITEES)


class MoveIn(BaseModel):
    state: str = Field(max_length=20)
    note: str | None = Field(default=None, max_length=2000)


@router.post("/campaigns", status_code=201)
async def post_campaign(body: CampaignIn, session: SessionDep, viewer: ViewerDep) -> CampaignOut:
    campaign = await create_campaign(session, viewer, **body.model_dump())
    return await campaign_out(session, viewer, campaign)


@router.get("/campaigns")
async def get_campaigns(session: SessionDep, viewer: ViewerDep, pg: PageDep) -> dict[str, Any]:
    return await pg.answer(list_campaigns, session, viewer)


@router.get("/campaigns/{campaign_id}")
async def get_campaign(campaign_id: int, session: SessionDep, viewer: ViewerDep) -> CampaignOut:
    return await campaign_out(session, viewer, await access_campaign(session, campaign_id))


@router.patch("/campaigns/{campaign_id}")
async def patch_campaign(
    campaign_id: int, body: CampaignPatch, session: SessionDep, viewer: ViewerDep
) -> CampaignOut:
    campaign = await access_campaign(session, campaign_id, for_update=True)
    await update_campaign(session, campaign, **body.model_dump())
    return await campaign_out(session, viewer, campaign)


@router.get("/campaigns/{campaign_id}/invitees")
async def get_invitees(
    campaign_id: int,
    session: SessionDep,
    viewer: ViewerDep,
    state: Annotated[str | None, Query(max_length=20)] = None,
) -> dict[str, Any]:
    await access_campaign(session, campaign_id)
    if state is not None and state not in set(InviteeState):
        raise BadRequest(f"state: {state!r} is not an invitee state")
    return page(await invitees_out(session, viewer, campaign_id, state=state), None)


@router.post("/campaigns/{campaign_id}/invitees")
async def post_invitees(
    campaign_id: int, body: InviteesIn, session: SessionDep, viewer: ViewerDep
) -> dict[str, Any]:
    """List customers; a customer already listed is not listed twice (`already`)."""
    campaign = await access_campaign(session, campaign_id, for_update=True)
    contacts: list[Contact] = []
    missing: list[int] = []
    for cid in dict.fromkeys(body.contact_ids):
        try:
            contact = await access_contact(session, viewer, cid)
        except NotFound:
            missing.append(cid)
            continue
        if contact.merged_into_id is not None:
            missing.append(cid)
            continue
        contacts.append(contact)
    if missing:
        raise BadRequest(f"contact_ids: no such customer: {', '.join(map(str, missing))}")
    added, already = await add_invitees(session, viewer, campaign, contacts)
    return {
        "added": [i.contact_id for i in added],
        "already": already,
        "campaign": await campaign_out(session, viewer, campaign),
    }


@router.post("/campaigns/{campaign_id}/invitees/{contact_id}")
async def post_invitee_state(
    campaign_id: int, contact_id: int, body: MoveIn, session: SessionDep, viewer: ViewerDep
) -> InviteeOut:
    # The campaign row is locked: two confirmations racing for the last seat take turns.
    campaign = await access_campaign(session, campaign_id, for_update=True)
    await access_contact(session, viewer, contact_id)
    invitee = await session.scalar(
        select(CampaignInvitee)
        .where(CampaignInvitee.campaign_id == campaign.id, CampaignInvitee.contact_id == contact_id)
        .with_for_update()
    )
    if invitee is None:
        raise NotFound("this customer is not invited to this campaign")
    await move_invitee(session, viewer, campaign, invitee, body.state, body.note)
    (out,) = await invitees_out(session, viewer, campaign.id, contact_id=contact_id)
    return out


@router.get("/campaigns/{campaign_id}/export.csv")
async def export_campaign(campaign_id: int, session: SessionDep, viewer: ViewerDep) -> Response:
    campaign = await access_campaign(session, campaign_id)
    text = campaign_csv(
        await campaign_out(session, viewer, campaign),
        await invitees_out(session, viewer, campaign.id),
    )
    return Response(
        text,
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="campaign-{campaign.id}.csv"'},
    )


@router.get("/campaigns/tasks/{task_id}/reach")
async def get_task_reach(task_id: int, session: SessionDep, viewer: ViewerDep) -> ReachOut:
    """Where to write to the task's customer now (and what), or their phone number."""
    task = await access_task(session, viewer, task_id)
    return await reach_for_task(session, viewer, task)
