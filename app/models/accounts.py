"""Staff: users (never deleted, only deactivated), their channel limits and API tokens."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import Boolean, ForeignKey, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from app.models.base import Base, UTCDateTime, utcnow


class Role(StrEnum):
    ADMIN = "admin"
    SUPERVISOR = "supervisor"
    AGENT = "agent"


class User(Base):
    __tablename__ = "users"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    email: Mapped[str] = mapped_column(String(254), unique=True)
    name: Mapped[str] = mapped_column(String(100))
    role: Mapped[str] = mapped_column(String(20))
    password_hash: Mapped[str | None] = mapped_column(String(255))
    avatar_url: Mapped[str | None] = mapped_column(String(500))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    deactivated_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class UserChannel(Base):
    """An agent limited to some channels has one row per channel; no rows means all."""

    __tablename__ = "user_channels"

    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), primary_key=True)
    channel_id: Mapped[int] = mapped_column(ForeignKey("channels.id"), primary_key=True)


class UserSecret:
    """The columns of a user's bearer secret (an API token, a browser session): the
    secret is 256 random bits shown once; only its SHA-256 is stored, looked up by it."""

    # First in the table, as they were before they moved here (sort_order: mixin columns
    # otherwise follow the class's own).
    id: Mapped[int] = mapped_column(Integer, primary_key=True, sort_order=-1)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True, sort_order=-1)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True, sort_order=-1)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, sort_order=-1)


class ApiToken(UserSecret, Base):
    """Bearer tokens, stored as SHA-256 of a 256-bit random secret (shown once)."""

    __tablename__ = "api_tokens"

    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
