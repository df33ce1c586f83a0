"""POST /api/v1/conversations/{id}/attachments: an agent's image or file reply (or note).

Only where the channel's connector can send that kind (`capabilities.media_replies`): WeChat's
customer-service API and Douyin's reply API take no documents, so files go out on
the website chat only. The file is stored first, then the reply is queued like a
text reply.
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


# Documents agents send (quotes, invoices, manuals): up to 3 MB, inside the 4 MB cap
# on any request body (Settings.max_body_bytes) with the form's overhead.
MAX_FILE_BYTES = 3 * 1024 * 1024
OOXML = {
    "docx": "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "pptx": "application/vnd.openxmlformats-officedocument.presentationml.presentation",
}
LEGACY_OFFICE = {
    "doc": "application/msword",
    "xls": "application/vnd.ms-excel",
    "ppt": "application/vnd.ms-powerpoint",
}


def sniff_document(content: bytes, file_name: str) -> str | None:
    """PDF or an Office document, by its magic bytes and (for the zip and OLE containers,
    which hold many things) its extension; anything else is refused."""
    ext = file_name.rsplit(".", 1)[-1].lower() if "." in file_name else ""
    if content.startswith(b"%PDF-"):
        return "application/pdf"
    if content.startswith(b"PK\x03\x04") and ext in OOXML:
        return OOXML[ext]
    if content.startswith(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1") and ext in LEGACY_OFFICE:
        return LEGACY_OFFICE[ext]
    return None


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
    content = await file.read(MAX_FILE_BYTES + 1)
    name = (file.filename or "file")[:200]
    mime = sniff_image(content)
    kind = ContentType.IMAGE if mime else ContentType.FILE
    if kind == ContentType.IMAGE and len(content) > MAX_IMAGE_BYTES:
        raise BadRequest(f"image larger than {MAX_IMAGE_BYTES // (1024 * 1024)} MB")
    if mime is None:
        mime = sniff_document(content, name)
        if mime is None:
            raise BadRequest("only PNG, JPEG and GIF images, PDF and Office documents can be sent")
        if len(content) > MAX_FILE_BYTES:
            raise BadRequest(f"file larger than {MAX_FILE_BYTES // (1024 * 1024)} MB")
    if not private and kind not in supported:
        what = "images" if kind == ContentType.IMAGE else "files"
        raise BadRequest(f"this channel ({channel.type}) cannot send {what}")
    key = f"outbound/{channel.id}/{uuid.uuid4().hex}"
    await get_services(request).storage.put(key, content)
    attachment: dict[str, object] = {
        "kind": str(kind),
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
        content_type=kind,
        attachments=[attachment],
    )
    return message_out(message)
