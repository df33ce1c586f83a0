"""Writes to the customer record from its sidebar and page: notes, tags and the fields of
CONTRACT section 8 (audited)."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.accounts.viewer import Viewer
from app.audit import record_audit
from app.contacts.actions.owners import publish_contact
from app.contacts.actions.profile import apply_crm_patch
from app.errors import BadRequest
from app.inbox.queries import conversation_view
from app.models import (
    Contact,
    ContactTag,
    Conversation,
    ConversationStatus,
    utcnow_for_models,
)
from app.realtime.events import EventType, publish

if TYPE_CHECKING:
    from app.contacts.schemas import ContactPatch

MAX_TAG_CHARS = 30
# Loose on purpose: shops write numbers as 138 0013 8000, +86-138..., (021) 5555-0100.
PHONE_PATTERN = r"^[0-9+()\- ]{3,50}$"
EMAIL_PATTERN = r"^[^@\s]{1,64}@[^@\s]+\.[^@\s]+$"


def clean_profile(body: ContactPatch) -> dict[str, Any]:
    """The name, phone, email and attributes given, checked and trimmed; 400 otherwise."""
    out: dict[str, Any] = {}
    if body.name is not None:
        name = " ".join(body.name.split())
        if not name:
            raise BadRequest("name must not be empty")
        out["name"] = name
    if body.phone is not None:
        phone = body.phone.strip()
        if phone and not re.fullmatch(PHONE_PATTERN, phone):
            raise BadRequest("phone may hold digits, spaces, +, -, ( and ) only (3 to 50)")
        out["phone"] = phone or None
    if body.email is not None:
        email = body.email.strip()
        if email and not re.fullmatch(EMAIL_PATTERN, email):
            raise BadRequest("email is not an email address")
        out["email"] = email or None
    if body.attributes is not None:
        attributes: dict[str, Any] = {}
        for key, value in body.attributes.items():
            name = key.strip()
            if not name or len(name) > 50:
                raise BadRequest("an attribute name has 1 to 50 characters")
            if isinstance(value, str) and len(value) > 500:
                raise BadRequest("an attribute value has at most 500 characters")
            attributes[name] = value
        out["attributes"] = attributes
    return out


async def _publish_renamed(session: AsyncSession, contact: Contact) -> None:
    """Lists show the contact's name (and the phone beside a made-up one): their
    unresolved conversations go out again."""
    rows = await session.scalars(
        select(Conversation).where(
            Conversation.contact_id == contact.id,
            Conversation.status != ConversationStatus.RESOLVED,
        )
    )
    for conversation in rows.all():
        publish(
            session,
            EventType.CONVERSATION_UPDATED,
            await conversation_view(session, conversation, contact=contact),
            channel_id=conversation.channel_id,
            conversation_id=conversation.id,
        )


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
    patch: ContactPatch | None = None,
) -> list[str]:
    """Replace the contact's notes and/or tags, and apply the record's other fields
    (owner, dates, follow-up, consent) when a patch is given; the names of the fields that
    changed, audited once and announced as `contact.updated`."""
    changed: list[str] = []
    if patch is not None:
        for field, value in clean_profile(patch).items():
            if value != getattr(contact, field):
                setattr(contact, field, value)
                changed.append(field)
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
        if {"name", "phone"} & set(changed):
            await _publish_renamed(session, contact)
    return changed
