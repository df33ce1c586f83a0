"""The one permission gate: who may see which channel and conversation.

Admins and supervisors see everything. An agent sees every channel unless an
admin limited them to some; then the others answer 404, as if they did not exist.
"""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from app.accounts.viewer import Viewer
from app.db import row_by_id
from app.errors import NotFound
from app.models import Conversation


async def access_conversation(
    session: AsyncSession, viewer: Viewer, conversation_id: int, *, for_update: bool = False
) -> Conversation:
    conversation = await row_by_id(session, Conversation, conversation_id, for_update=for_update)
    if conversation is None or not viewer.can_see_channel(conversation.channel_id):
        raise NotFound("conversation not found")
    return conversation
