"""Editing the customer record from the inbox: notes and tags (the sidebar)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from pydantic import BaseModel, Field
from sqlalchemy import delete, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.archive.audit import record_audit
from app.deps import SessionDep, ViewerDep
from app.errors import BadRequest, NotFound
from app.inbox.access import Viewer
from app.models import Contact, ContactIdentity, ContactTag, utcnow_for_models

router = APIRouter(prefix="/api/v1", tags=["contacts"])

MAX_TAGS = 20
MAX_TAG_CHARS = 30
SUGGESTIONS = 200


class ContactPatch(BaseModel):
    notes: str | None = Field(default=None, max_length=5000)
    tags: list[str] | None = Field(default=None, max_length=MAX_TAGS)


class ContactNotesOut(BaseModel):
    id: int
    notes: str
    tags: list[str]


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
        id=contact.id, notes=contact.notes, tags=await tags_of(session, contact.id)
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
    return await notes_out(session, contact)


@router.get("/contact-tags")
async def list_contact_tags(session: SessionDep, viewer: ViewerDep) -> dict[str, Any]:
    """Tags in use, most used first: suggestions for the tag input. A channel-limited agent
    sees only tags on customers of their channels."""
    stmt = select(ContactTag.tag, func.count().label("n"))
    if viewer.channel_ids is not None:
        mine = select(ContactIdentity.contact_id).where(
            viewer.channel_clause(ContactIdentity.channel_id)
        )
        stmt = stmt.where(ContactTag.contact_id.in_(mine))
    rows = await session.execute(
        stmt.group_by(ContactTag.tag)
        .order_by(func.count().desc(), ContactTag.tag)
        .limit(SUGGESTIONS)
    )
    return {"items": [tag for tag, _n in rows], "next_cursor": None}
