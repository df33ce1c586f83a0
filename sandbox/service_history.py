"""A week of service history for the demo's /reports: resolved conversations on every
channel with first responses, resolutions and some ratings, and each channel's service
settings (business hours, greeting, away message, CSAT on).

Written straight as rows (conversations, their two messages, their facts), as an import
of past data would be; runs once (it looks for its own customers).
"""

from __future__ import annotations

import random
from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import select

from app.db import Database
from app.models import (
    ContactIdentity,
    ConversationFacts,
    Message,
    ServiceSettings,
    utcnow_for_models,
)
from app.searchindex.index import index_messages
from sandbox.history import (
    add_customer,
    add_resolved_conversation,
    channels_and_agents,
    history_message,
)

PREFIX = "demo-history-"
DAYS = 7
QUESTIONS = ["请问什么时候发货？", "能开发票吗？", "滤网多久换一次？", "可以退换吗？", "有优惠吗？"]
ANSWERS = [
    "您好，今天下午发货。",
    "可以的，请提供抬头。",
    "建议三个月更换一次。",
    "七天无理由退换。",
]
AWAY = "您好，现在是下班时间（工作日 9:00-18:00），我们上班后会尽快回复您。"
COMMENTS = ["", "", "很耐心", "回复太慢了", "解决得很快"]


async def seed_service_history(db: Database, *, per_day: int = 8, seed: int = 16) -> bool:
    """Seed once; True when it did."""
    rng = random.Random(seed)
    tz = ZoneInfo("Asia/Shanghai")
    async with db.session() as session:
        taken = await session.scalar(
            select(ContactIdentity.id).where(ContactIdentity.external_id.like(f"{PREFIX}%"))
        )
        channels, agents = await channels_and_agents(session)
        if taken is not None or not channels or not agents:
            return False
        for channel in channels:
            if await session.get(ServiceSettings, channel.id) is None:
                session.add(
                    ServiceSettings(
                        channel_id=channel.id,
                        business_hours={
                            **{
                                d: [["09:00", "18:00"]] for d in ("mon", "tue", "wed", "thu", "fri")
                            },
                            "sat": [["10:00", "16:00"]],
                        },
                        holidays=[],
                        away_message=AWAY,
                        greeting="",
                        csat_enabled=True,
                        csat_question="",
                        first_response_minutes=5,
                    )
                )
        now = utcnow_for_models()
        today = now.astimezone(tz).date()
        n = 0
        messages: list[Message] = []
        for back in range(DAYS, 0, -1):
            day = today - timedelta(days=back)
            for _ in range(per_day):
                n += 1
                channel = rng.choice(channels)
                agent = rng.choice(agents)
                start = datetime.combine(day, time(9), tz) + timedelta(minutes=rng.randint(0, 540))
                created = start.astimezone(UTC)
                first_s = int(
                    rng.choice([20, 45, 90, 150, 240, 400, 700, 1500]) * rng.uniform(0.8, 1.2)
                )
                resolution_s = first_s + rng.randint(300, 4 * 3600)
                rated = rng.random() < 0.45
                score = rng.choices([1, 2, 3, 4, 5], weights=[1, 1, 2, 5, 8])[0] if rated else None
                name = f"历史客户{n}"
                contact, identity = await add_customer(
                    session, channel, f"{PREFIX}{n}", name, created
                )
                question = rng.choice(QUESTIONS)
                answer = rng.choice(ANSWERS)
                replied = created + timedelta(seconds=first_s)
                resolved = created + timedelta(seconds=resolution_s)
                conversation = await add_resolved_conversation(
                    session,
                    identity,
                    created,
                    assignee_id=agent.id,
                    assigned_at=created,
                    unread_count=0,
                    last_message_preview=answer,
                    last_message_type="text",
                    updated_at=resolved,
                    last_message_at=replied,
                    last_inbound_at=created,
                    first_response_at=replied,
                    resolved_at=resolved,
                )
                pair = (
                    history_message(
                        conversation,
                        created,
                        question,
                        inbound=True,
                        sender_id=contact.id,
                        sender_name=name,
                        external_id=f"{PREFIX}{n}-inbound",
                    ),
                    history_message(
                        conversation,
                        replied,
                        answer,
                        inbound=False,
                        sender_id=agent.id,
                        sender_name=agent.name,
                    ),
                )
                messages.extend(pair)
                # The customer's message is counted by the database as it is stored
                # (app/service/inbound_counts.py): the row goes in first, without it.
                session.add(
                    ConversationFacts(
                        conversation_id=conversation.id,
                        channel_id=channel.id,
                        created_at=created,
                        first_inbound_at=None,
                        messages_in=0,
                        messages_out=1,
                        first_response_at=replied,
                        first_response_s=first_s,
                        first_response_business_s=first_s,
                        first_response_agent_id=agent.id,
                        last_agent_id=agent.id,
                        resolved_at=resolved,
                        resolution_s=resolution_s,
                        csat_asked_at=resolved if rated else None,
                        csat_score=score,
                        csat_comment=(rng.choice(COMMENTS) or None) if rated else None,
                        csat_rated_at=resolved + timedelta(minutes=2) if rated else None,
                        csat_agent_id=agent.id if rated else None,
                        greeted=False,
                        away_sent=False,
                    )
                )
        await session.flush()
        session.add_all(messages)
        await session.flush()
        await index_messages(session, messages)
    return True
