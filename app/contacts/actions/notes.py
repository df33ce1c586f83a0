"""Writes to the customer record from its sidebar and page: notes, tags and the fields of
CONTRACT section 8 (audited)."""

from __future__ import annotations

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.accounts.viewer import Viewer
from app.audit import record_audit
from app.contacts.actions.owners import publish_contact
from app.contacts.actions.profile import CrmPatch, apply_crm_patch
from app.errors import BadRequest
from app.models import Contact, ContactTag, utcnow_for_models

MAX_TAG_CHARS = 30


def clean_tags(raw: list[str]) -> list[str]:
    """Trimmed, de-duplicated (case-insensitively), in the order given."""
    tags: list[str] = []
    seen: set[str] = set()
    for value in raw:
        tag = " ".join(value.split())
        if not tag:
            continue
        if len(tag) > MAX_TAG_CHARS:
            raise BadRequest(f"a tag has at most {MAX_TAG_CHARS} characters")
        if tag.casefold() not in seen:
            seen.add(tag.casefold())
            tags.append(tag)
    return tags


async def tags_of(session: AsyncSession, contact_id: int) -> list[str]:
    rows = await session.scalars(
        select(ContactTag.tag)
        .where(ContactTag.contact_id == contact_id)
        .order_by(ContactTag.position, ContactTag.tag)
    )
    return list(rows)


async def update_notes_and_tags(
    session: AsyncSession,
    viewer: Viewer,
    contact: Contact,
    *,
    notes: str | None,
    tags: list[str] | None,
    patch: CrmPatch | None = None,
) -> list[str]:
    """Replace the contact's notes and/or tags, and apply the record's other fields
    (owner, dates, follow-up, consent) when a patch is given; the names of the fields that
    changed, audited once and announced as `contact.updated`."""
    changed: list[str] = []
    if notes is not None and notes != contact.notes:
        contact.notes = notes
        changed.append("notes")
    if tags is not None:
        cleaned = clean_tags(tags)
        if cleaned != await tags_of(session, contact.id):
            await session.execute(delete(ContactTag).where(ContactTag.contact_id == contact.id))
            await session.flush()  # the old rows go before the new ones come (same keys)
            for position, tag in enumerate(cleaned):
                session.add(ContactTag(contact_id=contact.id, tag=tag, position=position))
            changed.append("tags")
    if patch is not None:
        changed += await apply_crm_patch(session, viewer, contact, patch, patch.model_fields_set)
    if changed:
        contact.updated_at = utcnow_for_models()
        record_audit(
            session, viewer.user, "contact.updated", "contact", contact.id, {"fields": changed}
        )
        await publish_contact(session, contact)
    return changed
