"""Merge two customers (the same person on two channels) and undo it exactly.

A merge moves the other contact's identities, conversations, orders, tasks and
important dates into this one and records every id that moved (and this contact's
fields as they were) in `contact_merges`; the other contact stays, marked
`merged_into_id`, hidden from lists. Unmerge moves exactly those back. Both audited.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from app.accounts.viewer import Viewer
from app.audit import record_audit
from app.contacts.actions.owners import publish_contact
from app.errors import BadRequest, Conflict, NotFound
from app.models import (
    Contact,
    ContactIdentity,
    ContactMerge,
    Conversation,
    Order,
    Task,
    TaskKind,
    TaskStatus,
    utcnow_for_models,
)

KEPT_FIELDS = ("owner_id", "important_dates", "last_interaction_at", "next_care_check_at")


async def _ids(session: AsyncSession, column: Any, id_column: Any, contact_id: int) -> list[int]:
    return list(await session.scalars(select(id_column).where(column == contact_id)))


async def _move(session: AsyncSession, model: Any, ids: list[int], to: int) -> None:
    if ids:
        await session.execute(
            update(model)
            .where(model.id.in_(ids))
            .values(contact_id=to)
            .execution_options(synchronize_session="fetch")
        )


def _before(contact: Contact) -> dict[str, Any]:
    at = contact.last_interaction_at
    check = contact.next_care_check_at
    return {
        "owner_id": contact.owner_id,
        "important_dates": list(contact.important_dates or []),
        "last_interaction_at": at.isoformat() if at else None,
        "next_care_check_at": check.isoformat() if check else None,
    }


async def merge_contacts(
    session: AsyncSession, viewer: Viewer, contact: Contact, other: Contact
) -> ContactMerge:
    if contact.id == other.id:
        raise BadRequest("other_id: a customer cannot be merged with itself")
    if contact.merged_into_id is not None or other.merged_into_id is not None:
        raise Conflict("one of these customers is already merged into another")
    moved: dict[str, Any] = {
        "identities": await _ids(session, ContactIdentity.contact_id, ContactIdentity.id, other.id),
        "conversations": await _ids(session, Conversation.contact_id, Conversation.id, other.id),
        "orders": await _ids(session, Order.contact_id, Order.id, other.id),
        "tasks": await _ids(session, Task.contact_id, Task.id, other.id),
        "before": _before(contact),
        "cancelled": [],
    }
    # One open follow-up per customer: the other's is set aside (and comes back on unmerge).
    mine = await session.scalar(
        select(Task.id).where(
            Task.contact_id == contact.id,
            Task.kind == TaskKind.FOLLOW_UP,
            Task.status == TaskStatus.OPEN,
        )
    )
    if mine is not None:
        for task in await session.scalars(
            select(Task).where(
                Task.contact_id == other.id,
                Task.kind == TaskKind.FOLLOW_UP,
                Task.status == TaskStatus.OPEN,
            )
        ):
            task.status = TaskStatus.CANCELLED
            task.closed_at = utcnow_for_models()
            moved["cancelled"].append(task.id)
    for model, key in (
        (ContactIdentity, "identities"),
        (Conversation, "conversations"),
        (Order, "orders"),
        (Task, "tasks"),
    ):
        await _move(session, model, moved[key], contact.id)
    seen = {(d["label"], d["calendar"], d["month"], d["day"]) for d in contact.important_dates}
    extra = [
        d
        for d in other.important_dates or []
        if (d["label"], d["calendar"], d["month"], d["day"]) not in seen
    ]
    contact.important_dates = [*(contact.important_dates or []), *extra]
    if contact.owner_id is None:
        contact.owner_id = other.owner_id
    times = [t for t in (contact.last_interaction_at, other.last_interaction_at) if t]
    contact.last_interaction_at = max(times) if times else None
    checks = [t for t in (contact.next_care_check_at, other.next_care_check_at) if t]
    contact.next_care_check_at = min(checks) if checks else None
    other.merged_into_id = contact.id
    contact.updated_at = other.updated_at = utcnow_for_models()
    merge = ContactMerge(contact_id=contact.id, other_id=other.id, moved=moved, actor_id=viewer.id)
    session.add(merge)
    await session.flush()
    record_audit(
        session,
        viewer.user,
        "contact.merged",
        "contact",
        contact.id,
        {
            "other_id": other.id,
            "merge_id": merge.id,
            **{k: moved[k] for k in moved if k != "before"},
        },
    )
    await publish_contact(session, contact)
    return merge


async def unmerge_contacts(
    session: AsyncSession, viewer: Viewer, contact: Contact, merge_id: int
) -> Contact:
    merge = await session.get(ContactMerge, merge_id)
    if merge is None or merge.contact_id != contact.id:
        raise NotFound("merge not found for this customer")
    if merge.undone_at is not None:
        raise Conflict("this merge was already undone")
    later = await session.scalar(
        select(ContactMerge.id).where(
            ContactMerge.contact_id == contact.id,
            ContactMerge.undone_at.is_(None),
            ContactMerge.id > merge.id,
        )
    )
    if later is not None:
        raise Conflict(f"undo the later merge #{later} first")
    other = await session.get(Contact, merge.other_id)
    assert other is not None
    moved = merge.moved
    # Conversations opened since on the moved identities belong with them.
    conversations = set(moved["conversations"]) | set(
        await session.scalars(
            select(Conversation.id).where(Conversation.identity_id.in_(moved["identities"] or [-1]))
        )
    )
    for model, ids in (
        (ContactIdentity, moved["identities"]),
        (Conversation, sorted(conversations)),
        (Order, moved["orders"]),
        (Task, moved["tasks"]),
    ):
        await _move(session, model, list(ids), other.id)
    for task in await session.scalars(select(Task).where(Task.id.in_(moved["cancelled"] or [-1]))):
        task.status = TaskStatus.OPEN
        task.closed_at = None
    before = moved["before"]
    contact.owner_id = before["owner_id"]
    contact.important_dates = before["important_dates"]
    at, check = before["last_interaction_at"], before["next_care_check_at"]
    contact.last_interaction_at = datetime.fromisoformat(at) if at else None
    contact.next_care_check_at = datetime.fromisoformat(check) if check else None
    other.merged_into_id = None
    now = utcnow_for_models()
    contact.updated_at = other.updated_at = now
    merge.undone_at = now
    record_audit(
        session,
        viewer.user,
        "contact.unmerged",
        "contact",
        contact.id,
        {"other_id": other.id, "merge_id": merge.id},
    )
    await publish_contact(session, contact)
    await publish_contact(session, other)
    return contact
