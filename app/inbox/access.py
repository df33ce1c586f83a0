"""The one permission gate: who may see which channel and conversation.

Admins and supervisors see everything. An agent sees every channel unless an
admin limited them to some; then the others answer 404, as if they did not exist.
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.accounts.viewer import Viewer
from app.errors import NotFound
from app.models import Conversation


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
