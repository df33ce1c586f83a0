"""Records outlive staff: deactivate and reactivate users, archive and unarchive channels.

Nothing here deletes a row. A deactivated user cannot sign in (sessions check
`users.active`), every API token and web session is revoked in the same
transaction, and their open and pending conversations move on, each with a system
handover note and a `conversation.assigned` event:
- to the named successor, when the successor works on that conversation's channel;
- otherwise by rule (app/inbox/actions/assignment.py `least_loaded_member`);
- otherwise to the unassigned queue.
Resolved conversations keep their assignee: the history stays as it was. Messages
keep their author's name (captured at write time). One audit entry records it all.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy import delete, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from app.audit import record_audit
from app.contacts.actions.owners import hand_over_customers
from app.errors import BadRequest, Conflict
from app.inbox.actions.assignment import (
    hand_over,
    least_loaded_member,
    lock_assignment,
    online_user_ids,
)
from app.models import (
    AgentPresence,
    ApiToken,
    Channel,
    Conversation,
    ConversationStatus,
    Role,
    User,
    UserChannel,
    WebSession,
    utcnow_for_models,
)
from app.realtime.events import publish_access_changed


@dataclass
class Offboarding:
    user: User
    # (conversation id, new assignee id or None for the queue), in conversation order
    handovers: list[tuple[int, int | None]] = field(default_factory=list)
    tokens_revoked: int = 0
    sessions_revoked: int = 0
    # issue 15: the customers they owned and their open tasks, now the successor's
    customers: list[int] = field(default_factory=list)
    tasks: list[int] = field(default_factory=list)


async def _channel_limits(session: AsyncSession, user: User) -> set[int]:
    return set(
        await session.scalars(select(UserChannel.channel_id).where(UserChannel.user_id == user.id))
    )


async def _check_can_deactivate(
    session: AsyncSession, user: User, successor: User | None, actor: User | None
) -> None:
    if not user.active:
        raise Conflict(f"{user.email} is already deactivated")
    if actor is not None and actor.id == user.id:
        raise Conflict("you cannot deactivate yourself")
    if successor is not None:
        if successor.id == user.id:
            raise BadRequest("the successor must be someone else")
        if not successor.active:
            raise BadRequest(f"{successor.email} is deactivated")
    if user.role == Role.ADMIN:
        admins = await session.scalar(
            select(func.count()).where(
                User.role == Role.ADMIN, User.active.is_(True), User.id != user.id
            )
        )
        if not admins:
            raise Conflict("the last active admin cannot be deactivated")


async def _revoke_credentials(session: AsyncSession, user: User) -> tuple[int, int]:
    now = utcnow_for_models()
    tokens = await session.execute(
        update(ApiToken)
        .where(ApiToken.user_id == user.id, ApiToken.revoked_at.is_(None))
        .values(revoked_at=now)
    )
    sessions = await session.execute(
        update(WebSession)
        .where(WebSession.user_id == user.id, WebSession.revoked_at.is_(None))
        .values(revoked_at=now)
    )
    await session.execute(delete(AgentPresence).where(AgentPresence.user_id == user.id))
    return int(tokens.rowcount or 0), int(sessions.rowcount or 0)  # type: ignore[attr-defined]


async def deactivate_user(
    session: AsyncSession,
    user: User,
    *,
    successor: User | None = None,
    actor: User | None = None,
) -> Offboarding:
    """Deactivate `user` and hand their open and pending conversations over."""
    await _check_can_deactivate(session, user, successor, actor)
    now = utcnow_for_models()
    user.active = False
    user.deactivated_at = now
    result = Offboarding(user=user)
    result.tokens_revoked, result.sessions_revoked = await _revoke_credentials(session, user)
    # Logged, so every process's hub closes the user's sockets at once (API and CLI alike).
    publish_access_changed(session, user.id)

    await lock_assignment(session)  # the rule reads loads: one decision at a time
    conversations = (
        await session.scalars(
            select(Conversation)
            .where(
                Conversation.assignee_id == user.id,
                Conversation.status.in_([ConversationStatus.OPEN, ConversationStatus.PENDING]),
            )
            .order_by(Conversation.id)
            .with_for_update()
        )
    ).all()
    online = await online_user_ids(session, now)
    successor_limits = await _channel_limits(session, successor) if successor else set()
    for conversation in conversations:
        to: User | None = None
        if successor is not None and (
            not successor_limits or conversation.channel_id in successor_limits
        ):
            to = successor
        else:
            chosen = await least_loaded_member(
                session, conversation.channel_id, exclude={user.id}, online=online
            )
            to = await session.get(User, chosen) if chosen is not None else None
        where = f"移交给 {to.name}" if to else "移交至待分配队列"
        await hand_over(session, conversation, to, f"会话由 {user.name} {where} (员工离职)")
        result.handovers.append((conversation.id, to.id if to else None))
    result.customers, result.tasks = await hand_over_customers(session, user, successor)

    record_audit(
        session,
        actor,
        "user.deactivated",
        "user",
        user.id,
        {
            "email": user.email,
            "successor": successor.id if successor else None,
            "handovers": [list(h) for h in result.handovers],
            "customers": result.customers,
            "tasks": result.tasks,
            "tokens_revoked": result.tokens_revoked,
            "sessions_revoked": result.sessions_revoked,
        },
    )
    return result


async def reactivate_user(session: AsyncSession, user: User, actor: User | None = None) -> User:
    """Allow sign-in again. Revoked tokens stay revoked and conversations stay where
    they went: the user starts with a new token or password sign-in and an empty queue."""
    if user.active:
        raise Conflict(f"{user.email} is active")
    user.active = True
    user.deactivated_at = None
    record_audit(session, actor, "user.reactivated", "user", user.id, {"email": user.email})
    return user


async def set_channel_archived(
    session: AsyncSession, channel: Channel, archived: bool, actor: User | None = None
) -> Channel:
    """Archive (stop receiving and sending) or unarchive a channel; its history stays
    readable and searchable either way."""
    if channel.archived != archived:
        channel.archived = archived
        action = "channel.archived" if archived else "channel.unarchived"
        record_audit(session, actor, action, "channel", channel.id, {"name": channel.name})
    return channel
