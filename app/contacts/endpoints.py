"""The customer record's API: a contact with its history, and the sidebar's notes and tags."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from app.contacts import queries
from app.contacts.actions import notes as actions
from app.contacts.schemas import ContactNotesOut, ContactOut, ContactPatch
from app.deps import SessionDep, ViewerDep

router = APIRouter(prefix="/api/v1", tags=["contacts"])


@router.get("/contacts/{contact_id}")
async def get_contact(contact_id: int, session: SessionDep, viewer: ViewerDep) -> ContactOut:
    return await queries.contact_view(session, viewer, contact_id)


@router.get("/contacts/{contact_id}/notes")
async def get_contact_notes(
    contact_id: int, session: SessionDep, viewer: ViewerDep
) -> ContactNotesOut:
    contact = await queries.access_contact(session, viewer, contact_id)
    return await queries.notes_out(session, contact)


@router.patch("/contacts/{contact_id}")
async def update_contact(
    contact_id: int, body: ContactPatch, session: SessionDep, viewer: ViewerDep
) -> ContactNotesOut:
    contact = await queries.access_contact(session, viewer, contact_id)
    await actions.update_notes_and_tags(
        session, viewer, contact, notes=body.notes, tags=body.tags, patch=body
    )
    return await queries.notes_out(session, contact)


@router.get("/contact-tags")
async def list_contact_tags(session: SessionDep, viewer: ViewerDep) -> dict[str, Any]:
    """Tags in use, most used first: suggestions for the tag input."""
    return {"items": await queries.tag_suggestions(session, viewer), "next_cursor": None}
