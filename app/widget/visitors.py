"""The widget's reads and writes: a visitor's identity, history, messages and profile.

Visitor messages go through `record_inbound_message` like every channel's; the
identity is `visitor:<id>` per browser, or `user:<id>` once the site vouched for the
user with identify()'s HMAC, so every device of that user shares one identity, one
contact and one history.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from sqlalchemy import func, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from app.db import PENDING_EVENTS
from app.inbox.inbound import record_inbound_message
from app.inbox.queries import conversation_view
from app.inbox.schemas import attachment_url, message_out
from app.models import Channel, Contact, ContactIdentity, Conversation, Message
from app.realtime.events import EventType, publish
from channels.base import ContentType, InboundContact, InboundMessage
from channels.webchat.frames import Profile
from channels.webchat.tokens import VisitorToken

# Messages whose ids are below the client's last one but that committed later (ids come
# from a sequence, commits in any order) are replayed too when this recent.
REPLAY_OVERLAP = timedelta(seconds=10)


@dataclass
class VisitorState:
    """Who the visitor is in the database; the identity exists from their first message."""

    identity_id: int | None = None
    contact_id: int | None = None
    conversations: set[int] = field(default_factory=set)
    known: dict[str, bool] = field(default_factory=dict)


def message_external_id(visitor_id: str, echo_id: str) -> str:
    """The dedupe key: a resend of the same echo_id from the same browser is stored once."""
    return f"w:{visitor_id}:{echo_id}"


async def load_state(session: AsyncSession, channel_id: int, external_id: str) -> VisitorState:
    identity = await session.scalar(
        select(ContactIdentity).where(
            ContactIdentity.channel_id == channel_id, ContactIdentity.external_id == external_id
        )
    )
    if identity is None:
        return VisitorState()
    contact = await session.get(Contact, identity.contact_id)
    ids = await session.scalars(
        select(Conversation.id).where(Conversation.identity_id == identity.id)
    )
    known = {}
    if contact is not None:
        known = {
            "name": identity.name is not None,
            "email": bool(contact.email),
            "phone": bool(contact.phone),
        }
    return VisitorState(identity.id, identity.contact_id, set(ids), known)


async def link_verified_user(
    session: AsyncSession, channel_id: int, visitor_id: str, user_id: str
) -> None:
    """identify() verified: when the site's user has no identity here yet but this browser
    chatted anonymously, that identity becomes the user's (the history follows them)."""
    user_ext = f"user:{user_id}"
    exists = await session.scalar(
        select(ContactIdentity.id).where(
            ContactIdentity.channel_id == channel_id, ContactIdentity.external_id == user_ext
        )
    )
    if exists is not None:
        return  # the user's contact already exists: from now on this browser writes as it
    anonymous = await session.scalar(
        select(ContactIdentity).where(
            ContactIdentity.channel_id == channel_id,
            ContactIdentity.external_id == f"visitor:{visitor_id}",
        )
    )
    if anonymous is None:
        return
    try:
        async with session.begin_nested():
            anonymous.external_id = user_ext
    except IntegrityError:  # another device created the user's identity just now
        pass


def _is_placeholder(identity: ContactIdentity, contact: Contact) -> bool:
    """The contact still has the label ingest gives a nameless customer."""
    return identity.name is None and (
        not contact.name or contact.name == f"客户 {identity.external_id[-4:]}"
    )


async def apply_profile(
    session: AsyncSession, state: VisitorState, profile: Profile, *, trusted: bool
) -> bool:
    """Fill the contact in from the visitor's own words; a verified identify() overrides.

    An unverified profile never replaces what is there: it only fills blanks (and the
    placeholder name), so a visitor cannot rename a contact an agent already knows.
    """
    if state.identity_id is None or not profile:
        return False
    identity = await session.get(ContactIdentity, state.identity_id)
    assert identity is not None
    contact = await session.get(Contact, identity.contact_id)
    assert contact is not None
    changed = False
    may_rename = trusted or _is_placeholder(identity, contact)
    renamed = contact.name != profile.name or identity.name != profile.name
    if profile.name and may_rename and renamed:
        contact.name = identity.name = profile.name
        changed = True
    if profile.email and (trusted or not contact.email) and contact.email != profile.email:
        contact.email = profile.email
        changed = True
    if profile.phone and (trusted or not contact.phone) and contact.phone != profile.phone:
        contact.phone = profile.phone
        changed = True
    state.known = {
        "name": identity.name is not None,
        "email": bool(contact.email),
        "phone": bool(contact.phone),
    }
    if changed:
        active = await session.scalar(
            select(Conversation).where(Conversation.active_identity_id == identity.id)
        )
        if active is not None:  # the inbox shows the new name at once
            publish(
                session,
                EventType.CONVERSATION_UPDATED,
                await conversation_view(session, active),
                channel_id=active.channel_id,
                conversation_id=active.id,
            )
    return changed


async def stored_message(
    session: AsyncSession, channel_id: int, visitor_id: str, echo_id: str
) -> Message | None:
    return await session.scalar(
        select(Message).where(
            Message.channel_id == channel_id,
            Message.external_id == message_external_id(visitor_id, echo_id),
        )
    )


async def record_visitor_message(
    session: AsyncSession,
    channel: Channel,
    token: VisitorToken,
    state: VisitorState,
    echo_id: str,
    text: str,
    *,
    name: str | None = None,
    content_type: ContentType = ContentType.TEXT,
) -> tuple[Message, bool]:
    """Store one visitor message (idempotent per echo_id); (message, newly stored)."""
    external_id = message_external_id(token.visitor_id, echo_id)
    inbound = InboundMessage(
        external_id=external_id,
        contact=InboundContact(external_id=token.external_id, name=name),
        content_type=content_type,
        text=text,
        extra={"echo_id": echo_id},
    )
    message = await record_inbound_message(session, channel, inbound)
    if message is None:
        existing = await stored_message(session, channel.id, token.visitor_id, echo_id)
        assert existing is not None
        return existing, False
    conversation = await session.get(Conversation, message.conversation_id)
    assert conversation is not None
    # Known before the commit, so the socket's event filter lets this message's events in.
    state.conversations.add(conversation.id)
    state.identity_id, state.contact_id = conversation.identity_id, conversation.contact_id
    return message, True


def attach_stored_file(session: AsyncSession, message: Message, attachment: dict[str, Any]) -> None:
    """Give a just-recorded message the file the visitor uploaded with it.

    Ingest knows only platform media still to download; this file is stored already.
    The `message.created` event queued in this transaction is brought up to date, so
    the inbox and the visitor's other tabs never see the image without its file.
    """
    message.attachments = [{**attachment, "url": attachment_url(message.id, 0)}]
    for row in session.info.get(PENDING_EVENTS, []):
        if row["type"] == EventType.MESSAGE_CREATED and row["data"].get("id") == message.id:
            row["data"] = message_data(message)


async def history(
    session: AsyncSession, identity_id: int, after_id: int, limit: int
) -> list[Message]:
    """The visitor's messages after `after_id` (the newest `limit`), oldest first."""
    visible = [
        Conversation.identity_id == identity_id,
        Message.private.is_(False),
        Message.content_type != ContentType.EVENT,
    ]
    since = None
    if after_id:
        since = await session.scalar(select(Message.created_at).where(Message.id == after_id))
    newer = Message.id > after_id
    if since is not None:
        newer = or_(newer, Message.created_at >= since - REPLAY_OVERLAP)
    rows = await session.scalars(
        select(Message)
        .join(Conversation, Conversation.id == Message.conversation_id)
        .where(*visible, newer)
        .order_by(Message.id.desc())
        .limit(limit)
    )
    return list(reversed(rows.all()))


async def conversation_messages(session: AsyncSession, conversation_id: int) -> list[Message]:
    rows = await session.scalars(
        select(Message)
        .where(Message.conversation_id == conversation_id, Message.private.is_(False))
        .order_by(Message.id)
        .limit(200)
    )
    return list(rows)


async def last_inbound_id(session: AsyncSession, conversation_id: int) -> int | None:
    value = await session.scalar(
        select(func.max(Message.id)).where(
            Message.conversation_id == conversation_id, Message.direction == "inbound"
        )
    )
    return int(value) if value is not None else None


def visitor_message(
    data: dict[str, Any], media_url: Callable[[int, int], str]
) -> dict[str, Any] | None:
    """A message as the visitor may see it (from the API shape): never a private note,
    no internal ids or delivery errors; stored files as signed widget links."""
    if data.get("private") or data.get("content_type") == ContentType.EVENT:
        return None
    inbound = data["direction"] == "inbound"
    attachments = []
    for index, att in enumerate(data.get("attachments") or []):
        item: dict[str, Any] = {"kind": att.get("kind"), "status": att.get("status")}
        if att.get("status") == "ready" and att.get("storage_key"):
            item["url"] = media_url(int(data["id"]), index)
            item["mime_type"] = att.get("mime_type")
            if att.get("kind") == "file":
                item["file_name"] = att.get("file_name") or ""
        attachments.append(item)
    extra = data.get("extra") or {}
    return {
        "id": data["id"],
        "conversation_id": data["conversation_id"],
        "from": "visitor" if inbound else "agent",
        "name": "" if inbound else data["sender"].get("name") or "",
        "content_type": data["content_type"],
        "text": data.get("content") or "",
        "attachments": attachments,
        "echo_id": extra.get("echo_id") if inbound else None,
        "created_at": data["created_at"],
    }


def message_data(message: Message) -> dict[str, Any]:
    """A stored message in its API (and event) shape."""
    return message_out(message).model_dump(mode="json")
