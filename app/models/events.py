"""The event log (what live clients replay by `seq`) and the append-only audit log."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, Integer, String, event
from sqlalchemy.orm import Mapped, Session, mapped_column

from app.models.base import Base, JSONType, UTCDateTime, utcnow

# SQLite only autoincrements an INTEGER PRIMARY KEY; PostgreSQL gets a bigint identity.
SeqType = BigInteger().with_variant(Integer(), "sqlite")


class EventLog(Base):
    __tablename__ = "event_log"

    seq: Mapped[int] = mapped_column(SeqType, primary_key=True, autoincrement=True)
    type: Mapped[str] = mapped_column(String(50))
    channel_id: Mapped[int | None] = mapped_column(Integer)
    conversation_id: Mapped[int | None] = mapped_column(Integer)
    data: Mapped[dict[str, Any]] = mapped_column(JSONType)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class AuditLog(Base):
    """Who did what to which object, when. Rows are only ever inserted."""

    __tablename__ = "audit_log"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    actor_id: Mapped[int | None] = mapped_column(Integer)  # NULL: the system or the CLI
    actor_name: Mapped[str] = mapped_column(String(200), default="")
    action: Mapped[str] = mapped_column(String(50))
    object_type: Mapped[str] = mapped_column(String(50))
    object_id: Mapped[str] = mapped_column(String(50))
    details: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


@event.listens_for(Session, "before_flush")
def _audit_log_is_append_only(session: Session, _ctx: object, _instances: object) -> None:
    for obj in list(session.dirty) + list(session.deleted):
        if isinstance(obj, AuditLog):
            raise RuntimeError("the audit log is append-only")
