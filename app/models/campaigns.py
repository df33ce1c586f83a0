"""Invitation campaigns (邀约, CONTRACT section 10): the event, its invitees, each step.

An invitee's state only moves through app/campaigns/actions.py; every move is kept as a
`campaign_transitions` row (who, when, from, to, note). Nothing here is hard-deleted.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from app.models.base import Base, UTCDateTime, utcnow


class InviteeState(StrEnum):
    LISTED = "listed"
    CONTACTED = "contacted"
    CONFIRMED = "confirmed"
    DECLINED = "declined"
    NO_ANSWER = "no_answer"
    REMINDED = "reminded"
    ATTENDED = "attended"
    NO_SHOW = "no_show"


class CampaignTaskKind(StrEnum):
    """The task kinds a campaign makes (CONTRACT section 8 lists them with the others)."""

    INVITE = "invite"
    REMIND = "remind"


class Campaign(Base):
    """An event on a day with a capacity, to which customers are invited."""

    __tablename__ = "campaigns"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    title: Mapped[str] = mapped_column(String(200))
    starts_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    capacity: Mapped[int] = mapped_column(Integer)
    location: Mapped[str] = mapped_column(String(300), default="")
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class CampaignInvitee(Base):
    """One customer invited to one campaign; at most once (the unique pair)."""

    __tablename__ = "campaign_invitees"
    __table_args__ = (
        UniqueConstraint("campaign_id", "contact_id"),
        Index("ix_campaign_invitees_contact_id", "contact_id"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    campaign_id: Mapped[int] = mapped_column(ForeignKey("campaigns.id"))
    contact_id: Mapped[int] = mapped_column(ForeignKey("contacts.id"))
    state: Mapped[str] = mapped_column(String(20), default=InviteeState.LISTED)
    # "new", "returning" or "loyal" when listed (app/campaigns/mix.py says how).
    segment: Mapped[str] = mapped_column(String(20), default="new")
    note: Mapped[str | None] = mapped_column(Text)
    invite_task_id: Mapped[int | None] = mapped_column(ForeignKey("tasks.id"))
    remind_task_id: Mapped[int | None] = mapped_column(ForeignKey("tasks.id"))
    added_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class CampaignTransition(Base):
    """One step of one invitee: from which state to which, by whom, when, with a note."""

    __tablename__ = "campaign_transitions"
    __table_args__ = (Index("ix_campaign_transitions_invitee_id", "invitee_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    invitee_id: Mapped[int] = mapped_column(ForeignKey("campaign_invitees.id"))
    from_state: Mapped[str | None] = mapped_column(String(20))
    to_state: Mapped[str] = mapped_column(String(20))
    note: Mapped[str | None] = mapped_column(Text)
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
