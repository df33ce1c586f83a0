"""Demo customers for `huiliu serve --demo`: orders, a birthday this week and a
follow-up due today, so the to-do list is not empty on first sight.

Called by the demo wiring (app/demo.py, later sandbox/) after its channels exist;
runs once (it looks for its own order numbers).
"""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

from sqlalchemy import select

from app.contacts.actions.dates import refresh_care, validate_dates
from app.contacts.actions.followup import schedule_follow_up
from app.contacts.actions.orders import ItemIn, OrderIn, add_order
from app.contacts.calendar import today
from app.db import Database
from app.models import Channel, Contact, ContactIdentity, Order, User, utcnow_for_models

FIRST_ORDER = "DEMO-2026-0001"


async def seed_customers(db: Database) -> bool:
    """Seed once; True when it did."""
    async with db.session() as session:
        if await session.scalar(select(Order.id).where(Order.order_no == FIRST_ORDER)):
            return False
        channel = await session.scalar(select(Channel).order_by(Channel.id).limit(1))
        if channel is None:
            return False
        owner = await session.scalar(
            select(User).where(User.role == "agent", User.active.is_(True)).order_by(User.id)
        )
        now = utcnow_for_models()
        day = today()
        birthday = day + timedelta(days=3)
        people: list[tuple[str, str, int, int | None, list[tuple[str, int, int, str]]]] = [
            # name, phone, days since first contact, follow-up cadence, dates, orders
            ("王小明", "13800000001", 7, 7, [("生日", birthday.month, birthday.day, "solar")]),
            ("陈静", "13800000002", 40, 30, [("农历生日", 8, 15, "lunar")]),
            ("刘洋", "13800000003", 3, None, []),
        ]
        orders: list[tuple[int, str, int, str, list[tuple[str, int, int | None]]]] = [
            (0, FIRST_ORDER, 200, "2999.00", [("扫地机器人 X1", 1, 12), ("替换滤网", 2, None)]),
            (1, "DEMO-2026-0002", 400, "899.00", [("空气净化器 A3", 1, 24)]),
            (1, "DEMO-2026-0003", 30, "129.00", [("净化器滤芯", 2, None)]),
            (2, "DEMO-2026-0004", 2, "59.90", [("收纳盒", 3, None)]),
        ]
        contacts: list[Contact] = []
        for n, (name, phone, since, _cadence, dates) in enumerate(people):
            created = now - timedelta(days=since)
            contact = Contact(
                name=name,
                phone=phone,
                owner_id=owner.id if owner else None,
                created_at=created,
                updated_at=created,
                marketing_consent=n == 1,
                important_dates=validate_dates(
                    [{"label": lb, "month": m, "day": d, "calendar": c} for lb, m, d, c in dates]
                ),
            )
            session.add(contact)
            await session.flush()
            session.add(
                ContactIdentity(
                    contact_id=contact.id,
                    channel_id=channel.id,
                    external_id=f"demo-customer-{n + 1}",
                    name=name,
                    created_at=created,
                )
            )
            contacts.append(contact)
        await session.flush()
        for who, order_no, days_ago, amount, items in orders:
            await add_order(
                session,
                contacts[who],
                OrderIn(
                    order_no=order_no,
                    ordered_at=day - timedelta(days=days_ago),
                    amount=Decimal(amount),
                    items=[ItemIn(name=i, quantity=q, warranty_months=w) for i, q, w in items],
                ),
                source="demo",
            )
        for contact, (_, _, _, cadence, _) in zip(contacts, people, strict=True):
            await refresh_care(session, contact)
            contact.follow_up_days = cadence
            await schedule_follow_up(session, contact)
        return True
