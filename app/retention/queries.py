"""Reads that feed the pure retention functions: customers' histories, lost customers' facts."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Container, Iterable
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.accounts.viewer import Viewer

# What marks a hard churn lives with the action that alerts the owner of one.
from app.contacts.actions.churn import is_hard_churn
from app.contacts.actions.followup import latest_messages_of
from app.models import (
    AuditLog,
    Contact,
    Conversation,
    ConversationFacts,
    Message,
    Order,
    SenderType,
    User,
)
from app.retention.churn import History
from app.retention.periods import local_date, local_midnight

LOST_AUDIT_ACTION = "contact.lifecycle_changed"


async def orphaned_ids(session: AsyncSession, among: Iterable[int] | None = None) -> set[int]:
    """Customers whose owner was deactivated without a successor and who have none since,
    or whose owner is deactivated (the `orphaned` risk factor, "whether the owner left");
    only those of `among` when given (a page's fifty, not every such customer)."""
    only = None if among is None else set(among)
    left: set[int] = set()
    rows = await session.scalars(
        select(AuditLog.details).where(AuditLog.action == "user.deactivated")
    )
    for details in rows:
        if (details or {}).get("successor") is None:
            left.update(int(c) for c in (details or {}).get("customers") or [])
    gone = select(Contact.id).join(User, User.id == Contact.owner_id).where(User.active.is_(False))
    if only is not None:
        gone = gone.where(Contact.id.in_(sorted(only)))
        left &= only
    orphaned = set(await session.scalars(gone))
    if left:
        orphaned.update(
            await session.scalars(
                select(Contact.id).where(Contact.id.in_(sorted(left)), Contact.owner_id.is_(None))
            )
        )
    return orphaned


def _visible(stmt: Any, viewer: Viewer | None) -> Any:
    """Agents see their own customers only (CONTRACT section 11's page and reports)."""
    if viewer is not None and not viewer.is_supervisor:
        stmt = stmt.where(Contact.owner_id == viewer.id)
    return stmt


async def load_histories(
    session: AsyncSession,
    until: datetime,
    viewer: Viewer | None = None,
    only: set[int] | None = None,
) -> list[History]:
    """Every (unmerged) customer's interactions, orders and hard churn events before
    `until`; only those in `only` when given."""
    contacts = _visible(
        select(Contact.id, Contact.owner_id).where(Contact.merged_into_id.is_(None)), viewer
    )
    if only is not None:
        contacts = contacts.where(Contact.id.in_(sorted(only)))
    owners: dict[int, int | None] = {cid: oid for cid, oid in await session.execute(contacts)}
    inter: dict[int, list[tuple[datetime, int | None]]] = defaultdict(list)
    orders: dict[int, list[Any]] = defaultdict(list)
    churns: dict[int, list[datetime]] = defaultdict(list)
    inbound = (
        select(
            Conversation.contact_id,
            Message.created_at,
            Message.channel_id,
            Message.content_type,
            Message.extra,
        )
        .join(Conversation, Conversation.id == Message.conversation_id)
        .where(Message.direction == "inbound", Message.created_at < until)
    )
    if only is not None:
        inbound = inbound.where(Conversation.contact_id.in_(sorted(only)))
    for cid, at, channel_id, ctype, extra in await session.execute(inbound):
        if cid not in owners:
            continue
        if ctype != "event":
            inter[cid].append((at, channel_id))
        elif is_hard_churn(extra):
            churns[cid].append(at)
    order_rows = select(Order.contact_id, Order.ordered_at, Order.amount).where(
        # China dates: an order dated the day before `until` starts before it.
        Order.contact_id.is_not(None),
        Order.ordered_at < local_date(until),
    )
    if only is not None:
        order_rows = order_rows.where(Order.contact_id.in_(sorted(only)))
    for cid, day, amount in await session.execute(order_rows):
        if cid in owners:
            at = local_midnight(day)
            if at < until:
                inter[cid].append((at, None))
                orders[cid].append((at, amount))
    await add_lost_marks(session, until, owners, churns)
    return [
        History(cid, owner, inter.get(cid, []), orders.get(cid, []), churns.get(cid, []))
        for cid, owner in owners.items()
        if cid in inter
    ]


async def lost_facts(
    session: AsyncSession, contact_ids: Iterable[int], before: datetime
) -> list[dict[str, Any]]:
    """The service facts before each lost customer left (the churn-cause view), in id
    order: a few queries for all of them (the page shows fifty), not a few each."""
    ids = sorted(set(contact_ids))
    if not ids:
        return []
    left_without_successor = await orphaned_ids(session, ids)
    people = list(
        await session.execute(
            select(Contact, User)
            .outerjoin(User, User.id == Contact.owner_id)
            .where(Contact.id.in_(ids))
            .order_by(Contact.id)
        )
    )
    # Each customer's last conversation started before `before` (newest, then highest id).
    last_conv: dict[int, Conversation] = {}
    for started in await session.scalars(
        select(Conversation)
        .where(Conversation.contact_id.in_(ids), Conversation.created_at < before)
        .order_by(Conversation.created_at, Conversation.id)
    ):
        last_conv[started.contact_id] = started
    last_in: dict[int, datetime] = dict(
        (
            await session.execute(
                latest_messages_of(
                    ids,
                    Message.direction == "inbound",
                    Message.content_type != "event",
                    Message.created_at < before,
                )
            )
        ).all()
    )
    last_order: dict[int | None, Any] = dict(
        (
            await session.execute(
                select(Order.contact_id, func.max(Order.ordered_at))
                .where(Order.contact_id.in_(ids), Order.ordered_at < local_date(before))
                .group_by(Order.contact_id)
            )
        ).all()
    )
    unanswered = await _unanswered(session, [c.id for c in last_conv.values()])
    ratings = await last_ratings(session, ids)
    out: list[dict[str, Any]] = []
    for contact, owner in people:
        conv = last_conv.get(contact.id)
        first_response_s = None
        if conv is not None and conv.first_response_at is not None:
            first_response_s = int((conv.first_response_at - conv.created_at).total_seconds())
        day = last_order.get(contact.id)
        last_interaction = max(
            [x for x in (last_in.get(contact.id), local_midnight(day) if day else None) if x],
            default=None,
        )
        out.append(
            {
                "contact": {"id": contact.id, "name": contact.name},
                "last_interaction_at": last_interaction,
                "last_conversation_id": conv.id if conv else None,
                "first_response_s": first_response_s,
                "unanswered": unanswered.get(conv.id, 0) if conv else 0,
                "last_rating": ratings.get(contact.id),
                "lost_reason": contact.lost_reason,
                "owner": {"id": owner.id, "name": owner.name} if owner else None,
                "owner_left": contact.id in left_without_successor,
            }
        )
    return out


async def _unanswered(session: AsyncSession, conversation_ids: list[int]) -> dict[int, int]:
    """Per conversation: the customer's messages after the last agent reply (all of them
    when no agent replied)."""
    if not conversation_ids:
        return {}
    replied: dict[int, datetime] = dict(
        (
            await session.execute(
                select(Message.conversation_id, func.max(Message.created_at))
                .where(
                    Message.conversation_id.in_(conversation_ids),
                    Message.direction == "outbound",
                    Message.sender_type == SenderType.USER,
                    Message.private.is_(False),
                )
                .group_by(Message.conversation_id)
            )
        ).all()
    )
    counts: dict[int, int] = defaultdict(int)
    for conv_id, at in await session.execute(
        select(Message.conversation_id, Message.created_at).where(
            Message.conversation_id.in_(conversation_ids),
            Message.direction == "inbound",
            Message.content_type != "event",
        )
    ):
        last_reply = replied.get(conv_id)
        if last_reply is None or at > last_reply:
            counts[conv_id] += 1
    return counts


async def last_ratings(session: AsyncSession, contact_ids: list[int]) -> dict[int, int]:
    """Each customer's newest CSAT score (conversation facts); none if never rated."""
    facts = ConversationFacts
    newest: dict[int, tuple[datetime | None, int | None]] = {}
    for cid, score, at in await session.execute(
        select(Conversation.contact_id, facts.csat_score, facts.csat_rated_at)
        .join(Conversation, Conversation.id == facts.conversation_id)
        .where(Conversation.contact_id.in_(contact_ids), facts.csat_score.is_not(None))
    ):
        seen = newest.get(cid)
        if seen is None or (at is not None and (seen[0] is None or at > seen[0])):
            newest[cid] = (at, score)
    return {cid: score for cid, (_, score) in newest.items() if score is not None}


async def add_lost_marks(
    session: AsyncSession,
    until: datetime,
    customers: Container[int],
    churns: dict[int, list[datetime]],
) -> None:
    """The agents' "marked lost" (the audit log) of these customers before `until`, as
    hard churn times into `churns` (CONTRACT section 11)."""
    marks = select(AuditLog.object_id, AuditLog.created_at, AuditLog.details).where(
        AuditLog.action == LOST_AUDIT_ACTION,
        AuditLog.object_type == "contact",
        AuditLog.created_at < until,
    )
    for oid, at, details in await session.execute(marks):
        if (details or {}).get("to") == "lost" and oid.isdigit() and int(oid) in customers:
            churns[int(oid)].append(at)
