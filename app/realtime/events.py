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
    # issue 15: the to-do list and the customer record
    TASK_CREATED = "task.created"
    TASK_UPDATED = "task.updated"
    CONTACT_UPDATED = "contact.updated"


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
