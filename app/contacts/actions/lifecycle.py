"""An agent marks a customer lost (a hard churn event, with a reason) or takes it back."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from app.accounts.viewer import Viewer
from app.audit import record_audit
from app.contacts.actions.churn import alert_marked_lost
from app.contacts.actions.owners import publish_contact
from app.errors import BadRequest
from app.models import Contact, utcnow_for_models

LIFECYCLES = ("active", "lost")


async def set_lifecycle(
    session: AsyncSession, viewer: Viewer, contact: Contact, lifecycle: str, reason: str | None
) -> Contact:
    if lifecycle not in LIFECYCLES:
        raise BadRequest(f"lifecycle: one of {', '.join(LIFECYCLES)}")
    reason = (reason or "").strip() or None
    if lifecycle == "lost" and reason is None:
        raise BadRequest("reason: say why the customer is lost")
    if contact.lifecycle == lifecycle and contact.lost_reason == reason:
        return contact
    previous = contact.lifecycle
    now = utcnow_for_models()
    contact.lifecycle = lifecycle
    contact.lost_reason = reason if lifecycle == "lost" else None
    contact.lifecycle_changed_at = now
    contact.updated_at = now
    record_audit(
        session,
        viewer.user,
        "contact.lifecycle_changed",
        "contact",
        contact.id,
        {"from": previous, "to": lifecycle, "reason": reason},
    )
    await publish_contact(session, contact)
    # A hard churn event: the owner hears of it live (unless they marked it themselves).
    newly_lost = lifecycle == "lost" and previous != "lost"
    if newly_lost and reason is not None and viewer.id != contact.owner_id:
        await alert_marked_lost(session, contact, reason, viewer.user.name, now)
    return contact
