"""Conversations, messages and the outbound delivery queue (transactional outbox).

No foreign key cascades: removing (deactivating, archiving) a user, channel or
contact never touches the history.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import (
    Boolean,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from app.models.base import Base, JSONType, UTCDateTime, utcnow


class ConversationStatus(StrEnum):
    OPEN = "open"
    PENDING = "pending"
    RESOLVED = "resolved"


class SenderType(StrEnum):
    CONTACT = "contact"
    USER = "user"
    SYSTEM = "system"


class DeliveryStatus(StrEnum):
    RECEIVED = "received"
    QUEUED = "queued"
    SENT = "sent"
    FAILED = "failed"
    # The platform may have delivered it (no answer after the request went out) and has no
    # idempotency key, so it is not sent again on its own: the agent decides (retry).
    UNCERTAIN = "uncertain"


class JobStatus(StrEnum):
    PENDING = "pending"
    IN_FLIGHT = "in_flight"
    DONE = "done"
    FAILED = "failed"


class Conversation(Base):
    __tablename__ = "conversations"
    __table_args__ = (
        # The inbox list: newest first, by status or across all, paged by (time, id).
        Index("ix_conversations_status_last_message_at_id", "status", "last_message_at", "id"),
        Index("ix_conversations_last_message_at_id", "last_message_at", "id"),
        Index("ix_conversations_assignee_id_status", "assignee_id", "status"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    channel_id: Mapped[int] = mapped_column(ForeignKey("channels.id"), index=True)
    contact_id: Mapped[int] = mapped_column(ForeignKey("contacts.id"), index=True)
    identity_id: Mapped[int] = mapped_column(ForeignKey("contact_identities.id"), index=True)
    # Equals identity_id while open or pending, NULL once resolved: the unique index
    # makes "one active conversation per identity" hold even when two pushes race.
    active_identity_id: Mapped[int | None] = mapped_column(Integer, unique=True)
    status: Mapped[str] = mapped_column(String(20), default=ConversationStatus.OPEN)
    assignee_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    # When the current assignee got it: the re-queue sweep gives them time to answer.
    assigned_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    unread_count: Mapped[int] = mapped_column(Integer, default=0)
    # The last message's own text and its content type: the preview's label (`[图片]`) is
    # added at display time, in the reader's language (app/i18n.preview).
    last_message_preview: Mapped[str] = mapped_column(String(200), default="")
    last_message_type: Mapped[str] = mapped_column(
        String(20), default="text", server_default="text"
    )
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_message_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_inbound_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    first_response_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # When the wait for a first response becomes overdue: the channel's target counted in
    # its business hours from when the conversation opened (app/service/actions/facts.py).
    first_response_due_at: Mapped[datetime | None] = mapped_column(UTCDateTime, index=True)
    resolved_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # When the platform stops accepting replies (WeChat: 48 h after the customer's last message).
    reply_window_expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class Message(Base):
    __tablename__ = "messages"
    __table_args__ = (
        UniqueConstraint("channel_id", "external_id"),
        Index("ix_messages_conversation_id_id", "conversation_id", "id"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    conversation_id: Mapped[int] = mapped_column(ForeignKey("conversations.id"))
    channel_id: Mapped[int] = mapped_column(ForeignKey("channels.id"))
    direction: Mapped[str] = mapped_column(String(10))
    private: Mapped[bool] = mapped_column(Boolean, default=False)
    sender_type: Mapped[str] = mapped_column(String(10))
    sender_id: Mapped[int | None] = mapped_column(Integer)
    # Captured at write time, so it survives renames and staff turnover.
    sender_name: Mapped[str] = mapped_column(String(200), default="")
    content_type: Mapped[str] = mapped_column(String(20))
    content: Mapped[str] = mapped_column(Text, default="")
    attachments: Mapped[list[dict[str, Any]]] = mapped_column(JSONType, default=list)
    # Structured content (location, link, event) and the platform's reply context.
    extra: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    # The platform's message id; unique per channel so a retried push is a no-op.
    external_id: Mapped[str | None] = mapped_column(String(200))
    delivery_status: Mapped[str | None] = mapped_column(String(10))
    error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    # The platform's own timestamp, for display; ordering uses `id`.
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # Inbound media still to download (after the acknowledgement); the media worker's queue.
    media_pending: Mapped[bool] = mapped_column(Boolean, default=False, index=True)


class DeliveryJob(Base):
    """One outbound message to send, written in the same transaction as the message."""

    __tablename__ = "delivery_jobs"
    __table_args__ = (
        Index("ix_delivery_jobs_status_next_attempt_at", "status", "next_attempt_at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    message_id: Mapped[int] = mapped_column(ForeignKey("messages.id"), unique=True)
    conversation_id: Mapped[int] = mapped_column(ForeignKey("conversations.id"), index=True)
    channel_id: Mapped[int] = mapped_column(ForeignKey("channels.id"))
    idempotency_key: Mapped[str] = mapped_column(String(64), unique=True)
    status: Mapped[str] = mapped_column(String(20), default=JobStatus.PENDING)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    locked_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    locked_by: Mapped[str | None] = mapped_column(String(100))
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
