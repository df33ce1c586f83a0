"""Channels: one row per connected account (never deleted, only archived)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Boolean, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from app.models.base import Base, JSONType, UTCDateTime, utcnow


class Channel(Base):
    __tablename__ = "channels"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    type: Mapped[str] = mapped_column(String(20))
    name: Mapped[str] = mapped_column(String(100))
    # The connector's typed config, secrets included (see channels/<type>/ config_model).
    config: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    # Mutable connector state: cached access tokens, re-authorization flags.
    state: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    archived: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
