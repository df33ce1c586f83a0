"""Customer records that keep customers (issue 15): tasks, orders, merges, holidays.

The columns the contact itself gains (owner, cadence, dates, consent) live on
`Contact` in app/models/contacts.py. Nothing here is ever hard-deleted.
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from enum import StrEnum
from typing import Any

from sqlalchemy import (
    Boolean,
    Date,
    ForeignKey,
    Index,
    Integer,
    Numeric,
    String,
    Text,
)
from sqlalchemy.orm import Mapped, mapped_column

from app.models.base import Base, JSONType, UTCDateTime, utcnow


class TaskKind(StrEnum):
    """Open-ended: later issues add invite, remind, at_risk, low_csat."""

    CARE = "care"
    FOLLOW_UP = "follow_up"
    WARRANTY = "warranty"
    MANUAL = "manual"


class TaskStatus(StrEnum):
    OPEN = "open"
    DONE = "done"
    CANCELLED = "cancelled"


class Task(Base):
    """One thing an agent should do for a customer by a time (the daily to-do list)."""

    __tablename__ = "tasks"
    __table_args__ = (
        # The to-do list: one assignee's open tasks, soonest first.
        Index("ix_tasks_assignee_id_status_due_at", "assignee_id", "status", "due_at"),
        Index("ix_tasks_status_due_at", "status", "due_at"),
        Index("ix_tasks_contact_id_status", "contact_id", "status"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    kind: Mapped[str] = mapped_column(String(20))
    title: Mapped[str] = mapped_column(String(300))
    contact_id: Mapped[int] = mapped_column(ForeignKey("contacts.id"))
    conversation_id: Mapped[int | None] = mapped_column(ForeignKey("conversations.id"))
    assignee_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    due_at: Mapped[datetime] = mapped_column(UTCDateTime)
    status: Mapped[str] = mapped_column(String(20), default=TaskStatus.OPEN)
    outcome: Mapped[str | None] = mapped_column(Text)
    # "manual", "sweep", "order", "dates", "follow_up": what made the task.
    source: Mapped[str] = mapped_column(String(20), default="manual")
    # One task per occasion ("care:12:0:2026-12-24", "warranty:7", "follow_up:12:3"):
    # the unique index makes a second sweep, or a second worker, a no-op.
    occasion_key: Mapped[str | None] = mapped_column(String(200), unique=True)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    snoozed_count: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class Order(Base):
    """A customer's order, entered by hand, imported from CSV or posted to the API."""

    __tablename__ = "orders"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    order_no: Mapped[str] = mapped_column(String(100), unique=True)
    # NULL until matched: unmatched imported orders wait to be linked by hand.
    contact_id: Mapped[int | None] = mapped_column(ForeignKey("contacts.id"), index=True)
    ordered_at: Mapped[date] = mapped_column(Date)
    amount: Mapped[Decimal] = mapped_column(Numeric(14, 2))
    # What the CSV row named the customer by (phone, openid, ...), kept for linking by hand.
    match_keys: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    source: Mapped[str] = mapped_column(String(20), default="manual")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    # Indexed: the churn report's days are rewritten for the orders changed since.
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)


class OrderItem(Base):
    __tablename__ = "order_items"
    __table_args__ = (Index("ix_order_items_order_id_position", "order_id", "position"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    order_id: Mapped[int] = mapped_column(ForeignKey("orders.id"))
    position: Mapped[int] = mapped_column(Integer, default=0)
    name: Mapped[str] = mapped_column(String(300))
    quantity: Mapped[int] = mapped_column(Integer, default=1)
    warranty_months: Mapped[int | None] = mapped_column(Integer)
    warranty_until: Mapped[date | None] = mapped_column(Date)


class ContactMerge(Base):
    """One merge of two customers, with exactly what moved, so unmerge can move it back."""

    __tablename__ = "contact_merges"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    contact_id: Mapped[int] = mapped_column(ForeignKey("contacts.id"), index=True)
    other_id: Mapped[int] = mapped_column(ForeignKey("contacts.id"))
    moved: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    undone_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class HolidayDay(Base):
    """An admin's correction of China's calendar: a holiday (workday false) or a make-up
    working day (workday true), for a year the calendar library does not know yet."""

    __tablename__ = "holiday_days"

    day: Mapped[date] = mapped_column(Date, primary_key=True)
    workday: Mapped[bool] = mapped_column(Boolean)
    name: Mapped[str] = mapped_column(String(100), default="")
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
