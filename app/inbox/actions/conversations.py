"""What agents do to conversations: reply, note, assign, change status, mark read.

Each action changes rows and queues the events that describe the change; the
caller's transaction commits both or neither.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.accounts.actions import get_active_user
from app.accounts.viewer import Viewer
from app.audit import record_audit
from app.contacts.actions.owners import after_agent_reply
from app.db import wake_delivery_on_commit
from app.errors import BadRequest, Conflict
from app.inbox.actions.delivery import queue_delivery
from app.inbox.actions.events import publish_conversation, publish_message
from app.inbox.actions.inbound import set_last_message
from app.inbox.schemas import attachment_url
from app.models import (
    Channel,
    Conversation,
    ConversationStatus,
    DeliveryJob,
    DeliveryStatus,
    JobStatus,
    Message,
    UserChannel,
    utcnow_for_models,
)
from app.realtime.events import EventType
from app.searchindex.index import index_message
from app.service.actions.facts import after_reply, after_status
from channels.base import ContentType


async def send_reply(
    session: AsyncSession,
    viewer: Viewer,
    conversation: Conversation,
    content: str,
    private: bool,
    *,
    content_type: ContentType = ContentType.TEXT,
    attachments: list[dict[str, object]] | None = None,
) -> Message:
    """Store an agent reply as `queued` with its delivery job, or a private note."""
    content = content.strip()
    if not content and not attachments:
        raise BadRequest("content must not be empty")
    channel = await session.get(Channel, conversation.channel_id)
    assert channel is not None
    if channel.archived and not private:
        raise Conflict("this channel is archived: replies can no longer be sent through it")
    now = utcnow_for_models()
    message = Message(
        conversation_id=conversation.id,
        channel_id=conversation.channel_id,
        direction="outbound",
        private=private,
        sender_type="user",
        sender_id=viewer.id,
        sender_name=viewer.user.name,
        content_type=content_type,
        content=content,
        attachments=list(attachments or []),
        extra={},
        delivery_status=None if private else DeliveryStatus.QUEUED,
        created_at=now,
    )
    session.add(message)
    await session.flush()
    await index_message(session, message)  # archive hook: replies and notes are searchable
    if message.attachments:
        message.attachments = [
            {**att, "url": attachment_url(message.id, i)}
            for i, att in enumerate(message.attachments)
        ]
    if not private:
        queue_delivery(session, message, now)
        conversation.last_message_at = now
        set_last_message(conversation, content_type, content)
        conversation.unread_count = 0
        if conversation.first_response_at is None:
            conversation.first_response_at = now
    conversation.updated_at = now
    taken = not private and _take_on_reply(session, viewer, conversation, now)
    publish_message(session, message, EventType.MESSAGE_CREATED)
    await publish_conversation(
        session,
        conversation,
        EventType.CONVERSATION_ASSIGNED if taken else EventType.CONVERSATION_UPDATED,
    )
    if not private:
        # The replier owns an ownerless customer; the reply moves the follow-up due date.
        await after_agent_reply(session, viewer, conversation.contact_id)
        await after_reply(session, conversation, message, viewer.id)  # service facts
    return message


def _take_on_reply(
    session: AsyncSession, viewer: Viewer, conversation: Conversation, now: datetime
) -> bool:
    """Whoever answers an unassigned customer takes the conversation, so that two agents
    never answer one customer. The caller holds the conversation's row lock (the
    endpoints read it FOR UPDATE), so two replies at once cannot both take it."""
    if conversation.assignee_id is not None:
        return False
    conversation.assignee_id = viewer.id
    conversation.assigned_at = now
    _audit_change(session, viewer, conversation, "assigned", None, viewer.id, rule="reply")
    return True


def _audit_change(
    session: AsyncSession,
    viewer: Viewer,
    conversation: Conversation,
    change: str,
    previous: object,
    new: object,
    **detail: object,
) -> None:
    """The audit entry `conversation.<change>`: what it was, what it became, and why."""
    details = {"from": previous, "to": new, **detail}
    action = f"conversation.{change}"
    record_audit(session, viewer.user, action, "conversation", conversation.id, details)


async def retry_delivery(session: AsyncSession, viewer: Viewer, message: Message) -> Message:
    """Queue a failed reply again (the agent pressed retry)."""
    if message.delivery_status not in (DeliveryStatus.FAILED, DeliveryStatus.UNCERTAIN):
        raise Conflict("only a failed or uncertain reply can be retried")
    job = await session.scalar(select(DeliveryJob).where(DeliveryJob.message_id == message.id))
    if job is None:
        raise Conflict("this message has no delivery job")
    now = utcnow_for_models()
    job.status = JobStatus.PENDING
    job.attempts = 0
    job.next_attempt_at = now
    job.locked_until = None
    job.updated_at = now
    message.delivery_status = DeliveryStatus.QUEUED
    message.error = None
    publish_message(session, message, EventType.MESSAGE_UPDATED)
    record_audit(session, viewer.user, "message.retried", "message", message.id, {})
    wake_delivery_on_commit(session)
    return message


async def assign_conversation(
    session: AsyncSession, viewer: Viewer, conversation: Conversation, assignee_id: int | None
) -> Conversation:
    if assignee_id is not None:
        assignee = await get_active_user(session, assignee_id)
        limits = set(
            await session.scalars(
                select(UserChannel.channel_id).where(UserChannel.user_id == assignee.id)
            )
        )
        if limits and conversation.channel_id not in limits:
            raise BadRequest(f"user {assignee.name} does not work on this channel")
    if conversation.assignee_id == assignee_id:
        return conversation
    previous = conversation.assignee_id
    conversation.assignee_id = assignee_id
    conversation.updated_at = utcnow_for_models()
    # Assignment hook: the re-queue sweep counts the assignee's time from here.
    conversation.assigned_at = conversation.updated_at if assignee_id is not None else None
    _audit_change(session, viewer, conversation, "assigned", previous, assignee_id)
    await publish_conversation(session, conversation, EventType.CONVERSATION_ASSIGNED)
    return conversation


async def change_status(
    session: AsyncSession, viewer: Viewer, conversation: Conversation, status: str
) -> Conversation:
    if conversation.status == status:
        return conversation
    now = utcnow_for_models()
    if status == ConversationStatus.RESOLVED:
        conversation.active_identity_id = None
        conversation.resolved_at = now
    else:
        if conversation.status == ConversationStatus.RESOLVED:
            newer = await session.scalar(
                select(Conversation.id).where(
                    Conversation.active_identity_id == conversation.identity_id
                )
            )
            if newer is not None:
                raise Conflict(
                    f"this customer already has an open conversation (#{newer}); reopen that one"
                )
        conversation.active_identity_id = conversation.identity_id
        conversation.resolved_at = None
    previous = conversation.status
    conversation.status = status
    conversation.updated_at = now
    await after_status(session, conversation, previous, now)  # service facts, CSAT survey
    _audit_change(session, viewer, conversation, "status_changed", previous, status)
    await publish_conversation(session, conversation, EventType.CONVERSATION_UPDATED)
    return conversation


async def mark_read(session: AsyncSession, conversation: Conversation) -> Conversation:
    if conversation.unread_count:
        conversation.unread_count = 0
        await publish_conversation(session, conversation, EventType.CONVERSATION_UPDATED)
    return conversation
