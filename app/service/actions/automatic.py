"""Automatic messages: greeting, away message and the CSAT survey, and the survey's answer.

They are `system` outbound messages queued with a delivery job like an agent's reply (the
delivery worker sends them), never count as a response, and are only queued while the
platform still accepts a message: inside the reply window and, on a platform with one,
within its per-window quota (a WeChat window allows 5 messages).
"""

from __future__ import annotations

import re
import unicodedata
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.connectors import connector_for
from app.contacts.actions.tasks import create_task
from app.inbox.actions.delivery import queue_delivery
from app.inbox.actions.events import publish_conversation, publish_message
from app.models import (
    Channel,
    Conversation,
    ConversationFacts,
    ConversationStatus,
    DeliveryStatus,
    Message,
    SenderType,
    User,
    utcnow_for_models,
)
from app.realtime.events import EventType
from app.searchindex.index import index_message
from app.service.settings import ChannelService
from channels.base import ContentType, Direction, InboundMessage

WINDOW_QUOTA = 5  # messages a platform with a reply window accepts per customer message
ANSWER_WINDOW = timedelta(hours=24)
LOW_CSAT = 2
CHOICES = (1, 2, 3, 4, 5)
MAX_COMMENT = 500
# "5", "５", "5 很满意", "2，太慢了": one digit 1-5, then optionally a comment.
_ANSWER = re.compile(r"^([1-5])(?:[\s,，:：.。、!！;；/-]+(.*))?$", re.DOTALL)
_MENU_ID = re.compile(r"^csat_([1-5])$")


LABELS = {1: "1 非常不满意", 2: "2 不满意", 3: "3 一般", 4: "4 满意", 5: "5 非常满意"}


def survey_choices(extra: dict[str, Any] | None) -> tuple[tuple[str, str], ...]:
    """A stored survey's menu (id, label) for a connector that shows menus; () otherwise."""
    csat = (extra or {}).get("csat")
    if not isinstance(csat, dict):
        return ()
    return tuple(
        (str(c["id"]), str(c.get("label") or c["score"]))
        for c in csat.get("choices") or []
        if isinstance(c, dict) and "id" in c and "score" in c
    )


def menu_id(score: int) -> str:
    """The id of a survey menu choice (WeChat/WeCom msgmenu), echoed back by the platform."""
    return f"csat_{score}"


def parse_answer(text: str, extra: dict[str, Any] | None = None) -> tuple[int, str] | None:
    """(score, comment) when a customer message answers a survey, else None."""
    found_menu = _MENU_ID.match(str((extra or {}).get("menu_id") or ""))
    if found_menu:
        return int(found_menu.group(1)), ""
    found = _ANSWER.match(unicodedata.normalize("NFKC", text).strip())
    if found is None:
        return None
    return int(found.group(1)), (found.group(2) or "").strip()[:MAX_COMMENT]


def _may_send(
    channel: Channel, conversation: Conversation, now: datetime, sent_in_window: int
) -> bool:
    if channel.archived:
        return False
    expires = conversation.reply_window_expires_at
    if expires is not None and expires <= now:
        return False
    return not (
        connector_for(channel.type).reply_window is not None and sent_in_window >= WINDOW_QUOTA
    )


async def _sent_in_window(session: AsyncSession, conversation: Conversation) -> int:
    if conversation.last_inbound_at is None:
        return 0
    return int(
        await session.scalar(
            select(func.count(Message.id)).where(
                Message.conversation_id == conversation.id,
                Message.direction == Direction.OUTBOUND,
                Message.private.is_(False),
                Message.created_at >= conversation.last_inbound_at,
            )
        )
        or 0
    )


async def queue_system_message(
    session: AsyncSession,
    conversation: Conversation,
    text: str,
    *,
    extra: dict[str, Any] | None = None,
    now: datetime | None = None,
) -> Message:
    """Store a `system` outbound message with its delivery job (in the caller's transaction)."""
    now = now or utcnow_for_models()
    message = Message(
        conversation_id=conversation.id,
        channel_id=conversation.channel_id,
        direction=Direction.OUTBOUND,
        private=False,
        sender_type=SenderType.SYSTEM,
        sender_id=None,
        sender_name="",
        content_type=ContentType.TEXT,
        content=text,
        attachments=[],
        extra=dict(extra or {}),
        delivery_status=DeliveryStatus.QUEUED,
        created_at=now,
    )
    session.add(message)
    await session.flush()
    await index_message(session, message)
    queue_delivery(session, message, now)
    publish_message(session, message, EventType.MESSAGE_CREATED)
    return message


async def greet(
    session: AsyncSession,
    channel: Channel,
    service: ChannelService,
    conversation: Conversation,
    facts: ConversationFacts,
    *,
    created: bool,
    open_now: bool,
    now: datetime,
) -> None:
    """A new conversation's greeting, or the away message outside business hours (once)."""
    if not open_now and service.away_message.strip() and not facts.away_sent:
        if _may_send(channel, conversation, now, 0):
            facts.away_sent = True
            facts.greeted = True
            await queue_system_message(session, conversation, service.away_message.strip(), now=now)
        return
    greeting = created and open_now and service.greeting.strip() and not facts.greeted
    if greeting and _may_send(channel, conversation, now, 0):
        facts.greeted = True
        await queue_system_message(session, conversation, service.greeting.strip(), now=now)


async def ask_csat(
    session: AsyncSession,
    channel: Channel,
    service: ChannelService,
    conversation: Conversation,
    facts: ConversationFacts,
    now: datetime,
) -> Message | None:
    """The survey, when the channel asks, an agent replied and it was not asked before."""
    if not service.csat_enabled or facts.messages_out <= 0 or facts.csat_asked_at is not None:
        return None
    if not _may_send(channel, conversation, now, await _sent_in_window(session, conversation)):
        return None
    facts.csat_asked_at = now
    survey = {
        "question": service.question,
        "choices": [{"score": s, "id": menu_id(s), "label": LABELS[s]} for s in CHOICES],
    }
    return await queue_system_message(
        session, conversation, service.question, extra={"csat": survey}, now=now
    )


async def csat_target(
    session: AsyncSession, latest: Conversation | None, inbound: InboundMessage, now: datetime
) -> Conversation | None:
    """The resolved conversation a customer's message answers (its survey open, unrated),
    else None: the message is then handled as any other. `latest` is the customer's
    identity's newest conversation (ingest loads it once per batch)."""
    if inbound.direction != Direction.INBOUND or not inbound.counts_as_unread:
        return None
    if parse_answer(inbound.text, dict(inbound.extra)) is None:
        return None
    if latest is None or latest.status != ConversationStatus.RESOLVED:
        return None
    facts = await session.get(ConversationFacts, latest.id)
    if facts is None or not _survey_open(facts, now):
        return None
    return latest


def _survey_open(facts: ConversationFacts, now: datetime) -> bool:
    return (
        facts.csat_asked_at is not None
        and facts.csat_score is None
        and now - facts.csat_asked_at <= ANSWER_WINDOW
    )


async def record_answer(
    session: AsyncSession,
    conversation: Conversation,
    facts: ConversationFacts,
    message: Message,
    now: datetime,
) -> bool:
    """Record a customer's survey answer on the conversation; False when it is not one."""
    if conversation.status != ConversationStatus.RESOLVED or not _survey_open(facts, now):
        return False
    answer = parse_answer(message.content, message.extra)
    if answer is None:
        return False
    score, comment = answer
    facts.csat_score = score
    facts.csat_comment = comment or None
    facts.csat_rated_at = now
    facts.csat_agent_id = facts.last_agent_id
    message.extra = {**(message.extra or {}), "csat_answer": score}
    if score <= LOW_CSAT:
        agent = await session.get(User, facts.last_agent_id) if facts.last_agent_id else None
        await create_task(
            session,
            kind="low_csat",
            title=f"低满意度 {score} 分：会话 #{conversation.id}"
            + (f"（{agent.name}）" if agent else ""),
            contact_id=conversation.contact_id,
            due_at=now + timedelta(days=1),
            assignee_id=None,
            source="csat",
            occasion_key=f"low_csat:{conversation.id}",
            conversation_id=conversation.id,
        )
    await publish_conversation(session, conversation, EventType.CONVERSATION_UPDATED)
    return True
