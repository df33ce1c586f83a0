"""The one permission gate: who may see which channel and conversation.

Admins and supervisors see everything. An agent sees every channel unless an
admin limited them to some; then the others answer 404, as if they did not exist.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.errors import NotFound
from app.models import Conversation, Role, User, UserChannel


@dataclass(frozen=True)
class Viewer:
    user: User
    channel_ids: frozenset[int] | None  # None: every channel

    @property
    def id(self) -> int:
        return self.user.id

    @property
    def role(self) -> str:
        return self.user.role

    @property
    def is_supervisor(self) -> bool:
        return self.user.role in (Role.ADMIN, Role.SUPERVISOR)

    def can_see_channel(self, channel_id: int | None) -> bool:
        if self.channel_ids is None:
            return True
        return channel_id is not None and channel_id in self.channel_ids

    def channel_clause(self, column: Any) -> Any:
        """A WHERE clause limiting `column` (a channel id) to what this viewer may see."""
        if self.channel_ids is None:
            return None
        return column.in_(sorted(self.channel_ids))


async def load_viewer(session: AsyncSession, user: User) -> Viewer:
    if user.role in (Role.ADMIN, Role.SUPERVISOR):
        return Viewer(user=user, channel_ids=None)
    rows = await session.scalars(
        select(UserChannel.channel_id).where(UserChannel.user_id == user.id)
    )
    ids = frozenset(rows)
    return Viewer(user=user, channel_ids=ids or None)


async def access_conversation(
    session: AsyncSession, viewer: Viewer, conversation_id: int, *, for_update: bool = False
) -> Conversation:
    stmt = select(Conversation).where(Conversation.id == conversation_id)
    if for_update:
        stmt = stmt.with_for_update()
    conversation = await session.scalar(stmt)
    if conversation is None or not viewer.can_see_channel(conversation.channel_id):
        raise NotFound("conversation not found")
    return conversation
