"""Admin API for staff turnover and channel lifecycle (the /admin page calls these).

Deactivation closes the user's live sockets in this process right after the commit
(closing them earlier would let a reconnect slip in before the revocation is
visible); other processes close theirs within one assignment heartbeat.
"""

from __future__ import annotations

import secrets
from typing import Any

from fastapi import APIRouter
from pydantic import BaseModel, Field, model_validator
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.accounts.actions import MIN_PASSWORD_LENGTH, create_user, update_user
from app.accounts.offboarding import deactivate_user, reactivate_user, set_channel_archived
from app.deps import AdminDep, SessionDep, SupervisorDep
from app.errors import BadRequest, NotFound
from app.inbox.schemas import ChannelOut, UserOut, channel_out
from app.models import Channel, Conversation, ConversationStatus, User, UserChannel
from app.models.base import attributes_of

router = APIRouter(prefix="/api/v1", tags=["admin"])


class UserIn(BaseModel):
    email: str = Field(max_length=254)
    name: str = Field(min_length=1, max_length=100)
    role: str = "agent"
    # None: a random password is generated and shown once in the answer.
    password: str | None = Field(default=None, min_length=MIN_PASSWORD_LENGTH, max_length=200)
    channel_ids: list[int] | None = Field(default=None, min_length=1)  # None: every channel


class CreatedUserOut(UserOut):
    password: str | None = None  # only when generated: shown once, never stored in clear


class UserPatch(BaseModel):
    name: str | None = Field(default=None, min_length=1, max_length=100)
    role: str | None = None
    # A non-empty list limits the member to those channels; [] is refused (it used to mean
    # "every channel" by accident): lifting the limit is said with every_channel.
    channel_ids: list[int] | None = Field(default=None, min_length=1)
    every_channel: bool = False  # true: lift the channel limit (channel_ids must be absent)

    @model_validator(mode="after")
    def _one_way_to_say_channels(self) -> UserPatch:
        if self.every_channel and self.channel_ids is not None:
            raise ValueError("give channel_ids or every_channel: true, not both")
        return self


class DeactivateIn(BaseModel):
    reassign_to: int | None = None


class HandoverOut(BaseModel):
    conversation_id: int
    assignee_id: int | None  # None: the unassigned queue


class DeactivationOut(BaseModel):
    user: UserOut
    handovers: list[HandoverOut]
    # issue 15: customers (contact ids) and open tasks handed to the successor
    customers: list[int] = []
    tasks: list[int] = []
    tokens_revoked: int
    sessions_revoked: int


class WorkloadOut(BaseModel):
    user_id: int
    open: int
    pending: int


async def _user(session: AsyncSession, user_id: int) -> User:
    user = await session.get(User, user_id)
    if user is None:
        raise NotFound("user not found")
    return user


async def user_out(session: AsyncSession, user: User) -> UserOut:
    limits = sorted(
        await session.scalars(select(UserChannel.channel_id).where(UserChannel.user_id == user.id))
    )
    return UserOut(
        **attributes_of(user, "id", "email", "name", "role", "active"), channel_ids=limits or None
    )


@router.post("/users", status_code=201)
async def add_user(body: UserIn, session: SessionDep, viewer: AdminDep) -> CreatedUserOut:
    """A new member (like `huiliu user create`). Without a password one is generated and
    returned in this answer only; the member signs in with it."""
    generated = secrets.token_urlsafe(12) if body.password is None else None
    user = await create_user(
        session,
        email=body.email,
        name=body.name,
        role=body.role,
        password=body.password or generated or "",
        channel_ids=body.channel_ids or (),
        actor=viewer.user,
    )
    out = await user_out(session, user)
    return CreatedUserOut(**out.model_dump(), password=generated)


@router.patch("/users/{user_id}")
async def change_user(
    user_id: int, body: UserPatch, session: SessionDep, viewer: AdminDep
) -> UserOut:
    user = await update_user(
        session,
        await _user(session, user_id),
        actor=viewer.user,
        name=body.name,
        role=body.role,
        channel_ids=body.channel_ids,
        every_channel=body.every_channel,
    )
    return await user_out(session, user)


@router.post("/users/{user_id}/deactivate")
async def deactivate(
    user_id: int,
    session: SessionDep,
    viewer: AdminDep,
    body: DeactivateIn | None = None,
) -> DeactivationOut:
    user = await _user(session, user_id)
    successor = None
    if body is not None and body.reassign_to is not None:
        successor = await session.get(User, body.reassign_to)
        if successor is None:
            raise BadRequest(f"no user with id {body.reassign_to}")
    result = await deactivate_user(session, user, successor=successor, actor=viewer.user)
    return DeactivationOut(
        user=await user_out(session, user),
        handovers=[HandoverOut(conversation_id=c, assignee_id=a) for c, a in result.handovers],
        customers=result.customers,
        tasks=result.tasks,
        tokens_revoked=result.tokens_revoked,
        sessions_revoked=result.sessions_revoked,
    )


@router.post("/users/{user_id}/reactivate")
async def reactivate(user_id: int, session: SessionDep, viewer: AdminDep) -> UserOut:
    user = await reactivate_user(session, await _user(session, user_id), actor=viewer.user)
    return await user_out(session, user)


@router.get("/users/{user_id}/workload")
async def workload(user_id: int, session: SessionDep, viewer: SupervisorDep) -> WorkloadOut:
    """What a deactivation would hand over: the user's open and pending conversations."""
    user = await _user(session, user_id)
    counts: dict[str, Any] = dict(
        (
            await session.execute(
                select(Conversation.status, func.count())
                .where(Conversation.assignee_id == user.id)
                .group_by(Conversation.status)
            )
        ).all()
    )
    return WorkloadOut(
        user_id=user.id,
        open=int(counts.get(ConversationStatus.OPEN, 0)),
        pending=int(counts.get(ConversationStatus.PENDING, 0)),
    )


async def _channel(session: AsyncSession, channel_id: int) -> Channel:
    channel = await session.get(Channel, channel_id)
    if channel is None:
        raise NotFound("channel not found")
    return channel


@router.post("/channels/{channel_id}/archive")
async def archive_channel(channel_id: int, session: SessionDep, viewer: AdminDep) -> ChannelOut:
    """Stop receiving and sending on a channel; its history stays readable and searchable."""
    channel = await _channel(session, channel_id)
    return channel_out(await set_channel_archived(session, channel, True, actor=viewer.user))


@router.post("/channels/{channel_id}/unarchive")
async def unarchive_channel(channel_id: int, session: SessionDep, viewer: AdminDep) -> ChannelOut:
    channel = await _channel(session, channel_id)
    return channel_out(await set_channel_archived(session, channel, False, actor=viewer.user))
