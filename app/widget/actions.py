"""What a widget visitor's words change: their messages, their profile, their identity.

The widget's action module (see app/inbox/actions/__init__.py): visitor messages go
through `record_inbound_message` like every channel's; profile changes publish the
conversation's new state.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from app.inbox.actions.events import publish_conversation
from app.inbox.actions.inbound import record_inbound_message
from app.models import Channel, Contact, ContactIdentity, Conversation, Message
from app.realtime.events import EventType
from app.widget.visitors import VisitorState, message_external_id, stored_message
from channels.base import ContentType, InboundContact, InboundMessage
from channels.webchat.frames import Profile
from channels.webchat.tokens import VisitorToken


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
            await publish_conversation(session, active, EventType.CONVERSATION_UPDATED)
    return changed


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
    stored_file: dict[str, Any] | None = None,
) -> tuple[Message, bool]:
    """Store one visitor message (idempotent per echo_id); (message, newly stored).

    `stored_file`: the file the visitor uploaded with it, already in storage; the
    message and its `message.created` event carry it from the start."""
    external_id = message_external_id(token.visitor_id, echo_id)
    inbound = InboundMessage(
        external_id=external_id,
        contact=InboundContact(external_id=token.external_id, name=name),
        content_type=content_type,
        text=text,
        extra={"echo_id": echo_id},
    )
    message = await record_inbound_message(
        session, channel, inbound, stored_files=[stored_file] if stored_file else ()
    )
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
