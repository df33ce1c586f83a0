"""Who is asking: a user and the channels they may see; every layer above accounts uses it.

Admins and supervisors see everything. An agent sees every channel unless an
admin limited them to some (`user_channels`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.models import Role, User, UserChannel


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

    def person_clause(self, column: Any, who: str) -> Any:
        """A WHERE clause: `column` (a user id, e.g. an assignee or owner) is this viewer
        (`who` "me"), nobody ("none") or the user of that id (digits)."""
        if who == "me":
            return column == self.id
        if who == "none":
            return column.is_(None)
        return column == int(who)


async def load_viewer(session: AsyncSession, user: User) -> Viewer:
    if user.role in (Role.ADMIN, Role.SUPERVISOR):
        return Viewer(user=user, channel_ids=None)
    rows = await session.scalars(
        select(UserChannel.channel_id).where(UserChannel.user_id == user.id)
    )
    ids = frozenset(rows)
    return Viewer(user=user, channel_ids=ids or None)
