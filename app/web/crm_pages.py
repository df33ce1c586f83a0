"""Pages of the customer record (issue 15): `/todo`, `/customers`, `/customers/{id}`;
of invitation campaigns (issue 18): `/campaigns`, `/campaigns/{id}`.

Every signed-in member sees them; what each lists is what the API lets that member see.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from fastapi import APIRouter, Request
from fastapi.responses import Response
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

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


# (path, its section in the top bar, template): a detail page's id reaches the
# template under the path parameter's name (contact_id, campaign_id).
PAGES = (
    ("/customers", "/customers", "customers.html"),
    ("/customers/{contact_id:int}", "/customers", "customer.html"),
    ("/campaigns", "/campaigns", "campaigns.html"),  # 邀约: the list and the create form
    # One campaign: its funnel and mix, its invitees with their state buttons, the picker.
    ("/campaigns/{campaign_id:int}", "/campaigns", "campaigns.html"),
)


def _page(section: str, template: str) -> Callable[[Request, AsyncSession], Awaitable[Response]]:
    async def page(request: Request, session: SessionDep) -> Response:
        ids = {name: int(value) for name, value in request.path_params.items()}
        return await staff_page(request, session, section, STAFF_ROLES, template, ids)

    return page


for _path, _section, _template in PAGES:
    router.add_api_route(_path, _page(_section, _template), methods=["GET"])
