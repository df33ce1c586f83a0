"""The downloaded-media action: a message's attachments after a download pass, and the event."""

from __future__ import annotations

from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from app.inbox.actions.events import publish_message
from app.models import Message
from app.realtime.events import EventType


async def record_media_downloads(
    session: AsyncSession, message_id: int, attachments: list[dict[str, Any]]
) -> None:
    """Store the attachments' new states (ready with a storage key, retrying, failed);
    the message stops waiting for media once none is left to try."""
    message = await session.get(Message, message_id)
    assert message is not None
    message.attachments = attachments
    message.media_pending = not media_settled(attachments)
    publish_message(session, message, EventType.MESSAGE_UPDATED)


def media_settled(attachments: list[dict[str, Any]]) -> bool:
    """Every attachment is ready or has failed for good."""
    return all(a.get("status") in ("ready", "failed") for a in attachments)
