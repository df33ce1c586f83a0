"""The ingest action every connector's messages go through.

One transaction: upsert the contact and its identity on this channel, find or open
the conversation, insert the message behind the unique (channel, external_id)
index. A retried or racing push of the same message stores nothing and publishes
nothing.

A customer message to a *resolved* conversation opens a new conversation (the
resolved one keeps its resolution time and history; the contact's page shows
both). Lifecycle events (subscribe, entering the chat) never reopen anything:
they join the identity's latest conversation, or, when there is none, one created
already resolved so that the queue is not filled with followers who said nothing.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import func, select, text
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession

from app.archive.search import index_message
from app.inbox.assignment import assign_new_conversation
from app.inbox.queries import conversation_view
from app.inbox.schemas import message_out
from app.models import (
    Channel,
    Contact,
    ContactIdentity,
    Conversation,
    ConversationStatus,
    DeliveryStatus,
    Message,
    SenderType,
    utcnow_for_models,
)
from app.realtime.events import EventType, publish
from channels.base import ContentType, Direction, InboundMessage

PREVIEW_CHARS = 120


def preview_of(content_type: str, text_: str) -> str:
    labels = {
        ContentType.IMAGE: "[图片]",
        ContentType.VOICE: "[语音]",
        ContentType.VIDEO: "[视频]",
        ContentType.FILE: "[文件]",
        ContentType.LOCATION: "[位置]",
        ContentType.LINK: "[链接]",
        ContentType.UNSUPPORTED: "[暂不支持的消息]",
    }
    body = text_.strip() or labels.get(ContentType(content_type), "")
    if content_type in (ContentType.VOICE, ContentType.LOCATION, ContentType.LINK) and text_:
        body = f"{labels[ContentType(content_type)]} {text_.strip()}"
    return body[:PREVIEW_CHARS]


def _dialect(session: AsyncSession) -> str:
    return session.get_bind().dialect.name


async def _lock_identity(session: AsyncSession, channel_id: int, external_id: str) -> None:
    """Serialize ingest per customer on PostgreSQL (SQLite serializes all writers)."""
    if _dialect(session) == "postgresql":
        await session.execute(
            text("SELECT pg_advisory_xact_lock(hashtextextended(:k, 0))"),
            {"k": f"ingest:{channel_id}:{external_id}"},
        )


async def _upsert_identity(
    session: AsyncSession, channel: Channel, inbound: InboundMessage
) -> tuple[ContactIdentity, Contact]:
    c = inbound.contact
    identity = await session.scalar(
        select(ContactIdentity).where(
            ContactIdentity.channel_id == channel.id, ContactIdentity.external_id == c.external_id
        )
    )
    if identity is None:
        # Platforms like WeChat send no nickname: a short stable label beats a blank row.
        name = c.name or f"客户 {c.external_id[-4:]}"
        contact = Contact(name=name, avatar_url=c.avatar_url, attributes=dict(c.attributes))
        session.add(contact)
        await session.flush()
        identity = ContactIdentity(
            contact_id=contact.id,
            channel_id=channel.id,
            external_id=c.external_id,
            name=c.name,
            avatar_url=c.avatar_url,
        )
        session.add(identity)
        await session.flush()
        return identity, contact
    existing = await session.get(Contact, identity.contact_id)
    assert existing is not None
    contact = existing
    if c.name and c.name != identity.name:
        identity.name = c.name
        if not contact.name:
            contact.name = c.name
    if c.avatar_url and c.avatar_url != identity.avatar_url:
        identity.avatar_url = c.avatar_url
        contact.avatar_url = contact.avatar_url or c.avatar_url
    return identity, contact


async def _conversation_for(
    session: AsyncSession, identity: ContactIdentity, inbound: InboundMessage, now: datetime
) -> tuple[Conversation, bool]:
    active = await session.scalar(
        select(Conversation).where(Conversation.active_identity_id == identity.id)
    )
    if active is not None:
        return active, False
    if not inbound.counts_as_unread or inbound.direction == Direction.OUTBOUND:
        latest = await session.scalar(
            select(Conversation)
            .where(Conversation.identity_id == identity.id)
            .order_by(Conversation.id.desc())
            .limit(1)
        )
        if latest is not None:
            return latest, False
    # A lifecycle event with no conversation to join (a new follower) is kept in a
    # conversation created resolved: the history is complete and the queue stays quiet.
    quiet = not inbound.counts_as_unread
    conversation = Conversation(
        channel_id=identity.channel_id,
        contact_id=identity.contact_id,
        identity_id=identity.id,
        active_identity_id=None if quiet else identity.id,
        status=ConversationStatus.RESOLVED if quiet else ConversationStatus.OPEN,
        resolved_at=now if quiet else None,
        created_at=now,
        updated_at=now,
        last_message_at=now,
    )
    session.add(conversation)
    await session.flush()
    return conversation, True


async def _insert_message(session: AsyncSession, values: dict[str, object]) -> int | None:
    """INSERT ... ON CONFLICT (channel_id, external_id) DO NOTHING; the new id or None."""
    insert = pg_insert if _dialect(session) == "postgresql" else sqlite_insert
    stmt = (
        insert(Message)
        .values(**values)
        .on_conflict_do_nothing(index_elements=["channel_id", "external_id"])
        .returning(Message.id)
    )
    return (await session.execute(stmt)).scalar_one_or_none()


# How far back an echo of our own send is matched by its text when the platform's
# echo arrives before the send call returned the platform's message id.
ECHO_MATCH_WINDOW = timedelta(minutes=10)


async def _claim_own_echo(session: AsyncSession, channel: Channel, inbound: InboundMessage) -> bool:
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


async def record_inbound_message(
    session: AsyncSession,
    channel: Channel,
    inbound: InboundMessage,
    *,
    reply_window: timedelta | None = None,
) -> Message | None:
    """Store one normalized platform message; None when it was already stored."""
    await _lock_identity(session, channel.id, inbound.contact.external_id)
    exists = await session.scalar(
        select(func.count()).where(
            Message.channel_id == channel.id, Message.external_id == inbound.external_id
        )
    )
    if exists:
        return None
    now = utcnow_for_models()
    if inbound.direction == Direction.OUTBOUND and await _claim_own_echo(session, channel, inbound):
        return None
    identity, contact = await _upsert_identity(session, channel, inbound)
    if inbound.reply_context and inbound.direction == Direction.INBOUND:
        identity.reply_context = dict(inbound.reply_context)
    if inbound.unreachable is not None:
        identity.unreachable = inbound.unreachable
    conversation, created = await _conversation_for(session, identity, inbound, now)

    outbound = inbound.direction == Direction.OUTBOUND
    extra = dict(inbound.extra)
    if inbound.reply_context:
        extra["reply_context"] = dict(inbound.reply_context)
    message_id = await _insert_message(
        session,
        {
            "conversation_id": conversation.id,
            "channel_id": channel.id,
            "direction": str(inbound.direction),
            "private": False,
            "sender_type": SenderType.SYSTEM if outbound else SenderType.CONTACT,
            "sender_id": None if outbound else contact.id,
            "sender_name": "" if outbound else (contact.name or identity.name or ""),
            "content_type": str(inbound.content_type),
            "content": inbound.text,
            "attachments": [
                {
                    "kind": str(m.kind),
                    "ref": m.ref,
                    "mime_type": m.mime_type,
                    "file_name": m.file_name,
                    "status": "pending",
                }
                for m in inbound.media
            ],
            "extra": extra,
            "external_id": inbound.external_id,
            "delivery_status": DeliveryStatus.SENT if outbound else DeliveryStatus.RECEIVED,
            "created_at": now,
            "sent_at": inbound.sent_at,
            "media_pending": bool(inbound.media),
        },
    )
    if message_id is None:  # lost a race the lock did not cover: nothing to publish
        return None
    message = await session.get(Message, message_id)
    assert message is not None
    # Archive hooks (app/archive, app/inbox/assignment.py), in this same transaction:
    # the message is searchable once committed, and a customer's new conversation
    # goes to an online agent before its `conversation.created` event is built.
    await index_message(session, message)
    if created and conversation.status == ConversationStatus.OPEN and not outbound:
        await assign_new_conversation(session, conversation)

    if inbound.content_type != ContentType.EVENT:
        conversation.last_message_at = now
        conversation.last_message_preview = preview_of(message.content_type, message.content)
    if inbound.counts_as_unread and not outbound:
        conversation.unread_count += 1
        conversation.last_inbound_at = now
        if reply_window is not None:
            conversation.reply_window_expires_at = (inbound.sent_at or now) + reply_window
    conversation.updated_at = now

    publish(
        session,
        EventType.MESSAGE_CREATED,
        message_out(message),
        channel_id=channel.id,
        conversation_id=conversation.id,
    )
    view = await conversation_view(session, conversation)
    publish(
        session,
        EventType.CONVERSATION_CREATED if created else EventType.CONVERSATION_UPDATED,
        view,
        channel_id=channel.id,
        conversation_id=conversation.id,
    )
    return message
