"""The ingest action every connector's messages go through.

One transaction: upsert the contact and its identity on this channel, find or open
the conversation, insert the message behind the unique (channel, external_id)
index. A retried or racing push of the same message stores nothing and publishes
nothing.

A customer message to a *resolved* conversation opens a new conversation (the
resolved one keeps its resolution time and history; the contact's page shows
both). Lifecycle events (subscribe, entering the chat) never reopen anything:
they join the identity's latest conversation, or, when there is none, one created
already resolved so that the queue is not filled with followers who said nothing.
When that follower then writes, their message opens that same conversation again
rather than a new one, so the history reads "followed, then asked" in one place
instead of a one-event conversation of its own.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Executable, bindparam, select, text
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession

from app.contacts.actions.churn import alert_hard_churn
from app.i18n import PREVIEW_CHARS
from app.inbox.actions.assignment import assign_new_conversation
from app.inbox.actions.counters import CONTACT, CONVERSATION, write_counters, write_through
from app.inbox.actions.echoes import claim_own_echo
from app.inbox.actions.identities import Known, create_identities, load_known, update_identity
from app.inbox.locks import identity_lock_keys, lock_identities
from app.inbox.queries import conversation_view, last_orders_of
from app.inbox.schemas import attachment_url, message_out
from app.inbox.storable import storable
from app.models import (
    Channel,
    Conversation,
    ConversationStatus,
    DeliveryStatus,
    Message,
    Order,
    SenderType,
    utcnow_for_models,
)
from app.realtime.events import EventType, publish
from app.searchindex.index import index_messages
from app.service.actions.automatic import csat_target
from app.service.actions.facts import after_inbound, set_first_response_due
from channels.base import ContentType, Direction, InboundMessage


def last_message_fields(content_type: str, text_: str) -> dict[str, Any]:
    """What the conversation's preview is made of, at display time (app/i18n.preview)."""
    return {
        "last_message_type": content_type,
        "last_message_preview": text_.strip()[:PREVIEW_CHARS],
    }


def set_last_message(conversation: Conversation, content_type: str, text_: str) -> None:
    for key, value in last_message_fields(content_type, text_).items():
        setattr(conversation, key, value)


def _dialect(session: AsyncSession) -> str:
    return session.get_bind().dialect.name


async def _conversation_for(
    session: AsyncSession, known: Known, inbound: InboundMessage, now: datetime
) -> tuple[Conversation, bool]:
    identity = known.identity
    if known.active is not None and known.active.active_identity_id == identity.id:
        return known.active, False
    if (answered := await csat_target(session, known.latest, inbound, now)) is not None:
        return answered, False  # a survey answer stays with the conversation it rates
    joins_latest = not inbound.counts_as_unread or inbound.direction == Direction.OUTBOUND
    if joins_latest and known.latest is not None:
        return known.latest, False
    # A lifecycle event with no conversation to join (a new follower) is kept in a
    # conversation created resolved: the history is complete and the queue stays quiet.
    quiet = not inbound.counts_as_unread
    if not quiet:
        lifecycle = await _lifecycle_only(session, known.latest)
        if lifecycle is not None:
            # Opened again as if new (its wait starts now): assignment and the
            # conversation.created event follow as for a new one.
            lifecycle.status = ConversationStatus.OPEN
            lifecycle.active_identity_id = identity.id
            lifecycle.resolved_at = None
            lifecycle.created_at = now
            known.active = lifecycle
            return lifecycle, True
    conversation = Conversation(
        channel_id=identity.channel_id,
        contact_id=identity.contact_id,
        identity_id=identity.id,
        active_identity_id=None if quiet else identity.id,
        status=ConversationStatus.RESOLVED if quiet else ConversationStatus.OPEN,
        resolved_at=now if quiet else None,
        created_at=now,
        updated_at=now,
        last_message_at=now,
        assignee_id=None,
        unread_count=0,
        last_message_preview="",
    )
    session.add(conversation)  # flushed with the batch's others, before the messages
    known.latest = conversation
    if not quiet:
        known.active = conversation
    return conversation, True


async def _lifecycle_only(
    session: AsyncSession, latest: Conversation | None
) -> Conversation | None:
    """The identity's latest conversation when it holds nothing but lifecycle events
    (made resolved for them, never touched by an agent); else None."""
    if (
        latest is None
        or latest.status != ConversationStatus.RESOLVED
        or latest.last_inbound_at is not None
        or latest.first_response_at is not None
        or latest.assignee_id is not None
    ):
        return None
    if latest.id is None:  # made resolved earlier in this batch: nothing else in it yet
        return latest
    other = await session.scalar(
        select(Message.id)
        .where(Message.conversation_id == latest.id, Message.content_type != ContentType.EVENT)
        .limit(1)
    )
    return latest if other is None else None


# Ingest's statements, built once (ingest is hot: building a statement and its cache key
# costs more CPU than SQLite spends running it).
# Which of a batch's messages are stored already. On PostgreSQL one point lookup per id
# on the unique (channel_id, external_id) index, whatever the statistics say: written as
# `external_id IN (...)`, a table not yet analysed (new, or autovacuum off) got a plan that
# read every row of the channel and filtered, 20 ms per batch at 35,000 messages and
# growing with the table (auto_explain during the ingest bench). LATERAL ... LIMIT 1
# cannot be turned into a scan of the channel, and the one array parameter makes it one
# prepared statement for every batch size.
_STORED_IDS: dict[str, Executable] = {
    "postgresql": text(
        "SELECT m.external_id FROM unnest(CAST(:external_ids AS VARCHAR[])) AS k(external_id)"
        " CROSS JOIN LATERAL (SELECT messages.external_id FROM messages"
        " WHERE messages.channel_id = :channel_id AND messages.external_id = k.external_id"
        " LIMIT 1) AS m"
    ),
    "sqlite": select(Message.external_id).where(
        Message.channel_id == bindparam("channel_id"),
        Message.external_id.in_(bindparam("external_ids", expanding=True)),
    ),
}
_INSERT_MESSAGES = {
    dialect: insert(Message)
    .on_conflict_do_nothing(index_elements=["channel_id", "external_id"])
    .returning(Message)
    for dialect, insert in (("postgresql", pg_insert), ("sqlite", sqlite_insert))
}


async def _insert_messages(session: AsyncSession, rows: list[dict[str, Any]]) -> dict[str, Message]:
    """One INSERT ... ON CONFLICT (channel_id, external_id) DO NOTHING RETURNING for the
    batch: the stored rows as loaded objects, by external id (a conflict returns none)."""
    stored = await session.scalars(_INSERT_MESSAGES[_dialect(session)], rows)
    return {m.external_id: m for m in stored if m.external_id is not None}


async def record_inbound_message(
    session: AsyncSession,
    channel: Channel,
    inbound: InboundMessage,
    *,
    reply_window: timedelta | None = None,
    stored_files: Sequence[dict[str, Any]] = (),
) -> Message | None:
    """Store one normalized platform message; None when it was already stored.

    `stored_files`: attachments already in storage (the widget's uploads), given to the
    message before its events are built, so no reader sees it without them."""
    files = {inbound.external_id: stored_files} if stored_files else None
    (message,) = await record_inbound_batch(
        session, channel, [inbound], reply_window=reply_window, stored_files=files
    )
    return message


@dataclass
class _Pending:
    inbound: InboundMessage
    known: Known
    conversation: Conversation
    created: bool


async def record_inbound_batch(
    session: AsyncSession,
    channel: Channel,
    inbounds: Sequence[InboundMessage],
    *,
    reply_window: timedelta | None = None,
    locked: bool = False,
    stored_files: Mapping[str, Sequence[dict[str, Any]]] | None = None,
) -> list[Message | None]:
    """Store a channel's messages in order, in the caller's transaction; for each, the
    stored message or None when it was already stored (or is an echo of our own send).

    The same as storing them one by one, in a few set-based statements: one duplicate
    check, one load of the customers, one insert of the messages, one index insert.
    `locked`: the caller already holds the customers' locks (`lock_identities`)."""
    if not inbounds:
        return []
    # NUL and lone surrogates replaced (and counted) rather than refusing the customer.
    inbounds = [storable(i) for i in inbounds]
    if not locked:
        keys = identity_lock_keys(channel.id, (i.contact.external_id for i in inbounds))
        await lock_identities(session, keys)
    seen = set(
        await session.scalars(
            _STORED_IDS[_dialect(session)],
            {"channel_id": channel.id, "external_ids": sorted({i.external_id for i in inbounds})},
        )
    )
    known = await load_known(session, channel, {i.contact.external_id for i in inbounds})
    await create_identities(
        session, channel, (i for i in inbounds if i.external_id not in seen), known
    )
    now = utcnow_for_models()
    pending: list[_Pending | None] = []
    for inbound in inbounds:
        if inbound.external_id in seen:
            pending.append(None)  # a retry or a racing copy: nothing to store or publish
            continue
        seen.add(inbound.external_id)
        if inbound.direction == Direction.OUTBOUND and await claim_own_echo(
            session, channel, inbound
        ):
            pending.append(None)
            continue
        k = known[inbound.contact.external_id]
        update_identity(k, inbound)
        if inbound.reply_context and inbound.direction == Direction.INBOUND:
            k.identity.reply_context = dict(inbound.reply_context)
        if inbound.unreachable is not None:
            k.identity.unreachable = inbound.unreachable
        conversation, created = await _conversation_for(session, k, inbound, now)
        pending.append(_Pending(inbound, k, conversation, created))
    # Opened by a customer's message: its first-response deadline (app/service).
    await set_first_response_due(
        session,
        channel,
        [
            p.conversation
            for p in pending
            if p is not None
            and p.created
            and p.conversation.status != ConversationStatus.RESOLVED
            and p.inbound.direction == Direction.INBOUND
            and p.inbound.content_type != ContentType.EVENT
        ],
    )
    await session.flush()  # new conversations get their ids
    rows = [_message_row(channel, p, now) for p in pending if p is not None]
    stored = await _insert_messages(session, rows) if rows else {}
    messages = [stored.get(p.inbound.external_id) if p else None for p in pending]
    # The message is searchable once committed (app/archive), in this same transaction.
    await index_messages(session, [m for m in messages if m is not None])
    # The conversations' views show each contact's last order: one read for the batch.
    # (loaded with the customers; a conversation of another contact, after a merge, reads its own)
    loaded = {k.contact.id: k.last_order for k in known.values()}
    last_orders = {c: o for c, o in loaded.items() if o is not None}
    others = [
        p.conversation.contact_id for p in pending if p and p.conversation.contact_id not in loaded
    ]
    last_orders.update(await last_orders_of(session, others))
    for p, message in zip(pending, messages, strict=True):
        if p is not None and message is not None:
            files = (stored_files or {}).get(message.external_id or "")
            if files:  # already stored, nothing to download; the urls need the message id
                message.attachments = [
                    {**f, "url": attachment_url(message.id, i)} for i, f in enumerate(files)
                ]
            await _after_insert(session, channel, p, message, now, reply_window, last_orders)
    await write_counters(session)
    # A hard churn event (an unsubscribe, a withdrawn grant) alerts the owner: a task.
    await alert_hard_churn(
        session,
        [(p.known.contact, m) for p, m in zip(pending, messages, strict=True) if p and m],
        now,
    )
    # Service facts (app/service): counts, greeting/away message, survey answers.
    await after_inbound(
        session,
        channel,
        [(p.conversation, p.created, m) for p, m in zip(pending, messages, strict=True) if p and m],
    )
    return messages


def _message_row(channel: Channel, p: _Pending, now: datetime) -> dict[str, Any]:
    inbound, identity, contact = p.inbound, p.known.identity, p.known.contact
    outbound = inbound.direction == Direction.OUTBOUND
    extra = dict(inbound.extra)
    if inbound.reply_context:
        extra["reply_context"] = dict(inbound.reply_context)
    return {
        "conversation_id": p.conversation.id,
        "channel_id": channel.id,
        "direction": str(inbound.direction),
        "private": False,
        "sender_type": SenderType.SYSTEM if outbound else SenderType.CONTACT,
        "sender_id": None if outbound else contact.id,
        "sender_name": "" if outbound else (contact.name or identity.name or ""),
        "content_type": str(inbound.content_type),
        "content": inbound.text,
        "attachments": [
            {
                "kind": str(m.kind),
                "ref": m.ref,
                "mime_type": m.mime_type,
                "file_name": m.file_name,
                "status": "pending",
            }
            for m in inbound.media
        ],
        "extra": extra,
        "external_id": inbound.external_id,
        "delivery_status": DeliveryStatus.SENT if outbound else DeliveryStatus.RECEIVED,
        "error": None,
        "created_at": now,
        "sent_at": inbound.sent_at,
        "media_pending": bool(inbound.media),
    }


async def _after_insert(
    session: AsyncSession,
    channel: Channel,
    p: _Pending,
    message: Message,
    now: datetime,
    reply_window: timedelta | None,
    last_orders: Mapping[int, Order],
) -> None:
    """Assignment, the conversation's counters and the two events, message by message."""
    inbound, conversation = p.inbound, p.conversation
    outbound = inbound.direction == Direction.OUTBOUND
    # A customer's new conversation goes to an online agent before its
    # `conversation.created` event is built (app/inbox/actions/assignment.py).
    if p.created and conversation.status == ConversationStatus.OPEN and not outbound:
        await assign_new_conversation(session, conversation)
    changes: dict[str, Any] = {"updated_at": now}
    if inbound.content_type != ContentType.EVENT:
        changes["last_message_at"] = now
        changes.update(last_message_fields(message.content_type, message.content))
    if inbound.counts_as_unread and not outbound:
        changes["unread_count"] = conversation.unread_count + 1
        changes["last_inbound_at"] = now
        # the customers list sorts by it
        write_through(session, CONTACT, p.known.contact, {"last_interaction_at": now})
        if reply_window is not None:
            changes["reply_window_expires_at"] = (inbound.sent_at or now) + reply_window
    write_through(session, CONVERSATION, conversation, changes)

    publish(
        session,
        EventType.MESSAGE_CREATED,
        message_out(message),
        channel_id=channel.id,
        conversation_id=conversation.id,
    )
    identity, contact = p.known.identity, p.known.contact
    view = await conversation_view(
        session,
        conversation,
        channel=channel,
        contact=contact if contact.id == conversation.contact_id else None,
        identity=identity if identity.id == conversation.identity_id else None,
        last_orders=last_orders,
    )
    publish(
        session,
        EventType.CONVERSATION_CREATED if p.created else EventType.CONVERSATION_UPDATED,
        view,
        channel_id=channel.id,
        conversation_id=conversation.id,
    )
