"""POST /api/v1/conversations/{id}/attachments: an agent's image reply (or note).

Only where the channel's connector can send media (`capabilities.media_replies`); the file
is stored first, then the reply is queued like a text reply.
"""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, File, Form, Request, UploadFile

from app.deps import SessionDep, ViewerDep
from app.errors import BadRequest
from app.inbox.access import access_conversation
from app.inbox.actions import conversations as actions
from app.inbox.schemas import MessageOut, message_out
from app.models import Channel
from app.services import get_services
from channels import registry
from channels.base import ContentType

router = APIRouter(prefix="/api/v1", tags=["media"])

# WeChat's temporary image media: png/jpeg/gif up to 2 MB (channels.md 2.5); the
# strictest platform sets the bar so one upload works on every channel.
MAX_IMAGE_BYTES = 2 * 1024 * 1024
IMAGE_TYPES = {
    b"\x89PNG\r\n\x1a\n": "image/png",
    b"\xff\xd8\xff": "image/jpeg",
    b"GIF8": "image/gif",
}


def sniff_image(content: bytes) -> str | None:
    """The image type by its magic bytes: the declared content type is the client's claim."""
    for magic, mime in IMAGE_TYPES.items():
        if content.startswith(magic):
            return mime
    return None


@router.post("/conversations/{conversation_id}/attachments", status_code=201)
async def upload_reply_image(
    conversation_id: int,
    request: Request,
    session: SessionDep,
    viewer: ViewerDep,
    file: Annotated[UploadFile, File()],
    private: Annotated[bool, Form()] = False,
    caption: Annotated[str, Form(max_length=500)] = "",
) -> MessageOut:
    conversation = await access_conversation(session, viewer, conversation_id, for_update=True)
    channel = await session.get(Channel, conversation.channel_id)
    assert channel is not None
    connector = registry.get(channel.type)
    supported = connector.capabilities.media_replies if connector else frozenset()
    if not private and ContentType.IMAGE not in supported:
        raise BadRequest(f"this channel ({channel.type}) cannot send images")
    content = await file.read(MAX_IMAGE_BYTES + 1)
    if len(content) > MAX_IMAGE_BYTES:
        raise BadRequest(f"image larger than {MAX_IMAGE_BYTES // (1024 * 1024)} MB")
    mime = sniff_image(content)
    if mime is None:
        raise BadRequest("only PNG, JPEG and GIF images can be sent")
    key = f"outbound/{channel.id}/{uuid.uuid4().hex}"
    await get_services(request).storage.put(key, content)
    name = (file.filename or "image")[:200]
    attachment: dict[str, object] = {
        "kind": "image",
        "status": "ready",
        "storage_key": key,
        "mime_type": mime,
        "file_name": name,
        "size": len(content),
    }
    message = await actions.send_reply(
        session,
        viewer,
        conversation,
        caption,
        private,
        content_type=ContentType.IMAGE,
        attachments=[attachment],
    )
    return message_out(message)
