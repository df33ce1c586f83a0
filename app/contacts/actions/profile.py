"""PATCH /api/v1/contacts/{id}, the issue-15 fields: owner, cadence, dates, consent."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field, ValidationError
from sqlalchemy.ext.asyncio import AsyncSession

from app.accounts.viewer import Viewer
from app.contacts.actions.dates import refresh_care, validate_dates
from app.contacts.actions.followup import schedule_follow_up
from app.contacts.actions.owners import set_owner
from app.contacts.calendar import MAX_DATES
from app.errors import BadRequest
from app.models import Contact

CRM_FIELDS = ("owner_id", "follow_up_days", "important_dates", "marketing_consent")


class CrmPatch(BaseModel):
    """Mixed into the contact PATCH body; absent fields stay as they are."""

    owner_id: int | None = None
    follow_up_days: int | None = Field(default=None, ge=1, le=365)
    # Validated here (not by the schema) so that a bad date answers 400 naming the item.
    important_dates: list[Any] | None = Field(default=None, max_length=MAX_DATES)
    marketing_consent: bool | None = None


def _dates_or_400(raw: list[Any]) -> list[dict[str, Any]]:
    try:
        return validate_dates(raw)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first.get("loc", ()))
        detail = str(first.get("msg", "invalid")).removeprefix("Value error, ")
        raise BadRequest(f"important_dates: {detail}{f' ({where})' if where else ''}") from None


async def apply_crm_patch(
    session: AsyncSession, viewer: Viewer, contact: Contact, body: CrmPatch, fields: set[str]
) -> list[str]:
    """Apply what was sent; returns the names of the fields that changed. Everything is
    validated before anything changes, so a 400 leaves the record as it was."""
    dates = (
        _dates_or_400(body.important_dates)
        if "important_dates" in fields and body.important_dates is not None
        else None
    )
    if "important_dates" in fields and body.important_dates is None:
        dates = []
    if "marketing_consent" in fields and body.marketing_consent is None:
        raise BadRequest("marketing_consent: true or false")
    changed: list[str] = []
    if "owner_id" in fields and await set_owner(session, viewer, contact, body.owner_id):
        changed.append("owner_id")
    if "marketing_consent" in fields and body.marketing_consent != contact.marketing_consent:
        contact.marketing_consent = bool(body.marketing_consent)
        changed.append("marketing_consent")
    if dates is not None and dates != list(contact.important_dates or []):
        contact.important_dates = dates
        changed.append("important_dates")
        await refresh_care(session, contact)
    if "follow_up_days" in fields and body.follow_up_days != contact.follow_up_days:
        contact.follow_up_days = body.follow_up_days
        changed.append("follow_up_days")
        await schedule_follow_up(session, contact)
    return changed
