"""A platform's echo of one of our own replies, recognised instead of stored twice."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.models import (
    Channel,
    ContactIdentity,
    Conversation,
    Message,
    SenderType,
    utcnow_for_models,
)
from channels.base import Direction, InboundMessage

# How far back an echo of our own send is matched by its text when the platform's
# echo arrives before the send call returned the platform's message id.
ECHO_MATCH_WINDOW = timedelta(minutes=10)


async def claim_own_echo(session: AsyncSession, channel: Channel, inbound: InboundMessage) -> bool:
    """The platform echoed one of our replies before its send call returned: attach the
    platform's id to our message instead of storing the echo as a second message."""
    identity_id = await session.scalar(
        select(ContactIdentity.id).where(
            ContactIdentity.channel_id == channel.id,
            ContactIdentity.external_id == inbound.contact.external_id,
        )
    )
    if identity_id is None:
        return False
    since = utcnow_for_models() - ECHO_MATCH_WINDOW
    own = await session.scalar(
        select(Message)
        .join(Conversation, Conversation.id == Message.conversation_id)
        .where(
            Conversation.identity_id == identity_id,
            Message.direction == Direction.OUTBOUND,
            Message.sender_type == SenderType.USER,
            Message.private.is_(False),
            Message.external_id.is_(None),
            Message.content == inbound.text,
            Message.created_at >= since,
        )
        .order_by(Message.id)
        .limit(1)
    )
    if own is None:
        return False
    own.external_id = inbound.external_id
    return True
