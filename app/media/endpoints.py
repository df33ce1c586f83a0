"""GET /api/v1/messages/{id}/attachments/{n}: a stored attachment, for staff who may see it."""

from __future__ import annotations

from urllib.parse import quote

from fastapi import APIRouter, Request, Response

from app.contacts.queries import access_contact
from app.deps import SessionDep, ViewerDep
from app.errors import NotFound
from app.inbox.access import access_conversation
from app.media.avatars import avatar_key, image_type
from app.models import Message
from app.services import get_services

router = APIRouter(prefix="/api/v1", tags=["media"])

# Rendered inline only when the browser cannot execute it; anything else is a download,
# so a customer's HTML or SVG "image" never runs in our origin.
INLINE_TYPES = {
    "image/jpeg",
    "image/png",
    "image/gif",
    "image/webp",
    "audio/amr",
    "audio/mpeg",
    "audio/mp4",
    "audio/ogg",
    "audio/wav",
    "video/mp4",
}


@router.get("/messages/{message_id}/attachments/{index}")
async def get_attachment(
    message_id: int, index: int, request: Request, session: SessionDep, viewer: ViewerDep
) -> Response:
    message = await session.get(Message, message_id)
    if message is None:
        raise NotFound("attachment not found")
    await access_conversation(session, viewer, message.conversation_id)
    attachments = message.attachments or []
    if not 0 <= index < len(attachments) or attachments[index].get("status") != "ready":
        raise NotFound("attachment not found")
    att = attachments[index]
    content = await get_services(request).storage.get(att["storage_key"])
    if content is None:
        raise NotFound("attachment not found")
    mime = str(att.get("mime_type") or "application/octet-stream").lower()
    inline = mime in INLINE_TYPES
    name = quote(str(att.get("file_name") or f"attachment-{message_id}-{index}"))
    disposition = "inline" if inline else "attachment"
    return Response(
        content,
        media_type=mime if inline else "application/octet-stream",
        headers={
            "Content-Disposition": f"{disposition}; filename*=UTF-8''{name}",
            "X-Content-Type-Options": "nosniff",
            "Content-Security-Policy": "default-src 'none'; sandbox",
            "Cache-Control": "private, max-age=86400",
        },
    )


@router.get("/contacts/{contact_id}/avatar")
async def get_contact_avatar(
    contact_id: int, request: Request, session: SessionDep, viewer: ViewerDep
) -> Response:
    """A customer's avatar as copied from the platform (app/media/avatars.py)."""
    await access_contact(session, viewer, contact_id)
    content = await get_services(request).storage.get(avatar_key(contact_id))
    mime = image_type(content) if content is not None else None
    if content is None or mime is None:
        raise NotFound("avatar not found")
    return Response(
        content,
        media_type=mime,
        headers={
            "X-Content-Type-Options": "nosniff",
            "Content-Security-Policy": "default-src 'none'; sandbox",
            "Cache-Control": "private, max-age=3600",
        },
    )
