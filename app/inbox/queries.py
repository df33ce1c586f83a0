"""Reads for the inbox API: lists with cursors, one conversation, a contact's history."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, cast

from sqlalchemy import Select, bindparam, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from app.accounts.viewer import Viewer
from app.errors import BadRequest
from app.inbox.schemas import (
    ConversationOut,
    CsatOut,
    MessageOut,
    UserRef,
    conversation_out,
    message_out,
)
from app.models import (
    Channel,
    Contact,
    ContactIdentity,
    Conversation,
    ConversationFacts,
    ConversationStatus,
    Message,
    Order,
    User,
)
from app.pagination import (
    before_last_message,
    by_last_message,
    newest_first,
    paginate,
)


async def conversation_view(
    session: AsyncSession,
    c: Conversation,
    *,
    channel: Channel | None = None,
    contact: Contact | None = None,
    identity: ContactIdentity | None = None,
    last_orders: Mapping[int, Order] | None = None,
) -> ConversationOut:
    """One conversation as the API shows it; rows the caller already holds are not re-read.

    `last_orders`: the contacts' newest orders when the caller loaded them for a batch
    (`last_orders_of`); a contact missing from it has none."""
    channel = channel or await session.get(Channel, c.channel_id)
    contact = contact or await session.get(Contact, c.contact_id)
    identity = identity or await session.get(ContactIdentity, c.identity_id)
    assignee = await session.get(User, c.assignee_id) if c.assignee_id else None
    assert channel and contact and identity
    if last_orders is None:
        last_orders = await last_orders_of(session, [contact.id])
    last_order = last_orders.get(contact.id)
    out = conversation_out(c, channel, contact, identity, assignee, last_order)
    if c.status == ConversationStatus.RESOLVED:  # only a resolved conversation is rated
        out.csat = await csat_of(session, c.id)
    return out


async def csat_of(session: AsyncSession, conversation_id: int) -> CsatOut | None:
    facts = await session.get(ConversationFacts, conversation_id)
    if facts is None or facts.csat_score is None or facts.csat_rated_at is None:
        return None
    agent = await session.get(User, facts.csat_agent_id) if facts.csat_agent_id else None
    return CsatOut(
        score=facts.csat_score,
        comment=facts.csat_comment,
        rated_at=facts.csat_rated_at,
        agent=UserRef(id=agent.id, name=agent.name) if agent else None,
    )


async def last_orders_of(session: AsyncSession, contact_ids: Iterable[int]) -> dict[int, Order]:
    """Each contact's newest order, in one query for a batch (none: not in the result)."""
    ids = sorted(set(contact_ids))
    if not ids:
        return {}
    orders = await session.scalars(_LAST_ORDERS, {"ids": ids})
    return {o.contact_id: o for o in orders if o.contact_id is not None}


def last_order_id(contact_id: Any) -> Any:
    """The id of a contact's newest order (by date, then entry), as a correlated subquery."""
    newest = aliased(Order)
    return (
        select(newest.id)
        .where(newest.contact_id == contact_id)
        .order_by(newest.ordered_at.desc(), newest.id.desc())
        .limit(1)
        .scalar_subquery()
    )


# Built once: ingest runs it for every batch (statement building costs more than the query).
_LAST_ORDERS = select(Order).where(
    Order.contact_id.in_(bindparam("ids", expanding=True)),
    Order.id == last_order_id(Order.contact_id),
)


def conversation_rows() -> Select[Any]:
    """Conversations with their channel, contact, identity, assignee and the contact's last
    order, as the API shows them: one query however many rows (the inbox list is hot)."""
    last_order = aliased(Order)
    return cast(  # rows are (Conversation, Channel, Contact, ContactIdentity, User?, Order?)
        Select[Any],
        select(Conversation, Channel, Contact, ContactIdentity, User, last_order)
        .join(Channel, Channel.id == Conversation.channel_id)
        .join(Contact, Contact.id == Conversation.contact_id)
        .join(ContactIdentity, ContactIdentity.id == Conversation.identity_id)
        .outerjoin(User, User.id == Conversation.assignee_id)
        .outerjoin(last_order, last_order.id == last_order_id(Contact.id)),
    )


async def list_conversations(
    session: AsyncSession,
    viewer: Viewer,
    *,
    status: str,
    channel_id: int | None,
    assignee: str | None,
    cursor: str | None,
    limit: int,
    sort: str = "latest",
) -> tuple[list[ConversationOut], str | None]:
    """`sort`: "latest" (last message first, paged by cursor) or "waiting" (not yet
    answered first, longest waiting first: the SLA view, one page of `limit`)."""
    stmt = conversation_rows()
    if status != "all":
        if status not in ("open", "pending", "resolved"):
            raise BadRequest("status must be open, pending, resolved or all")
        stmt = stmt.where(Conversation.status == status)
    if channel_id is not None:
        stmt = stmt.where(Conversation.channel_id == channel_id)
    clause = viewer.channel_clause(Conversation.channel_id)
    if clause is not None:
        stmt = stmt.where(clause)
    if assignee:
        if assignee not in ("me", "none") and not assignee.isdigit():
            raise BadRequest("assignee must be me, none or a user id")
        stmt = stmt.where(viewer.person_clause(Conversation.assignee_id, assignee))
    if sort == "waiting":
        if cursor:
            raise BadRequest("the waiting view is one page: no cursor")
        stmt = stmt.order_by(
            Conversation.first_response_at.is_not(None), Conversation.created_at, Conversation.id
        )
        rows = (await session.execute(stmt.limit(limit))).all()
        return [conversation_out(*row) for row in rows], None
    if cursor:
        stmt = stmt.where(before_last_message(cursor))
    stmt = stmt.order_by(Conversation.last_message_at.desc(), Conversation.id.desc())
    rows, next_cursor = paginate(
        (await session.execute(stmt.limit(limit + 1))).all(), limit, by_last_message
    )
    return [conversation_out(*row) for row in rows], next_cursor


async def list_messages(
    session: AsyncSession, conversation: Conversation, *, cursor: str | None, limit: int
) -> tuple[list[MessageOut], str | None]:
    stmt = select(Message).where(Message.conversation_id == conversation.id)
    page, next_cursor = await newest_first(session, stmt, Message.id, cursor, limit)
    return [message_out(m) for m in page], next_cursor
