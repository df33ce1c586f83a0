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
    Conversation,
    ConversationFacts,
    Message,
    Order,
    User,
    utcnow_for_models,
)
from app.retention.actions import refresh_scores
from app.retention.periods import local_date
from sandbox.history import (
    add_customer,
    add_resolved_conversation,
    channels_and_agents,
    history_message,
)

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


def _reply(conv: Conversation, at: datetime, text: str, agent: User | None) -> Message:
    sender = {"sender_id": agent.id, "sender_name": agent.name} if agent else {}
    return history_message(conv, at, text, inbound=False, **sender)


async def seed_history(db: Database) -> bool:
    """Seed once; True when it did."""
    rnd = random.Random(17)
    async with db.session() as session:
        if await session.scalar(select(Order.id).where(Order.order_no == FIRST_ORDER)):
            return False
        channels, agents = await channels_and_agents(session)
        if not channels:
            return False
        now = utcnow_for_models()
        n_order = 0
        answered: dict[int, tuple[datetime, datetime, User | None]] = {}
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
            contact, ident = await add_customer(
                session, channel, f"hist-{n + 1}", name, start, owner_id=owner.id if owner else None
            )
            at = start
            while at < stop:
                if n % 11 == 4 and now - timedelta(days=150) < at < now - timedelta(days=20):
                    at += timedelta(days=10)  # the long silence of one who comes back
                    continue
                conv = await add_resolved_conversation(
                    session, ident, at, last_inbound_at=at, resolved_at=at + timedelta(hours=2)
                )
                late = n % 7 == 0 and now - at < timedelta(days=60)
                text = rnd.choice(COMPLAINTS if late else ASKS)
                session.add(history_message(conv, at, text, inbound=True))
                wait = (
                    timedelta(hours=rnd.randint(26, 60))
                    if late
                    else timedelta(minutes=rnd.randint(1, 20))
                )
                if at + wait < now:
                    session.add(_reply(conv, at + wait, rnd.choice(REPLIES), owner))
                    conv.first_response_at = at + wait
                    conv.last_message_at = at + wait
                    answered[conv.id] = (at, at + wait, owner)
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
                conv = await add_resolved_conversation(session, ident, conv_at, resolved_at=conv_at)
                event = history_message(conv, conv_at, "取消关注", inbound=True)
                event.content_type = "event"
                event.extra = {"event": "unsubscribe"}
                session.add(event)
        await session.flush()
        # The database counted the customers' messages onto each conversation's service
        # facts as they were stored (app/service/inbound_counts.py); the replies and
        # resolutions written here as rows are added to them as the actions would have.
        for facts in await session.scalars(
            select(ConversationFacts).where(ConversationFacts.conversation_id.in_(answered))
        ):
            asked, replied, agent = answered[facts.conversation_id]
            facts.messages_out = 1
            facts.first_response_at = replied
            facts.first_response_s = int((replied - asked).total_seconds())
            facts.first_response_business_s = facts.first_response_s
            facts.first_response_agent_id = facts.last_agent_id = agent.id if agent else None
            facts.resolved_at = asked + timedelta(hours=2)
            facts.resolution_s = 2 * 3600
        await refresh_scores(session, now)
        return True
