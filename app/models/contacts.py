"""The unified customer: one contact, one identity per channel they wrote from."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    Boolean,
    Computed,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from app.models.base import Base, JSONType, UTCDateTime, utcnow

SEARCH_TEXT_SQL = (
    "lower(coalesce(name, '') || ' ' || coalesce(phone, '') || ' ' || coalesce(email, ''))"
)


class Contact(Base):
    __tablename__ = "contacts"
    __table_args__ = (
        # The customers list by owner (me, none, someone), most recent first (issue 15).
        Index("ix_contacts_owner_id_last_interaction_at", "owner_id", "last_interaction_at", "id"),
        # The customers list, most recent first, with what `q=` looks at: on SQLite a
        # search walks this index and reads a contact's row only when its text matches.
        Index(
            "ix_contacts_recent_search",
            "last_interaction_at",
            "id",
            "merged_into_id",
            "search_text",
        ),
        # The customers list by lifecycle, most recent first: one range of this index in
        # the list's order, however far down the recency order that lifecycle's customers
        # are (migration 0020standing).
        Index("ix_contacts_standing_recent", "standing", "last_interaction_at", "id"),
        # `q=` on PostgreSQL: a trigram index answers ILIKE '%...%' of 3 characters or more
        # (pg_trgm, migration 0014cust). Empty on SQLite (WHERE 0): nothing to maintain.
        Index(
            "ix_contacts_search_text_trgm",
            "search_text",
            postgresql_using="gin",
            postgresql_ops={"search_text": "gin_trgm_ops"},
            sqlite_where=text("0"),
        ),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(200), default="")
    avatar_url: Mapped[str | None] = mapped_column(String(1000))
    # Indexed for the order import, which matches customers by phone (issue 15).
    phone: Mapped[str | None] = mapped_column(String(50), index=True)
    email: Mapped[str | None] = mapped_column(String(254))
    notes: Mapped[str] = mapped_column(Text, default="")
    attributes: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    # issue 15: who keeps the relationship, when to call again, what days matter.
    owner_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    follow_up_days: Mapped[int | None] = mapped_column(Integer)
    important_dates: Mapped[list[dict[str, Any]]] = mapped_column(JSONType, default=list)
    marketing_consent: Mapped[bool] = mapped_column(Boolean, default=False)
    # The latest inbound message or order: the customers list sorts by it.
    last_interaction_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    next_follow_up_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # When the sweep must look at this contact's important dates again (indexed: the
    # sweep reads only contacts that are due, never all of them).
    next_care_check_at: Mapped[datetime | None] = mapped_column(UTCDateTime, index=True)
    # "active", or "lost" when an agent marks the customer lost (a hard churn event).
    lifecycle: Mapped[str] = mapped_column(String(20), default="active")
    lost_reason: Mapped[str | None] = mapped_column(Text)
    # The lifecycle the customers list shows (CONTRACT section 11): "lost" when an agent
    # marked the customer lost, else their retention_scores row's lifecycle, else
    # `lifecycle`. Kept by database triggers on contacts and retention_scores (migration
    # 0020standing) in the writer's transaction, whoever writes: the application never
    # sets it, so no writer of scores can forget it and updated_at (the retention
    # worker's sign of a change) never moves for it.
    standing: Mapped[str] = mapped_column(String(20), server_default="active")
    lifecycle_changed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # Set while merged into another contact; such a contact is hidden from lists.
    merged_into_id: Mapped[int | None] = mapped_column(ForeignKey("contacts.id"))
    # What the customers list's `q=` matches, kept by the database itself whoever writes
    # the contact: name, phone and email in one text (a candidate filter: the list checks
    # each field's ILIKE after it). Virtual on SQLite (stored only in the index above),
    # stored on PostgreSQL (its only kind).
    search_text: Mapped[str] = mapped_column(Text, Computed(SEARCH_TEXT_SQL), deferred=True)


class ContactIdentity(Base):
    """The customer as one platform knows them (WeChat openid, Douyin open_id, visitor id)."""

    __tablename__ = "contact_identities"
    __table_args__ = (
        UniqueConstraint("channel_id", "external_id"),
        # The order import matches by openid or external id whatever the channel.
        Index("ix_contact_identities_external_id", "external_id"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    contact_id: Mapped[int] = mapped_column(ForeignKey("contacts.id"), index=True)
    channel_id: Mapped[int] = mapped_column(ForeignKey("channels.id"))
    external_id: Mapped[str] = mapped_column(String(200))
    name: Mapped[str | None] = mapped_column(String(200))
    avatar_url: Mapped[str | None] = mapped_column(String(1000))
    # Set when the platform says the customer can no longer be written to (unsubscribed).
    unreachable: Mapped[bool] = mapped_column(Boolean, default=False)
    # What a reply needs from the latest inbound message (e.g. Douyin msg_id).
    reply_context: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
