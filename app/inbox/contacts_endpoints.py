"""Editing the customer record from the inbox: name, phone, email, attributes, notes and
tags (the sidebar)."""

from __future__ import annotations

import re
from typing import Any

from fastapi import APIRouter
from pydantic import BaseModel, Field
from sqlalchemy import delete, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.archive.audit import record_audit
from app.deps import SessionDep, ViewerDep
from app.errors import BadRequest, NotFound
from app.inbox.access import Viewer
from app.inbox.queries import conversation_view
from app.models import (
    Contact,
    ContactIdentity,
    ContactTag,
    Conversation,
    ConversationStatus,
    utcnow_for_models,
)
from app.realtime.events import EventType, publish

router = APIRouter(prefix="/api/v1", tags=["contacts"])

MAX_TAGS = 20
MAX_TAG_CHARS = 30
SUGGESTIONS = 200


MAX_ATTRIBUTES = 50
# Loose on purpose: shops write numbers as 138 0013 8000, +86-138..., (021) 5555-0100.
PHONE_PATTERN = r"^[0-9+()\- ]{3,50}$"
EMAIL_PATTERN = r"^[^@\s]{1,64}@[^@\s]+\.[^@\s]+$"
AttributeValue = str | int | float | bool | None


class ContactPatch(BaseModel):
    name: str | None = Field(default=None, max_length=200)
    # "" clears the phone or email.
    phone: str | None = Field(default=None, max_length=50)
    email: str | None = Field(default=None, max_length=254)
    attributes: dict[str, AttributeValue] | None = Field(default=None, max_length=MAX_ATTRIBUTES)
    notes: str | None = Field(default=None, max_length=5000)
    tags: list[str] | None = Field(default=None, max_length=MAX_TAGS)


class ContactNotesOut(BaseModel):
    id: int
    notes: str
    tags: list[str]
    name: str = ""
    phone: str | None = None
    email: str | None = None
    attributes: dict[str, Any] = Field(default_factory=dict)


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


async def access_contact(session: AsyncSession, viewer: Viewer, contact_id: int) -> Contact:
    """A contact the viewer may see: one of its identities is on a visible channel."""
    contact = await session.get(Contact, contact_id)
    if contact is None:
        raise NotFound("contact not found")
    channel_ids = await session.scalars(
        select(ContactIdentity.channel_id).where(ContactIdentity.contact_id == contact_id)
    )
    if not any(viewer.can_see_channel(ch) for ch in channel_ids):
        raise NotFound("contact not found")
    return contact


async def tags_of(session: AsyncSession, contact_id: int) -> list[str]:
    rows = await session.scalars(
        select(ContactTag.tag)
        .where(ContactTag.contact_id == contact_id)
        .order_by(ContactTag.position, ContactTag.tag)
    )
    return list(rows)


async def notes_out(session: AsyncSession, contact: Contact) -> ContactNotesOut:
    return ContactNotesOut(
        id=contact.id,
        notes=contact.notes,
        tags=await tags_of(session, contact.id),
        name=contact.name,
        phone=contact.phone,
        email=contact.email,
        attributes=dict(contact.attributes or {}),
    )


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


@router.get("/contacts/{contact_id}/notes")
async def get_contact_notes(
    contact_id: int, session: SessionDep, viewer: ViewerDep
) -> ContactNotesOut:
    contact = await access_contact(session, viewer, contact_id)
    return await notes_out(session, contact)


@router.patch("/contacts/{contact_id}")
async def update_contact(
    contact_id: int, body: ContactPatch, session: SessionDep, viewer: ViewerDep
) -> ContactNotesOut:
    contact = await access_contact(session, viewer, contact_id)
    changed: list[str] = []
    for field, value in clean_profile(body).items():
        if value != getattr(contact, field):
            setattr(contact, field, value)
            changed.append(field)
    if body.notes is not None and body.notes != contact.notes:
        contact.notes = body.notes
        changed.append("notes")
    if body.tags is not None:
        tags = clean_tags(body.tags)
        if tags != await tags_of(session, contact.id):
            await session.execute(delete(ContactTag).where(ContactTag.contact_id == contact.id))
            await session.flush()  # the old rows go before the new ones come (same keys)
            for position, tag in enumerate(tags):
                session.add(ContactTag(contact_id=contact.id, tag=tag, position=position))
            changed.append("tags")
    if changed:
        contact.updated_at = utcnow_for_models()
        record_audit(
            session, viewer.user, "contact.updated", "contact", contact.id, {"fields": changed}
        )
        await session.flush()
        if {"name", "phone"} & set(changed):
            await _publish_renamed(session, contact)
    return await notes_out(session, contact)


@router.get("/contact-tags")
async def list_contact_tags(session: SessionDep, viewer: ViewerDep) -> dict[str, Any]:
    """Tags in use, most used first: suggestions for the tag input."""
    rows = await session.execute(
        select(ContactTag.tag, func.count().label("n"))
        .group_by(ContactTag.tag)
        .order_by(func.count().desc(), ContactTag.tag)
        .limit(SUGGESTIONS)
    )
    return {"items": [tag for tag, _n in rows], "next_cursor": None}
