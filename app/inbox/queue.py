"""The unassigned queue as supervisors watch it: how many conversations wait for an
agent, since when the longest has waited, and how many agents are online to take them."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.accounts.viewer import Viewer
from app.inbox.actions.assignment import online_user_ids
from app.models import Conversation, ConversationStatus, User, utcnow_for_models


class QueueOut(BaseModel):
    waiting: int
    # The oldest waiting conversation's start: a customer has waited at least this long.
    oldest_since: datetime | None
    longest_wait_seconds: int | None
    agents_online: int


async def queue_summary(session: AsyncSession, viewer: Viewer) -> QueueOut:
    """Open conversations with no assignee on the channels the viewer sees."""
    stmt = select(func.count(Conversation.id), func.min(Conversation.created_at)).where(
        Conversation.status == ConversationStatus.OPEN, Conversation.assignee_id.is_(None)
    )
    clause = viewer.channel_clause(Conversation.channel_id)
    if clause is not None:
        stmt = stmt.where(clause)
    waiting, oldest = (await session.execute(stmt)).one()
    now = utcnow_for_models()
    online = await online_user_ids(session, now)
    active_online = await session.scalar(
        select(func.count(User.id)).where(User.id.in_(sorted(online)), User.active.is_(True))
    )
    return QueueOut(
        waiting=int(waiting or 0),
        oldest_since=oldest,
        longest_wait_seconds=max(0, int((now - oldest).total_seconds())) if oldest else None,
        agents_online=int(active_online or 0),
    )
