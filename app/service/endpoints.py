"""Service-quality API: a channel's service settings (admins) and the service report."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Query
from fastapi.responses import Response
from pydantic import BaseModel, ConfigDict

from app.deps import AdminDep, SessionDep, SupervisorDep, ViewerDep
from app.errors import NotFound
from app.inbox.schemas import channel_out
from app.models import Channel, ServiceSettings
from app.service.actions.settings import settings_out, update_channel_service
from app.service.reports import (
    first_response_targets,
    overdue_count,
    report_csv,
    report_range,
    service_report,
)

router = APIRouter(prefix="/api/v1", tags=["service"])


class ChannelPatch(BaseModel):
    """Only the fields sent change; the values are checked by the action (400 with a reason)."""

    model_config = ConfigDict(extra="forbid")

    name: Any = None
    business_hours: Any = None
    holidays: Any = None
    away_message: Any = None
    greeting: Any = None
    csat_enabled: Any = None
    csat_question: Any = None
    first_response_minutes: Any = None


async def _channel(session: Any, channel_id: int) -> Channel:
    channel = await session.get(Channel, channel_id)
    if channel is None:
        raise NotFound("channel not found")
    return channel


def _out(channel: Channel, row: ServiceSettings | None) -> dict[str, Any]:
    return {**channel_out(channel).model_dump(mode="json"), **settings_out(channel, row)}


@router.get("/channels/{channel_id}/service")
async def get_channel_service(channel_id: int, session: SessionDep, viewer: AdminDep) -> Any:
    channel = await _channel(session, channel_id)
    return _out(channel, await session.get(ServiceSettings, channel.id))


@router.patch("/channels/{channel_id}")
async def patch_channel(
    channel_id: int, body: ChannelPatch, session: SessionDep, viewer: AdminDep
) -> Any:
    """The channel's name and service settings (contract section 9)."""
    channel = await _channel(session, channel_id)
    changes = {k: getattr(body, k) for k in body.model_fields_set}
    row = await update_channel_service(session, viewer, channel, changes)
    return _out(channel, row)


@router.get("/reports/service")
async def get_service_report(
    session: SessionDep,
    viewer: ViewerDep,
    since: str | None = Query(default=None, max_length=40),
    until: str | None = Query(default=None, max_length=40),
    by: str = Query(default="day", pattern="^(day|agent|channel)$"),
    format: str = Query(default="json", pattern="^(json|csv)$"),
) -> Any:
    """Service figures over the conversations created in [since, until): supervisors and
    admins see everyone's, an agent their own (as the assignee at the first response)."""
    report = await service_report(session, viewer, report_range(session, since, until), by)
    if format == "csv":
        day = report["since"][:10]
        return Response(
            report_csv(report["items"]),
            media_type="text/csv; charset=utf-8",
            headers={"Content-Disposition": f'attachment; filename="service-{by}-{day}.csv"'},
        )
    return report


@router.get("/service/targets")
async def get_targets(session: SessionDep, viewer: ViewerDep) -> dict[str, Any]:
    """Each channel's first-response target in minutes (the inbox marks what is overdue)."""
    targets = await first_response_targets(session)
    return {
        "default_minutes": targets.default // 60,
        "channels": {str(k): v // 60 for k, v in targets.by_channel.items()},
    }


@router.get("/service/overdue")
async def get_overdue(session: SessionDep, viewer: SupervisorDep) -> dict[str, Any]:
    """How many open or pending conversations wait past their first-response target."""
    return {"count": await overdue_count(session, viewer)}
