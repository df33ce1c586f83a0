"""Each customer's retention standing (issue 17): risk, its factors and trend, tier, lifecycle.

One row per customer, rewritten by app/retention/actions.py when something that feeds
it changes (a message, a reply, an order, a day passing). The figures are defined in
CONTRACT section 11.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import BigInteger, Boolean, ForeignKey, Index, Integer, String, text
from sqlalchemy.orm import Mapped, mapped_column

from app.models.base import Base, JSONType, UTCDateTime, utcnow

SHANGHAI = ZoneInfo("Asia/Shanghai")  # days are China days (CONTRACT section 11)


class RetentionScore(Base):
    __tablename__ = "retention_scores"
    __table_args__ = (
        # The at-risk list: highest score first.
        Index("ix_retention_scores_score_contact_id", "score", "contact_id"),
    )

    contact_id: Mapped[int] = mapped_column(ForeignKey("contacts.id"), primary_key=True)
    score: Mapped[int] = mapped_column(Integer, default=0)
    band: Mapped[str] = mapped_column(String(10), default="low")
    factors: Mapped[list[dict[str, Any]]] = mapped_column(JSONType, default=list)
    # {"YYYY-MM-DD": score} for the last 8 days (China dates): the trend is the score a
    # week ago.
    history: Mapped[dict[str, int]] = mapped_column(JSONType, default=dict)
    lifecycle: Mapped[str] = mapped_column(String(20), default="active")
    tier: Mapped[str | None] = mapped_column(String(30))
    high_value: Mapped[bool] = mapped_column(Boolean, default=False)
    spend_365: Mapped[str] = mapped_column(String(20), default="0.00")
    computed_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    def risk_out(self) -> dict[str, Any]:
        """CONTRACT section 11's `risk`, with `week_ago`: the score a week before it was
        computed (the trend; null when there was none)."""
        day = self.computed_at.astimezone(SHANGHAI).date() - timedelta(days=7)
        return {
            "score": self.score,
            "band": self.band,
            "factors": self.factors,
            "week_ago": (self.history or {}).get(day.isoformat()),
        }


class ChurnDay(Base):
    """One customer's China day with an interaction, kept for the churn report (issue 17,
    app/retention/churn_days.py): the span to the next such day, the channel of the last
    inbound message up to that day, and the order spend that day and up to it (cents).
    Derived from messages, orders and hard churn events; rewritten per customer when
    theirs change."""

    __tablename__ = "churn_days"
    __table_args__ = (
        # Customers at the start of a period: the days in [s - W, s), covering index.
        Index(
            "ix_churn_days_day",
            "day",
            "next_day",
            "contact_id",
            "channel_id",
            "cum",
            "year_before",
            "year_order_day",
            "hard_day",
        ),
        # Recovered customers: the next day in [s, e).
        Index("ix_churn_days_next_day", "next_day", "day", "contact_id", "channel_id"),
        # The few days followed by a hard churn (the win-back list reads them by that day).
        Index(
            "ix_churn_days_hard_day",
            "hard_day",
            "day",
            "next_day",
            "contact_id",
            "cum",
            sqlite_where=text("hard_day IS NOT NULL"),
            postgresql_where=text("hard_day IS NOT NULL"),
        ),
        # SQLite: rows kept in primary key order, so a customer's day is one b-tree search.
        {"sqlite_with_rowid": False},
    )

    contact_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    day: Mapped[int] = mapped_column(Integer, primary_key=True)  # China days since 1970
    next_day: Mapped[int | None] = mapped_column(Integer)
    channel_id: Mapped[int | None] = mapped_column(Integer)
    cents: Mapped[int] = mapped_column(BigInteger, default=0)
    cum: Mapped[int] = mapped_column(BigInteger, default=0)
    # The spend on days up to `day - 365`, and the first order day in `[day - 364, day]`:
    # the spend in the year before a period start `s` in `(day, day + W]` is
    # `cum - year_before` while `s <= year_order_day + 365`.
    year_before: Mapped[int] = mapped_column(BigInteger, default=0)
    year_order_day: Mapped[int | None] = mapped_column(Integer)
    # This day when a hard churn that day is at or after its last interaction, else the
    # next day with a hard churn (app/retention/churn_days.py).
    hard_day: Mapped[int | None] = mapped_column(Integer)


class ChurnDayOrder(Base):
    """Which customer's days each order was counted in: an order moved to another
    customer (linked, imported again) rewrites the days of both."""

    __tablename__ = "churn_day_orders"

    order_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    contact_id: Mapped[int] = mapped_column(Integer)


class ChurnDayMark(Base):
    """What each refresh of `churn_days` had seen: the newest message and audit ids and
    when (app/retention/churn_days.py explains how the next refresh starts from one)."""

    __tablename__ = "churn_day_marks"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime)
    message_id: Mapped[int] = mapped_column(Integer)
    audit_id: Mapped[int] = mapped_column(Integer)
