"""The owner of a customer: the user who keeps the relationship (not the conversation).

Agents take customers for themselves, supervisors give them to anyone; the first
agent to send a non-private reply to an ownerless customer becomes the owner in
the same transaction; offboarding hands customers and their open tasks over.
"""

from __future__ import annotations

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from app.accounts.actions import get_active_user
from app.accounts.viewer import Viewer
from app.audit import record_audit
from app.contacts.actions.followup import schedule_follow_up
from app.contacts.actions.tasks import contact_channel, publish_task
from app.errors import Forbidden
from app.models import Contact, Task, TaskStatus, User, utcnow_for_models
from app.realtime.events import EventType, publish


async def publish_contact(session: AsyncSession, contact: Contact) -> None:
    from app.contacts.customers_queries import customer_items

    await session.flush()
    # The event's data is the list item as an unrestricted reader sees it; the bus only
    # sends it to those who see the contact's channel.
    everyone = Viewer(user=User(id=0, name="", email="", role="admin"), channel_ids=None)
    (item,) = await customer_items(session, everyone, [contact])
    publish(
        session,
        EventType.CONTACT_UPDATED,
        item,
        channel_id=await contact_channel(session, contact.id),
        conversation_id=None,
    )


async def _move_open_tasks(
    session: AsyncSession, contact: Contact, old: int | None, new: int | None
) -> list[int]:
    """Open tasks that followed the old owner (or nobody) follow the new one."""
    tasks = list(
        await session.scalars(
            select(Task)
            .where(
                Task.contact_id == contact.id,
                Task.status == TaskStatus.OPEN,
                Task.assignee_id.is_(None) if old is None else Task.assignee_id == old,
            )
            .order_by(Task.id)
        )
    )
    for task in tasks:
        task.assignee_id = new
        task.updated_at = utcnow_for_models()
        await publish_task(session, task, EventType.TASK_UPDATED)
    return [t.id for t in tasks]


async def set_owner(
    session: AsyncSession, viewer: Viewer, contact: Contact, owner_id: int | None
) -> bool:
    """Agents may take a customer for themselves (or let go of their own); supervisors
    may give any customer to any active user. True when it changed."""
    if owner_id == contact.owner_id:
        return False
    if not viewer.is_supervisor:
        mine_or_free = contact.owner_id in (None, viewer.id)
        if not (owner_id == viewer.id or (owner_id is None and contact.owner_id == viewer.id)):
            raise Forbidden("owner_id: agents can only take a customer for themselves")
        if not mine_or_free:
            raise Forbidden("owner_id: this customer has an owner; ask a supervisor")
    if owner_id is not None:
        await get_active_user(session, owner_id, "owner_id")
    await _change_owner(session, viewer, contact, owner_id)
    return True


async def _change_owner(
    session: AsyncSession, viewer: Viewer, contact: Contact, owner_id: int | None, **why: str
) -> None:
    """The new owner takes the customer's open tasks; the change is audited."""
    previous = contact.owner_id
    contact.owner_id = owner_id
    await _move_open_tasks(session, contact, previous, owner_id)
    details = {"from": previous, "to": owner_id, **why}
    record_audit(session, viewer.user, "contact.owner_changed", "contact", contact.id, details)


async def after_agent_reply(session: AsyncSession, viewer: Viewer, contact_id: int) -> None:
    """A non-private agent reply: the replier owns an ownerless customer, and the reply
    is a touch that moves the follow-up due date."""
    contact = await session.scalar(
        select(Contact).where(Contact.id == contact_id).with_for_update()
    )
    if contact is None:
        return
    changed = False
    if contact.owner_id is None and viewer.user.active:
        await _change_owner(session, viewer, contact, viewer.id, reason="first_reply")
        changed = True
    if contact.follow_up_days is not None:
        await session.flush()  # the reply counts as the last touch
        await schedule_follow_up(session, contact)
        changed = True
    if changed:
        contact.updated_at = utcnow_for_models()
        await publish_contact(session, contact)


async def hand_over_customers(
    session: AsyncSession, user: User, successor: User | None
) -> tuple[list[int], list[int]]:
    """Offboarding: the leaver's customers and open tasks go to the successor (or to
    nobody, listed by owner=none and assignee=none). Returns (contact ids, task ids)."""
    to = successor.id if successor else None
    contact_ids = list(
        await session.scalars(
            select(Contact.id).where(Contact.owner_id == user.id).order_by(Contact.id)
        )
    )
    task_ids = list(
        await session.scalars(
            select(Task.id)
            .where(Task.assignee_id == user.id, Task.status == TaskStatus.OPEN)
            .order_by(Task.id)
        )
    )
    now = utcnow_for_models()
    await _set_all(session, Contact, contact_ids, owner_id=to, updated_at=now)
    await _set_all(session, Task, task_ids, assignee_id=to, updated_at=now)
    if task_ids:
        for task in await session.scalars(select(Task).where(Task.id.in_(task_ids))):
            await publish_task(session, task, EventType.TASK_UPDATED)
    return contact_ids, task_ids


async def _set_all(
    session: AsyncSession, model: type[Contact] | type[Task], ids: list[int], **values: object
) -> None:
    """One UPDATE for the rows `ids`; the session's loaded copies follow it."""
    if ids:
        await session.execute(
            update(model)
            .where(model.id.in_(ids))
            .values(**values)
            .execution_options(synchronize_session="fetch")
        )
