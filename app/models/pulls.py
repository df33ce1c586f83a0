"""Where each pull-style channel's next fetch starts (channels.base `Connector.pull`).

One row per channel and cursor key (e.g. WeCom's open_kfid). `requested` counts the
notices received, `pulled` the last of them a completed pull covered: a row with
`requested > pulled` is owed a pull (after a platform error, or a crash after the
acknowledgement) and the pull worker retries it.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from app.models.base import Base, UTCDateTime, utcnow


class PullCursor(Base):
    __tablename__ = "pull_cursors"

    channel_id: Mapped[int] = mapped_column(ForeignKey("channels.id"), primary_key=True)
    key: Mapped[str] = mapped_column(String(128), primary_key=True)
    # The platform's opaque cursor; None: from the start.
    cursor: Mapped[str | None] = mapped_column(String(512))
    requested: Mapped[int] = mapped_column(Integer, default=0)
    pulled: Mapped[int] = mapped_column(Integer, default=0)
    # The last pull's failure (the platform's reason), cleared by the next success.
    error: Mapped[str | None] = mapped_column(String(500))
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
