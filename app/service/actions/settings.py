"""Changing a channel's name and service settings (contract section 9, admins)."""

from __future__ import annotations

from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from app.accounts.viewer import Viewer
from app.audit import record_audit
from app.errors import BadRequest
from app.models import Channel, ServiceSettings, utcnow_for_models
from app.service.hours import ScheduleError, parse_holidays, parse_schedule, schedule_json
from app.service.settings import DEFAULT_FIRST_RESPONSE_MINUTES

TEXT_FIELDS = {"away_message": 1000, "greeting": 1000, "csat_question": 500}
MAX_FIRST_RESPONSE_MINUTES = 7 * 24 * 60


def settings_out(channel: Channel, row: ServiceSettings | None) -> dict[str, Any]:
    return {
        "business_hours": row.business_hours if row else None,
        "holidays": list(row.holidays or []) if row else [],
        "away_message": row.away_message if row else "",
        "greeting": row.greeting if row else "",
        "csat_enabled": bool(row.csat_enabled) if row else False,
        "csat_question": row.csat_question if row else "",
        "first_response_minutes": (
            row.first_response_minutes if row else DEFAULT_FIRST_RESPONSE_MINUTES
        ),
    }


def _validated(changes: dict[str, Any]) -> dict[str, Any]:
    """The changes in stored form; BadRequest naming the first bad field."""
    out: dict[str, Any] = {}
    try:
        if "business_hours" in changes:
            out["business_hours"] = schedule_json(parse_schedule(changes["business_hours"]))
        if "holidays" in changes:
            out["holidays"] = parse_holidays(changes["holidays"])
    except ScheduleError as exc:
        raise BadRequest(str(exc)) from None
    for name, limit in TEXT_FIELDS.items():
        if name in changes:
            value = changes[name]
            if value is None:
                value = ""
            if not isinstance(value, str) or len(value) > limit:
                raise BadRequest(f"{name} must be text of at most {limit} characters")
            out[name] = value.strip()
    if "csat_enabled" in changes:
        if not isinstance(changes["csat_enabled"], bool):
            raise BadRequest("csat_enabled must be true or false")
        out["csat_enabled"] = changes["csat_enabled"]
    if "first_response_minutes" in changes:
        minutes = changes["first_response_minutes"]
        if minutes is None:
            minutes = DEFAULT_FIRST_RESPONSE_MINUTES
        if (
            isinstance(minutes, bool)
            or not isinstance(minutes, int)
            or not 1 <= minutes <= MAX_FIRST_RESPONSE_MINUTES
        ):
            top = MAX_FIRST_RESPONSE_MINUTES
            raise BadRequest(f"first_response_minutes must be a whole number from 1 to {top}")
        out["first_response_minutes"] = minutes
    return out


async def update_channel_service(
    session: AsyncSession, viewer: Viewer, channel: Channel, changes: dict[str, Any]
) -> ServiceSettings | None:
    """Apply `changes` (only the fields given) after validating all of them."""
    name = changes.get("name")
    bad_name = not isinstance(name, str) or not name.strip() or len(name.strip()) > 100
    if "name" in changes and bad_name:
        raise BadRequest("name must be 1-100 characters")
    stored = _validated(changes)
    row = await session.get(ServiceSettings, channel.id)
    if stored:
        if row is None:
            row = ServiceSettings(
                channel_id=channel.id,
                business_hours=None,
                holidays=[],
                away_message="",
                greeting="",
                csat_enabled=False,
                csat_question="",
                first_response_minutes=DEFAULT_FIRST_RESPONSE_MINUTES,
            )
            session.add(row)
        for key, value in stored.items():
            setattr(row, key, value)
        row.updated_at = utcnow_for_models()
    if isinstance(name, str):
        channel.name = name.strip()
    record_audit(
        session,
        viewer.user,
        "channel.service_updated",
        "channel",
        channel.id,
        {"fields": sorted(set(stored) | ({"name"} if "name" in changes else set()))},
    )
    return row
