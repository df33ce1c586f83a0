"""What the webhook edge keeps besides messages: the signed push parameters seen lately."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from app.models.base import Base, UTCDateTime, utcnow


class WebhookNonce(Base):
    """One push's signed (timestamp, nonce) and a digest of its body, kept for the push window.

    The same pair with another body is a forged or replayed push (app/ingest/replay.py).
    """

    __tablename__ = "webhook_nonces"

    channel_id: Mapped[int] = mapped_column(ForeignKey("channels.id"), primary_key=True)
    key: Mapped[str] = mapped_column(String(128), primary_key=True)
    digest: Mapped[str] = mapped_column(String(64))
    seen_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
