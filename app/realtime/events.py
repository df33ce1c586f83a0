"""The one list of live event names, and how actions queue them."""

from __future__ import annotations

from enum import StrEnum

from pydantic import BaseModel
from sqlalchemy.ext.asyncio import AsyncSession

from app.db import queue_event


class EventType(StrEnum):
    MESSAGE_CREATED = "message.created"
    MESSAGE_UPDATED = "message.updated"  # delivery status changes
    CONVERSATION_CREATED = "conversation.created"
    CONVERSATION_UPDATED = "conversation.updated"
    CONVERSATION_ASSIGNED = "conversation.assigned"
    # A user's credentials changed (role, channels, deactivation, a session or token
    # revoked). Read by every process's hub from the log, never sent on a socket: the
    # user's open sockets re-evaluate their viewer (or close) when it arrives.
    USER_ACCESS_CHANGED = "user.access_changed"
    # The to-do list and the customer record (CONTRACT section 8).
    TASK_CREATED = "task.created"
    TASK_UPDATED = "task.updated"
    # Many tasks made at once (a sweep or an import of more than 200): one event with
    # counts instead of one task.created each; pages reload their lists.
    TASK_BULK_CREATED = "task.bulk_created"
    CONTACT_UPDATED = "contact.updated"


ACCESS_CHANGED = str(EventType.USER_ACCESS_CHANGED)


def publish(
    session: AsyncSession,
    type: EventType,
    data: BaseModel,
    *,
    channel_id: int | None,
    conversation_id: int | None,
) -> None:
    """Queue an event; it is logged with the commit and sent only if the commit succeeds."""
    queue_event(
        session,
        {
            "type": str(type),
            "channel_id": channel_id,
            "conversation_id": conversation_id,
            "data": data.model_dump(mode="json"),
        },
    )


def publish_access_changed(session: AsyncSession, user_id: int) -> None:
    """Queue `user.access_changed`: the user's sockets, on every process, re-check."""
    queue_event(
        session,
        {
            "type": ACCESS_CHANGED,
            "channel_id": None,
            "conversation_id": None,
            "data": {"user_id": user_id},
        },
    )
