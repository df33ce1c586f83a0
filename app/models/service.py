"""Service quality: per-conversation facts (what reports read) and per-channel service settings.

`conversation_facts` has one row per conversation a customer wrote in or an agent answered
(follower-only conversations have none). It is kept up to date, a few column writes at a
time, by the inbox's actions (app/service/actions/facts.py hooks: inbound messages, agent
replies, status changes, CSAT answers), so reports and the retention features read it
instead of scanning `messages`. All times are aware UTC; durations are whole seconds.

- `created_at`: the conversation's creation; `channel_id`: its channel.
- `first_inbound_at`: the customer's first message in it.
- `messages_in`: customer messages (not lifecycle events); `messages_out`: agent replies that
  were sent to the customer (not private notes, not `system` messages such as greetings).
- `first_response_at`, `first_response_s`: the first agent reply and the time to it from
  `first_inbound_at` (or `created_at`); `first_response_business_s`: the same counted within the
  channel's business hours only (equal to `first_response_s` when the channel has none).
  System messages (greeting, away message, survey) never count as a response.
- `first_response_agent_id`: the conversation's assignee at its first response (the replier when
  it was unassigned): the "agent" of the reports. `last_agent_id`: the agent who last replied.
- `resolved_at`, `resolution_s`: the latest resolution and the time from `created_at` to it
  (both NULL again when the conversation is reopened).
- `csat_asked_at`: when the survey went out; `csat_score` 1-5, `csat_comment`,
  `csat_rated_at`, `csat_agent_id` (the agent credited: the last replier when it was rated).
- `greeted`: a greeting or an away message was sent; `away_sent`: the away message was (each
  goes out at most once per conversation).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Boolean, ForeignKey, Index, Integer, Text, text
from sqlalchemy.orm import Mapped, mapped_column

from app.models.base import Base, JSONType, UTCDateTime

# What the service report reads (app/service/reports.py), in the covering index's order.
REPORT_COLUMNS = (
    "created_at",
    "channel_id",
    "first_response_agent_id",
    "first_response_business_s",
    "resolution_s",
    "csat_score",
    "messages_in",
    "messages_out",
)


class ConversationFacts(Base):
    __tablename__ = "conversation_facts"
    __table_args__ = (
        # The service report's range on PostgreSQL (a 365-day report reads the table in one
        # sequential scan; updates of the counts stay HOT). Empty on SQLite (WHERE 0).
        Index("ix_conversation_facts_created_at", "created_at", sqlite_where=text("0")),
        # On SQLite the report reads only this index (migration 0016rep): every column
        # `app/service/reports.py` groups, counts and ranks, so a year's report reads no
        # table rows (one random row read per conversation made it 3-4 times slower).
        # Empty on PostgreSQL (WHERE false).
        Index(
            "ix_conversation_facts_report",
            *REPORT_COLUMNS,
            postgresql_where=text("false"),
        ),
    )

    conversation_id: Mapped[int] = mapped_column(
        ForeignKey("conversations.id"), primary_key=True, autoincrement=False
    )
    channel_id: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    first_inbound_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    messages_in: Mapped[int] = mapped_column(Integer, default=0)
    messages_out: Mapped[int] = mapped_column(Integer, default=0)
    first_response_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    first_response_s: Mapped[int | None] = mapped_column(Integer)
    first_response_business_s: Mapped[int | None] = mapped_column(Integer)
    first_response_agent_id: Mapped[int | None] = mapped_column(Integer)
    last_agent_id: Mapped[int | None] = mapped_column(Integer)
    resolved_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    resolution_s: Mapped[int | None] = mapped_column(Integer)
    csat_asked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    csat_score: Mapped[int | None] = mapped_column(Integer)
    csat_comment: Mapped[str | None] = mapped_column(Text)
    csat_rated_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    csat_agent_id: Mapped[int | None] = mapped_column(Integer)
    greeted: Mapped[bool] = mapped_column(Boolean, default=False)
    away_sent: Mapped[bool] = mapped_column(Boolean, default=False)


class ServiceSettings(Base):
    """A channel's service settings (contract section 9); no row = the defaults."""

    __tablename__ = "service_settings"

    channel_id: Mapped[int] = mapped_column(
        ForeignKey("channels.id"), primary_key=True, autoincrement=False
    )
    # {"mon": [["09:00", "18:00"]], ...}: missing day = closed; NULL = always open.
    business_hours: Mapped[dict[str, Any] | None] = mapped_column(JSONType)
    # Extra closed days ("2026-12-24"), on top of China's public holidays.
    holidays: Mapped[list[str]] = mapped_column(JSONType, default=list)
    away_message: Mapped[str] = mapped_column(Text, default="")
    greeting: Mapped[str] = mapped_column(Text, default="")
    csat_enabled: Mapped[bool] = mapped_column(Boolean, default=False)
    csat_question: Mapped[str] = mapped_column(Text, default="")
    first_response_minutes: Mapped[int] = mapped_column(Integer, default=5)
    updated_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
