"""Pages of the customer record (issue 15): `/todo`, `/customers`, `/customers/{id}`;
of invitation campaigns (issue 18): `/campaigns`, `/campaigns/{id}`.

Every signed-in member sees them; what each lists is what the API lets that member see.
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response
from sqlalchemy import func, select

from app.deps import SessionDep
from app.models import EventLog
from app.web.pages import staff_page

router = APIRouter(include_in_schema=False)

STAFF_ROLES = frozenset({"agent", "supervisor", "admin"})


async def _seq(session: SessionDep) -> int:
    """Where the page's live socket starts: events after this are applied to it."""
    return int(await session.scalar(select(func.coalesce(func.max(EventLog.seq), 0))) or 0)


@router.get("/todo")
async def todo(request: Request, session: SessionDep) -> Response:
    extra = {"seq": await _seq(session)}
    return await staff_page(request, session, "/todo", STAFF_ROLES, "todo.html", extra)


@router.get("/customers")
async def customers(request: Request, session: SessionDep) -> Response:
    return await staff_page(request, session, "/customers", STAFF_ROLES, "customers.html")


@router.get("/customers/{contact_id}")
async def customer(contact_id: int, request: Request, session: SessionDep) -> Response:
    extra = {"contact_id": contact_id}
    return await staff_page(request, session, "/customers", STAFF_ROLES, "customer.html", extra)


@router.get("/campaigns")
async def campaigns(request: Request, session: SessionDep) -> Response:
    """邀约: the campaigns list and the create form."""
    return await staff_page(request, session, "/campaigns", STAFF_ROLES, "campaigns.html")


@router.get("/campaigns/{campaign_id}")
async def campaign(campaign_id: int, request: Request, session: SessionDep) -> Response:
    """One campaign: its funnel and mix, its invitees with their state buttons, the picker."""
    extra = {"campaign_id": campaign_id}
    return await staff_page(request, session, "/campaigns", STAFF_ROLES, "campaigns.html", extra)
