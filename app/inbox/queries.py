"""Reads for the inbox API: lists with cursors, one conversation, a contact's history."""

from __future__ import annotations

import base64
import json
from typing import Any, cast

from sqlalchemy import Select, select, tuple_
from sqlalchemy.ext.asyncio import AsyncSession

from app.errors import BadRequest, NotFound
from app.inbox.access import Viewer
from app.inbox.schemas import (
    ChannelRef,
    ContactOut,
    ConversationOut,
    IdentityOut,
    MessageOut,
    conversation_out,
    message_out,
)
from app.models import Channel, Contact, ContactIdentity, Conversation, Message, User

DEFAULT_LIMIT = 50
MAX_LIMIT = 200


def check_limit(limit: int) -> int:
    if not 1 <= limit <= MAX_LIMIT:
        raise BadRequest(f"limit must be between 1 and {MAX_LIMIT}")
    return limit


def encode_cursor(values: list[Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(values).encode()).decode().rstrip("=")


def decode_cursor(cursor: str, arity: int) -> list[Any]:
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        values = json.loads(base64.urlsafe_b64decode(padded.encode()))
    except (ValueError, UnicodeDecodeError) as exc:
        raise BadRequest("invalid cursor") from exc
    if not isinstance(values, list) or len(values) != arity:
        raise BadRequest("invalid cursor")
    return values


def decode_id_cursor(cursor: str) -> int:
    (before,) = decode_cursor(cursor, 1)
    if not isinstance(before, int) or isinstance(before, bool):
        raise BadRequest("invalid cursor")
    return before


async def conversation_view(
    session: AsyncSession,
    c: Conversation,
    *,
    channel: Channel | None = None,
    contact: Contact | None = None,
    identity: ContactIdentity | None = None,
) -> ConversationOut:
    """One conversation as the API shows it; rows the caller already holds are not re-read."""
    channel = channel or await session.get(Channel, c.channel_id)
    contact = contact or await session.get(Contact, c.contact_id)
    identity = identity or await session.get(ContactIdentity, c.identity_id)
    assignee = await session.get(User, c.assignee_id) if c.assignee_id else None
    assert channel and contact and identity
    return conversation_out(c, channel, contact, identity, assignee)


def _conversation_rows() -> Select[Any]:
    return cast(  # rows are (Conversation, Channel, Contact, ContactIdentity, User | None)
        Select[Any],
        select(Conversation, Channel, Contact, ContactIdentity, User)
        .join(Channel, Channel.id == Conversation.channel_id)
        .join(Contact, Contact.id == Conversation.contact_id)
        .join(ContactIdentity, ContactIdentity.id == Conversation.identity_id)
        .outerjoin(User, User.id == Conversation.assignee_id),
    )


async def list_conversations(
    session: AsyncSession,
    viewer: Viewer,
    *,
    status: str,
    channel_id: int | None,
    assignee: str | None,
    cursor: str | None,
    limit: int,
) -> tuple[list[ConversationOut], str | None]:
    stmt = _conversation_rows()
    if status != "all":
        if status not in ("open", "pending", "resolved"):
            raise BadRequest("status must be open, pending, resolved or all")
        stmt = stmt.where(Conversation.status == status)
    if channel_id is not None:
        stmt = stmt.where(Conversation.channel_id == channel_id)
    clause = viewer.channel_clause(Conversation.channel_id)
    if clause is not None:
        stmt = stmt.where(clause)
    if assignee == "me":
        stmt = stmt.where(Conversation.assignee_id == viewer.id)
    elif assignee == "none":
        stmt = stmt.where(Conversation.assignee_id.is_(None))
    elif assignee:
        if not assignee.isdigit():
            raise BadRequest("assignee must be me, none or a user id")
        stmt = stmt.where(Conversation.assignee_id == int(assignee))
    if cursor:
        at, cid = decode_cursor(cursor, 2)
        try:
            at_value = _parse_dt(at)
            cid = int(cid)
        except (TypeError, ValueError) as exc:
            raise BadRequest("invalid cursor") from exc
        # A row-value comparison, unlike the equivalent OR, walks the (…, last_message_at,
        # id) indexes: list p95 with 100k conversations went 77 -> 11 ms on PostgreSQL.
        stmt = stmt.where(tuple_(Conversation.last_message_at, Conversation.id) < (at_value, cid))
    stmt = stmt.order_by(Conversation.last_message_at.desc(), Conversation.id.desc())
    rows = (await session.execute(stmt.limit(limit + 1))).all()
    items = [conversation_out(*row) for row in rows[:limit]]
    next_cursor = None
    if len(rows) > limit:
        last = rows[limit - 1][0]
        next_cursor = encode_cursor([last.last_message_at.isoformat(), last.id])
    return items, next_cursor


def _parse_dt(value: Any) -> Any:
    from datetime import datetime

    if not isinstance(value, str):
        raise ValueError("not a timestamp")
    parsed = datetime.fromisoformat(value)
    if parsed.tzinfo is None:
        raise ValueError("naive timestamp")
    return parsed


async def list_messages(
    session: AsyncSession, conversation: Conversation, *, cursor: str | None, limit: int
) -> tuple[list[MessageOut], str | None]:
    stmt = select(Message).where(Message.conversation_id == conversation.id)
    if cursor:
        stmt = stmt.where(Message.id < decode_id_cursor(cursor))
    rows = (await session.scalars(stmt.order_by(Message.id.desc()).limit(limit + 1))).all()
    items = [message_out(m) for m in rows[:limit]]
    next_cursor = encode_cursor([rows[limit - 1].id]) if len(rows) > limit else None
    return items, next_cursor


async def contact_view(session: AsyncSession, viewer: Viewer, contact_id: int) -> ContactOut:
    contact = await session.get(Contact, contact_id)
    if contact is None:
        raise NotFound("contact not found")
    identity_rows = (
        await session.execute(
            select(ContactIdentity, Channel)
            .join(Channel, Channel.id == ContactIdentity.channel_id)
            .where(ContactIdentity.contact_id == contact.id)
            .order_by(ContactIdentity.id)
        )
    ).all()
    visible = [(i, ch) for i, ch in identity_rows if viewer.can_see_channel(ch.id)]
    if not visible:
        raise NotFound("contact not found")
    conv_rows = (
        await session.execute(
            _conversation_rows()
            .where(Conversation.contact_id == contact.id)
            .order_by(Conversation.last_message_at.desc(), Conversation.id.desc())
            .limit(MAX_LIMIT)
        )
    ).all()
    from app.contacts.customers_queries import crm_fields  # the customer record (issue 15)

    return ContactOut(
        **await crm_fields(session, viewer, contact),
        id=contact.id,
        name=contact.name,
        avatar_url=contact.avatar_url,
        phone=contact.phone,
        email=contact.email,
        notes=contact.notes,
        attributes=dict(contact.attributes or {}),
        identities=[
            IdentityOut(
                channel=ChannelRef(id=ch.id, type=ch.type, name=ch.name),
                external_id=i.external_id,
                name=i.name,
                avatar_url=i.avatar_url,
                unreachable=i.unreachable,
            )
            for i, ch in visible
        ],
        conversations=[
            conversation_out(*row) for row in conv_rows if viewer.can_see_channel(row[0].channel_id)
        ],
        created_at=contact.created_at,
    )
