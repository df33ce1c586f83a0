"""The /retention page (issue 17): every signed-in member; agents see their own customers."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response

from app.accounts.viewer import load_viewer
from app.deps import SessionDep
from app.models import utcnow_for_models
from app.retention.overview import overview
from app.web.auth import web_auth
from app.web.pages import staff_page

router = APIRouter(include_in_schema=False)

ROLES = frozenset({"agent", "supervisor", "admin"})


@router.get("/retention")
async def retention(request: Request, session: SessionDep) -> Response:
    user = await web_auth(request, session)
    extra = {}
    if user is not None and user.role in ROLES:
        viewer = await load_viewer(session, user)
        extra = {"r": await overview(session, viewer, utcnow_for_models())}
    return await staff_page(request, session, "/retention", ROLES, "retention.html", extra)
