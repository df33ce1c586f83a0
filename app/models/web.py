"""What the web page keeps: login sessions, failed logins, canned replies, contact tags."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from app.models.accounts import UserSecret
from app.models.base import Base, UTCDateTime, utcnow


class WebSession(UserSecret, Base):
    """A signed-in browser: the cookie holds a 256-bit secret, only its SHA-256 is stored."""

    __tablename__ = "web_sessions"

    last_seen_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    ip: Mapped[str | None] = mapped_column(String(64))
    user_agent: Mapped[str | None] = mapped_column(String(300))


class LoginFailure(Base):
    """One wrong password; counted per (email, ip) over a window for the login rate limit."""

    __tablename__ = "login_failures"
    __table_args__ = (Index("ix_login_failures_email_ip_created_at", "email", "ip", "created_at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    email: Mapped[str] = mapped_column(String(254))
    ip: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)


class CannedReply(Base):
    """快捷回复: shared by the team (owner_id NULL) or personal to one agent."""

    __tablename__ = "canned_replies"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    owner_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"), index=True)
    shortcut: Mapped[str] = mapped_column(String(50))
    content: Mapped[str] = mapped_column(Text)
    created_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class ContactTag(Base):
    """A label an agent put on a customer (VIP, 投诉, 退款中...)."""

    __tablename__ = "contact_tags"

    contact_id: Mapped[int] = mapped_column(ForeignKey("contacts.id"), primary_key=True)
    tag: Mapped[str] = mapped_column(String(50), primary_key=True)
    position: Mapped[int] = mapped_column(Integer, default=0)  # the order the agent gave
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
