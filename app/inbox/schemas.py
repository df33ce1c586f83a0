"""API shapes of CONTRACT section 5. Live events carry exactly these, so REST and
websocket clients always agree on what a message or conversation looks like."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any, Literal

from pydantic import BaseModel, Field

from app.i18n import preview
from app.models import Channel, Contact, ContactIdentity, Conversation, Message, Order, User
from app.models.base import attributes_of
from channels.base import STATE_REASON, STATE_REAUTHORIZATION_NEEDED


class Sender(BaseModel):
    type: Literal["contact", "user", "system"]
    id: int | None
    name: str


class MessageOut(BaseModel):
    id: int
    conversation_id: int
    direction: Literal["inbound", "outbound"]
    private: bool
    sender: Sender
    content_type: str
    content: str
    attachments: list[dict[str, Any]]
    extra: dict[str, Any]
    delivery_status: str | None
    error: str | None
    created_at: datetime
    sent_at: datetime | None


class ChannelRef(BaseModel):
    id: int
    type: str
    name: str

    @classmethod
    def of(cls, channel: Channel) -> ChannelRef:
        return cls(id=channel.id, type=channel.type, name=channel.name)


class LastOrderRef(BaseModel):
    order_no: str
    ordered_at: date


class ContactRef(BaseModel):
    id: int
    name: str
    avatar_url: str | None
    # To tell customers apart when the platform gave no nickname ("客户 er01", made up
    # at ingest): the id on this conversation's channel and the phone, if known.
    generated_name: bool = False
    external_id: str = ""
    phone: str | None = None
    # The customer's newest order (issue 21 item 7: a hint beside a made-up name).
    last_order: LastOrderRef | None = None


def generated_name(external_id: str) -> str:
    """The label ingest gives a customer whose platform sends no nickname."""
    return f"客户 {external_id[-4:]}"


class UserRef(BaseModel):
    id: int
    name: str


class CsatOut(BaseModel):
    """The customer's rating of a resolved conversation (contract section 9)."""

    score: int
    comment: str | None
    rated_at: datetime
    agent: UserRef | None  # the agent who last replied before it was rated


class ConversationOut(BaseModel):
    id: int
    channel: ChannelRef
    contact: ContactRef
    status: str
    assignee: UserRef | None
    # The preview in the default language (labels such as [图片] added here, not stored); the
    # pages compose their own from the type and the text, in the reader's language.
    last_message_preview: str
    last_message_type: str
    last_message_text: str
    unread_count: int
    created_at: datetime
    last_message_at: datetime
    first_response_at: datetime | None
    first_response_due_at: datetime | None = None
    resolved_at: datetime | None
    reply_window_expires_at: datetime | None
    # The customer can no longer be written to on this channel (e.g. unsubscribed).
    contact_unreachable: bool
    csat: CsatOut | None = None


class ChannelOut(BaseModel):
    id: int
    type: str
    name: str
    archived: bool
    created_at: datetime
    # The connector lost its grant (e.g. Douyin refresh token expired): 需要重新授权.
    needs_reauthorization: bool = False
    status_reason: str | None = None


class UserOut(BaseModel):
    id: int
    # Shown to supervisors, admins and the user themself; null for other agents.
    email: str | None
    name: str
    role: str
    active: bool
    channel_ids: list[int] | None  # None: every channel


class ReplyIn(BaseModel):
    content: str = Field(min_length=1, max_length=4000)
    private: bool = False


class AssignmentIn(BaseModel):
    assignee_id: int | None


class StatusIn(BaseModel):
    status: Literal["open", "pending", "resolved"]


def attachment_url(message_id: int, index: int) -> str:
    """Where staff download a stored attachment (app/media/endpoints.py)."""
    return f"/api/v1/messages/{message_id}/attachments/{index}"


def message_out(m: Message) -> MessageOut:
    return MessageOut(
        id=m.id,
        conversation_id=m.conversation_id,
        direction=m.direction,  # type: ignore[arg-type]
        private=m.private,
        sender=Sender(type=m.sender_type, id=m.sender_id, name=m.sender_name),  # type: ignore[arg-type]
        content_type=m.content_type,
        content=m.content,
        attachments=list(m.attachments or []),
        extra={k: v for k, v in (m.extra or {}).items() if k != "reply_context"},
        delivery_status=m.delivery_status,
        error=m.error,
        created_at=m.created_at,
        sent_at=m.sent_at,
    )


def conversation_out(
    c: Conversation,
    channel: Channel,
    contact: Contact,
    identity: ContactIdentity,
    assignee: User | None,
    last_order: Order | None = None,
) -> ConversationOut:
    return ConversationOut(
        id=c.id,
        channel=ChannelRef.of(channel),
        contact=ContactRef(
            id=contact.id,
            name=contact.name,
            avatar_url=contact.avatar_url,
            generated_name=contact.name == generated_name(identity.external_id),
            external_id=identity.external_id,
            phone=contact.phone,
            last_order=LastOrderRef(order_no=last_order.order_no, ordered_at=last_order.ordered_at)
            if last_order
            else None,
        ),
        status=c.status,
        assignee=UserRef(id=assignee.id, name=assignee.name) if assignee else None,
        last_message_preview=preview(c.last_message_type, c.last_message_preview),
        last_message_type=c.last_message_type,
        last_message_text=c.last_message_preview,
        unread_count=c.unread_count,
        created_at=c.created_at,
        last_message_at=c.last_message_at,
        first_response_at=c.first_response_at,
        first_response_due_at=c.first_response_due_at,
        resolved_at=c.resolved_at,
        reply_window_expires_at=c.reply_window_expires_at,
        contact_unreachable=identity.unreachable,
    )


def channel_out(ch: Channel) -> ChannelOut:
    state = ch.state or {}
    needs = bool(state.get(STATE_REAUTHORIZATION_NEEDED))
    return ChannelOut(
        **attributes_of(ch, "id", "type", "name", "archived", "created_at"),
        needs_reauthorization=needs,
        status_reason=str(state.get(STATE_REASON) or "") or None if needs else None,
    )
