"""The service report page `/reports` (issue 16): every member; an agent's figures are their own."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Request
from fastapi.responses import Response

from app.deps import SessionDep
from app.services import get_services
from app.web.pages import staff_page

router = APIRouter(include_in_schema=False)

REPORT_ROLES = frozenset({"agent", "supervisor", "admin"})


@router.get("/reports")
async def reports(request: Request, session: SessionDep) -> Response:
    # "Today" in the workspace's zone, not the browser's: report days are the workspace's.
    zone = ZoneInfo(get_services(request).settings.timezone)
    extra = {"today": datetime.now(zone).date().isoformat()}
    return await staff_page(request, session, "/reports", REPORT_ROLES, "reports.html", extra)
