"""Keeping `conversation_facts` (app/models/service.py) up to date, one hook per inbox action.

- customer messages are counted by the database as they are stored (a trigger on
  `messages`, app/service/inbound_counts.py); `after_inbound`, called by the ingest
  action, sends the greeting or away message and records a survey answer;
- `after_reply`: an agent's (non-private) reply: counts, first response, last replier;
- `after_status`: resolution (and the CSAT survey), or reopening.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from app.models import (
    Channel,
    Conversation,
    ConversationFacts,
    ConversationStatus,
    Message,
    utcnow_for_models,
)
from app.service.actions.automatic import ask_csat, greet, record_answer
from app.service.hours import business_deadline, business_seconds, is_open
from app.service.settings import ChannelService, channel_service
from channels.base import ContentType, Direction


def _counts(message: Message) -> bool:
    return message.direction == Direction.INBOUND and message.content_type != ContentType.EVENT


async def facts_for(session: AsyncSession, conversation: Conversation) -> ConversationFacts:
    """The conversation's facts row, created when it has none yet."""
    facts = await session.get(ConversationFacts, conversation.id)
    if facts is None:
        facts = ConversationFacts(
            conversation_id=conversation.id,
            channel_id=conversation.channel_id,
            created_at=conversation.created_at,
            messages_in=0,
            messages_out=0,
            greeted=False,
            away_sent=False,
        )
        session.add(facts)
    return facts


async def after_inbound(
    session: AsyncSession,
    channel: Channel,
    stored: Sequence[tuple[Conversation, bool, Message]],
) -> None:
    """A batch's customer messages (conversation, created?, message), stored and already
    counted on their facts rows by the database (app/service/inbound_counts.py): the
    greeting or away message, and a survey answer on a resolved conversation."""
    if any(_counts(message) for _conversation, _created, message in stored):
        await _automatic(session, channel, stored)


async def set_first_response_due(
    session: AsyncSession, channel: Channel, opened: Sequence[Conversation]
) -> None:
    """Conversations just opened by a customer's message are overdue once the channel's
    first-response target has passed in its business hours (the inbox's SLA mark); set
    before they are first written, so their `conversation.created` carries it."""
    if not opened:
        return
    service = await channel_service(session, channel.id)
    for conversation in opened:
        conversation.first_response_due_at = await business_deadline(
            session,
            service.schedule,
            service.holidays,
            conversation.created_at,
            service.first_response_minutes * 60,
        )


async def _automatic(
    session: AsyncSession, channel: Channel, stored: Sequence[tuple[Conversation, bool, Message]]
) -> None:
    """Greeting/away message on customer messages; a survey answer on a resolved one."""
    service: ChannelService | None = None
    now = utcnow_for_models()
    seen: set[int] = set()
    for conversation, created, message in stored:
        if not _counts(message):
            continue
        if conversation.status == ConversationStatus.RESOLVED:
            facts = await session.get(ConversationFacts, conversation.id, populate_existing=True)
            if facts is not None and facts.csat_asked_at is not None:
                await record_answer(session, conversation, facts, message, now)
            continue
        if conversation.id in seen:
            continue
        seen.add(conversation.id)
        service = service or await channel_service(session, channel.id)
        if not (service.greeting.strip() and created) and not (
            service.away_message.strip() and service.schedule is not None
        ):
            continue
        open_now = await is_open(session, service.schedule, service.holidays, now)
        facts = await session.get(ConversationFacts, conversation.id, populate_existing=True)
        assert facts is not None
        await greet(
            session,
            channel,
            service,
            conversation,
            facts,
            created=created,
            open_now=open_now,
            now=now,
        )


async def after_reply(
    session: AsyncSession, conversation: Conversation, message: Message, agent_id: int
) -> None:
    """An agent's reply reached the customer's queue: count it; the first one is the response."""
    if message.private:
        return
    facts = await facts_for(session, conversation)
    facts.messages_out = (facts.messages_out or 0) + 1
    facts.last_agent_id = agent_id
    if facts.first_response_at is None:
        now = message.created_at
        start = facts.first_inbound_at or facts.created_at
        service = await channel_service(session, conversation.channel_id)
        facts.first_response_at = now
        facts.first_response_s = max(0, int((now - start).total_seconds()))
        facts.first_response_business_s = await business_seconds(
            session, service.schedule, service.holidays, start, now
        )
        facts.first_response_agent_id = conversation.assignee_id or agent_id


async def after_status(
    session: AsyncSession, conversation: Conversation, previous: str, now: datetime
) -> None:
    """Resolution time (and the survey) on resolving; reopening clears the resolution."""
    if conversation.status == previous:
        return
    facts = await facts_for(session, conversation)
    if conversation.status == ConversationStatus.RESOLVED:
        facts.resolved_at = now
        facts.resolution_s = max(0, int((now - facts.created_at).total_seconds()))
        channel = await session.get(Channel, conversation.channel_id)
        assert channel is not None
        service = await channel_service(session, conversation.channel_id)
        await ask_csat(session, channel, service, conversation, facts, now)
    elif previous == ConversationStatus.RESOLVED:
        facts.resolved_at = None
        facts.resolution_s = None
