"""The widget's reads: a visitor's identity, history and messages (writes: actions.py).

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
from sqlalchemy.ext.asyncio import AsyncSession

from app.inbox.schemas import message_out
from app.models import Contact, ContactIdentity, Conversation, Message
from channels.base import ContentType

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


async def stored_message(
    session: AsyncSession, channel_id: int, visitor_id: str, echo_id: str
) -> Message | None:
    return await session.scalar(
        select(Message).where(
            Message.channel_id == channel_id,
            Message.external_id == message_external_id(visitor_id, echo_id),
        )
    )


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
        # The CSAT survey (app/service): the widget shows its 1-5 choices as buttons.
        "survey": _survey(extra) if not inbound else None,
    }


def _survey(extra: dict[str, Any]) -> dict[str, Any] | None:
    csat = extra.get("csat")
    if not isinstance(csat, dict):
        return None
    scores = [c.get("score") for c in csat.get("choices") or [] if isinstance(c, dict)]
    return {"scores": [s for s in scores if isinstance(s, int) and 1 <= s <= 5]}


def message_data(message: Message) -> dict[str, Any]:
    """A stored message in its API (and event) shape."""
    return message_out(message).model_dump(mode="json")
