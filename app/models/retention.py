"""Each customer's retention standing (issue 17): risk, its factors and trend, tier, lifecycle.

One row per customer, rewritten by app/retention/actions.py when something that feeds
it changes (a message, a reply, an order, a day passing). The figures are defined in
CONTRACT section 11.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Boolean, ForeignKey, Index, Integer, String
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
