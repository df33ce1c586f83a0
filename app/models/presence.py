"""Which agents are online, shared by every server process, and who was auto-assigned last.

A row per agent who ever had the inbox open. Each process refreshes `last_seen_at`
for the agents with a live websocket on it (app/inbox/assignment_worker.py), so
"online" means "seen within a few heartbeats" on any process, with or without Redis.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey
from sqlalchemy.orm import Mapped, mapped_column

from app.models.base import Base, UTCDateTime


class AgentPresence(Base):
    __tablename__ = "agent_presence"

    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), primary_key=True)
    last_seen_at: Mapped[datetime] = mapped_column(UTCDateTime)
    # Round robin picks the online agent with the oldest automatic assignment.
    last_assigned_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
