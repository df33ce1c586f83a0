"""What the demo's history seeders share: channels and agents to spread the past over,
a customer with their identity on a channel, a resolved conversation, its messages.

The rows are written directly (no actions, no events): the history is in place before
the server starts, like an import of past data.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.models import Channel, Contact, ContactIdentity, Conversation, Message, SenderType, User


async def channels_and_agents(session: AsyncSession) -> tuple[list[Channel], list[User]]:
    """Every channel, and the active agents, in id order."""
    channels = list(await session.scalars(select(Channel).order_by(Channel.id)))
    agents = list(
        await session.scalars(
            select(User).where(User.role == "agent", User.active.is_(True)).order_by(User.id)
        )
    )
    return channels, agents


async def add_customer(
    session: AsyncSession,
    channel: Channel,
    external_id: str,
    name: str,
    at: datetime,
    *,
    owner_id: int | None = None,
) -> tuple[Contact, ContactIdentity]:
    """A customer first seen at `at`, with their one identity on `channel`."""
    contact = Contact(name=name, owner_id=owner_id, created_at=at, updated_at=at)
    session.add(contact)
    await session.flush()
    identity = ContactIdentity(
        contact_id=contact.id,
        channel_id=channel.id,
        external_id=external_id,
        name=name,
        created_at=at,
    )
    session.add(identity)
    await session.flush()
    return contact, identity


async def add_resolved_conversation(
    session: AsyncSession, identity: ContactIdentity, at: datetime, **fields: Any
) -> Conversation:
    """A conversation opened at `at` and resolved (`fields` set its times and the rest)."""
    conversation = Conversation(
        channel_id=identity.channel_id,
        contact_id=identity.contact_id,
        identity_id=identity.id,
        status="resolved",
        **{"created_at": at, "updated_at": at, "last_message_at": at, **fields},
    )
    session.add(conversation)
    await session.flush()
    return conversation


def history_message(
    conversation: Conversation,
    at: datetime,
    text: str,
    *,
    inbound: bool,
    sender_id: int | None = None,
    sender_name: str = "",
    external_id: str | None = None,
) -> Message:
    """A past text message: the customer's, received; or an agent's, sent."""
    return Message(
        conversation_id=conversation.id,
        channel_id=conversation.channel_id,
        direction="inbound" if inbound else "outbound",
        private=False,
        sender_type=SenderType.CONTACT if inbound else SenderType.USER,
        sender_id=sender_id,
        sender_name=sender_name,
        content_type="text",
        content=text,
        attachments=[],
        extra={},
        external_id=external_id,
        delivery_status="received" if inbound else "sent",
        created_at=at,
        sent_at=None if inbound else at,
    )
