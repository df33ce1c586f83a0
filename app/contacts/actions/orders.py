"""Orders: entered by hand, posted to the API, imported from CSV; warranty tasks.

An order item with `warranty_months` gets `warranty_until` and a `warranty` task due
30 days before it (contract section 8), once the order belongs to a customer.
"""

from __future__ import annotations

import calendar as std_calendar
from collections.abc import Sequence
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Annotated, Any, NamedTuple

from pydantic import AfterValidator, BaseModel, Field
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.contacts.actions.tasks import create_task
from app.contacts.calendar import day_start, today
from app.models import Contact, Order, OrderItem, TaskKind, utcnow_for_models

WARRANTY_NOTICE_DAYS = 30  # contract section 8: due 30 days before the warranty ends
MAX_ITEMS = 100


def _not_blank(what: str) -> AfterValidator:
    """The text without surrounding white space, which must leave something."""

    def check(value: str) -> str:
        value = value.strip()
        if not value:
            raise ValueError(f"{what} must not be empty")
        return value

    return AfterValidator(check)


class ItemIn(BaseModel):
    name: Annotated[str, Field(min_length=1, max_length=300), _not_blank("item name")]
    quantity: int = Field(default=1, ge=1, le=1_000_000)
    warranty_months: int | None = Field(default=None, ge=1, le=240)


class ItemData(NamedTuple):
    """A validated item, small: a 100,000-row import keeps one per row in memory."""

    name: str
    quantity: int
    warranty_months: int | None


class OrderIn(BaseModel):
    order_no: Annotated[str, Field(min_length=1, max_length=100), _not_blank("order_no")]
    ordered_at: date
    amount: Decimal = Field(ge=0, le=Decimal("999999999999.99"), decimal_places=2)
    items: list[ItemIn] = Field(default_factory=list, max_length=MAX_ITEMS)


class ItemOut(BaseModel):
    name: str
    quantity: int
    warranty_months: int | None
    warranty_until: date | None


class OrderOut(BaseModel):
    id: int
    order_no: str
    contact_id: int | None
    ordered_at: date
    amount: str
    items: list[ItemOut]
    match_keys: dict[str, Any]
    source: str
    created_at: datetime


def add_months(day: date, months: int) -> date:
    month = day.month - 1 + months
    year, month = day.year + month // 12, month % 12 + 1
    return date(year, month, min(day.day, std_calendar.monthrange(year, month)[1]))


async def orders_out(session: AsyncSession, orders: list[Order]) -> list[OrderOut]:
    items: dict[int, list[OrderItem]] = {o.id: [] for o in orders}
    if orders:
        for item in await session.scalars(
            select(OrderItem)
            .where(OrderItem.order_id.in_(list(items)))
            .order_by(OrderItem.order_id, OrderItem.position)
        ):
            items[item.order_id].append(item)
    return [
        OrderOut(
            id=o.id,
            order_no=o.order_no,
            contact_id=o.contact_id,
            ordered_at=o.ordered_at,
            amount=f"{Decimal(o.amount):.2f}",
            items=[
                ItemOut(
                    name=i.name,
                    quantity=i.quantity,
                    warranty_months=i.warranty_months,
                    warranty_until=i.warranty_until,
                )
                for i in items[o.id]
            ],
            match_keys=dict(o.match_keys or {}),
            source=o.source,
            created_at=o.created_at,
        )
        for o in orders
    ]


def set_items(
    session: AsyncSession, order: Order, items: Sequence[ItemIn | ItemData]
) -> list[OrderItem]:
    rows = [
        OrderItem(
            order_id=order.id,
            position=n,
            name=item.name,
            quantity=item.quantity,
            warranty_months=item.warranty_months,
            warranty_until=add_months(order.ordered_at, item.warranty_months)
            if item.warranty_months
            else None,
        )
        for n, item in enumerate(items)
    ]
    session.add_all(rows)
    return rows


async def warranty_tasks(session: AsyncSession, order: Order, contact: Contact) -> int:
    """One task per item whose warranty has not ended yet; returns how many were made."""
    made = 0
    now = today()
    for item in await session.scalars(
        select(OrderItem).where(OrderItem.order_id == order.id).order_by(OrderItem.position)
    ):
        if item.warranty_until is None or item.warranty_until < now:
            continue
        task = await create_task(
            session,
            kind=TaskKind.WARRANTY,
            title=f"保修 {item.warranty_until.isoformat()} 到期: {item.name} ({order.order_no})",
            contact_id=contact.id,
            due_at=day_start(item.warranty_until - timedelta(days=WARRANTY_NOTICE_DAYS)),
            assignee_id=contact.owner_id,
            source="order",
            occasion_key=f"warranty:{item.id}",
        )
        made += task is not None
    return made


def touch_contact(contact: Contact, order: Order) -> None:
    """An order is a qualifying interaction (reference/retention.md section 2)."""
    at = day_start(order.ordered_at)
    if contact.last_interaction_at is None or contact.last_interaction_at < at:
        contact.last_interaction_at = at
    contact.updated_at = utcnow_for_models()


async def add_order(
    session: AsyncSession, contact: Contact | None, body: OrderIn, *, source: str
) -> Order:
    now = utcnow_for_models()
    order = Order(
        order_no=body.order_no,
        contact_id=contact.id if contact else None,
        ordered_at=body.ordered_at,
        amount=body.amount,
        match_keys={},
        source=source,
        created_at=now,
        updated_at=now,
    )
    session.add(order)
    await session.flush()
    set_items(session, order, body.items)
    await session.flush()
    if contact is not None:
        touch_contact(contact, order)
        await warranty_tasks(session, order, contact)
    return order


async def link_order(session: AsyncSession, order: Order, contact: Contact) -> Order:
    order.contact_id = contact.id
    order.updated_at = utcnow_for_models()
    await session.flush()
    touch_contact(contact, order)
    await warranty_tasks(session, order, contact)
    return order
