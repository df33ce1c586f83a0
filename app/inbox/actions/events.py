"""The events the inbox actions publish most: a message, or a conversation, as the API shows it."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from app.inbox.queries import conversation_view
from app.inbox.schemas import message_out
from app.models import Conversation, Message
from app.realtime.events import EventType, publish


async def publish_conversation(
    session: AsyncSession, conversation: Conversation, type: EventType
) -> None:
    publish(
        session,
        type,
        await conversation_view(session, conversation),
        channel_id=conversation.channel_id,
        conversation_id=conversation.id,
    )


def publish_message(session: AsyncSession, message: Message, type: EventType) -> None:
    publish(
        session,
        type,
        message_out(message),
        channel_id=message.channel_id,
        conversation_id=message.conversation_id,
    )
