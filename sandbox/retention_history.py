"""A year of generated history for the demo, so /retention has something to say on
`make run`: about 60 customers over the demo's channels, each with a habit (how often
they write and buy), some who drift away, some who complain and wait, a few who
unsubscribe or come back. Deterministic (a fixed seed); runs once.

Rows are written directly with their past times (the product's actions stamp "now"),
then the retention scores are computed once.
"""

from __future__ import annotations

import random
from datetime import datetime, timedelta
from decimal import Decimal

from sqlalchemy import select

from app.db import Database
from app.models import (
    Channel,
    Contact,
    ContactIdentity,
    Conversation,
    Message,
    Order,
    SenderType,
    User,
    utcnow_for_models,
)
from app.retention.actions import refresh_scores
from app.retention.periods import local_date

FIRST_ORDER = "HIST-0001"
CUSTOMERS = 60
SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗"
GIVEN = ["伟", "芳", "娜", "敏", "静", "丽", "强", "磊", "洋", "艳", "勇", "军", "杰", "娟", "涛"]
ASKS = ["在吗", "这款还有货吗", "什么时候发货", "能便宜点吗", "滤网多久换一次", "收到了，谢谢"]
COMPLAINTS = ["怎么还没发货，太慢了", "我要退款", "再也不买了，差评", "客服一直没人回，我要投诉"]
REPLIES = ["您好，在的", "已经为您查询，今天发出", "感谢支持！", "抱歉让您久等了"]
PRODUCTS = [
    ("净化器滤芯", "129.00"),
    ("扫地机器人 X1", "2999.00"),
    ("收纳盒", "59.90"),
    ("加湿器 H2", "399.00"),
]


def _msg(conv: Conversation, at: datetime, inbound: bool, text: str, agent: User | None) -> Message:
    return Message(
        conversation_id=conv.id,
        channel_id=conv.channel_id,
        direction="inbound" if inbound else "outbound",
        sender_type=SenderType.CONTACT if inbound else SenderType.USER,
        sender_id=None if inbound else (agent.id if agent else None),
        sender_name=agent.name if agent and not inbound else "",
        content_type="text",
        content=text,
        delivery_status=None if inbound else "sent",
        created_at=at,
        sent_at=None if inbound else at,
    )


async def seed_history(db: Database) -> bool:
    """Seed once; True when it did."""
    rnd = random.Random(17)
    async with db.session() as session:
        if await session.scalar(select(Order.id).where(Order.order_no == FIRST_ORDER)):
            return False
        channels = list(await session.scalars(select(Channel).order_by(Channel.id)))
        agents = list(
            await session.scalars(
                select(User).where(User.role == "agent", User.active.is_(True)).order_by(User.id)
            )
        )
        if not channels:
            return False
        now = utcnow_for_models()
        n_order = 0
        for n in range(CUSTOMERS):
            channel = channels[n % len(channels)]
            owner = agents[n % len(agents)] if agents and n % 5 else None
            gap = rnd.choice([7, 10, 14, 21, 30, 45])  # their habit, in days
            start = now - timedelta(days=rnd.randint(200, 365))
            # A third drift away: they stop some time in the year.
            stop = now - timedelta(days=rnd.randint(20, 200)) if n % 3 == 0 else now
            if n % 11 == 4:  # a few come back after a long silence
                stop = now
            name = rnd.choice(SURNAMES) + rnd.choice(GIVEN) + ("" if n % 2 else rnd.choice(GIVEN))
            contact = Contact(
                name=name, owner_id=owner.id if owner else None, created_at=start, updated_at=start
            )
            session.add(contact)
            await session.flush()
            ident = ContactIdentity(
                contact_id=contact.id,
                channel_id=channel.id,
                external_id=f"hist-{n + 1}",
                name=name,
                created_at=start,
            )
            session.add(ident)
            await session.flush()
            at = start
            while at < stop:
                if n % 11 == 4 and now - timedelta(days=150) < at < now - timedelta(days=20):
                    at += timedelta(days=10)  # the long silence of one who comes back
                    continue
                conv = Conversation(
                    channel_id=channel.id,
                    contact_id=contact.id,
                    identity_id=ident.id,
                    status="resolved",
                    created_at=at,
                    updated_at=at,
                    last_message_at=at,
                    last_inbound_at=at,
                    resolved_at=at + timedelta(hours=2),
                )
                session.add(conv)
                await session.flush()
                late = n % 7 == 0 and now - at < timedelta(days=60)
                text = rnd.choice(COMPLAINTS if late else ASKS)
                session.add(_msg(conv, at, True, text, None))
                wait = (
                    timedelta(hours=rnd.randint(26, 60))
                    if late
                    else timedelta(minutes=rnd.randint(1, 20))
                )
                if at + wait < now:
                    session.add(_msg(conv, at + wait, False, rnd.choice(REPLIES), owner))
                    conv.first_response_at = at + wait
                    conv.last_message_at = at + wait
                if rnd.random() < 0.45:
                    n_order += 1
                    product, price = rnd.choice(PRODUCTS)
                    qty = rnd.randint(1, 3)
                    session.add(
                        Order(
                            order_no=FIRST_ORDER if n_order == 1 else f"HIST-{n_order:04d}",
                            contact_id=contact.id,
                            ordered_at=local_date(at),
                            amount=Decimal(price) * qty,
                            source="demo",
                            match_keys={"item": product},
                        )
                    )
                at += timedelta(days=max(1, rnd.gauss(gap, gap / 3)))
            if n % 13 == 6:  # an unsubscribe: a hard churn event
                conv_at = stop - timedelta(days=1) if stop < now else now - timedelta(days=5)
                conv = Conversation(
                    channel_id=channel.id,
                    contact_id=contact.id,
                    identity_id=ident.id,
                    status="resolved",
                    created_at=conv_at,
                    updated_at=conv_at,
                    last_message_at=conv_at,
                    resolved_at=conv_at,
                )
                session.add(conv)
                await session.flush()
                event = _msg(conv, conv_at, True, "取消关注", None)
                event.content_type = "event"
                event.extra = {"event": "unsubscribe"}
                session.add(event)
        await session.flush()
        await refresh_scores(session, now)
        return True
