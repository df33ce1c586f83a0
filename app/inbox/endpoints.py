"""REST API v1 for the inbox (CONTRACT section 5)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query
from sqlalchemy import select

from app.deps import SessionDep, ViewerDep
from app.errors import NotFound
from app.inbox import queries
from app.inbox.access import access_conversation
from app.inbox.actions import conversations as actions
from app.inbox.queue import QueueOut, queue_summary
from app.inbox.schemas import (
    AssignmentIn,
    ChannelOut,
    ConversationOut,
    MessageOut,
    ReplyIn,
    StatusIn,
    UserOut,
    channel_out,
    message_out,
)
from app.models import Channel, Conversation, Message, User, UserChannel
from app.pagination import DEFAULT_LIMIT, Cursor, Limit, PageDep, PageQuery, newest_first, page

router = APIRouter(prefix="/api/v1", tags=["inbox"])


@router.get("/conversations")
async def list_conversations(
    session: SessionDep,
    viewer: ViewerDep,
    status: Annotated[str, Query(pattern="^(open|pending|resolved|all)$")] = "open",
    channel_id: int | None = None,
    assignee: Annotated[str | None, Query(pattern=r"^(me|none|\d{1,10})$")] = None,
    # Not PageDep: its parameters would move after `sort` in the published OpenAPI.
    cursor: Cursor = None,
    limit: Limit = DEFAULT_LIMIT,
    sort: Annotated[str, Query(pattern="^(latest|waiting)$")] = "latest",
) -> dict[str, Any]:
    return await PageQuery(cursor, limit).answer(
        queries.list_conversations,
        session,
        viewer,
        status=status,
        channel_id=channel_id,
        assignee=assignee,
        sort=sort,
    )


@router.get("/conversations/{conversation_id}")
async def get_conversation(
    conversation_id: int, session: SessionDep, viewer: ViewerDep
) -> ConversationOut:
    conversation = await access_conversation(session, viewer, conversation_id)
    return await queries.conversation_view(session, conversation)


@router.get("/conversations/{conversation_id}/messages")
async def list_messages(
    conversation_id: int,
    session: SessionDep,
    viewer: ViewerDep,
    pg: PageDep,
) -> dict[str, Any]:
    conversation = await access_conversation(session, viewer, conversation_id)
    return await pg.answer(queries.list_messages, session, conversation)


async def _locked_conversation(
    conversation_id: int, session: SessionDep, viewer: ViewerDep
) -> Conversation:
    """The conversation of the path, if the viewer may see it, locked for a change."""
    return await access_conversation(session, viewer, conversation_id, for_update=True)


LockedConversation = Annotated[Conversation, Depends(_locked_conversation)]


@router.post("/conversations/{conversation_id}/messages", status_code=201)
async def post_message(
    body: ReplyIn, session: SessionDep, viewer: ViewerDep, conversation: LockedConversation
) -> MessageOut:
    message = await actions.send_reply(session, viewer, conversation, body.content, body.private)
    return message_out(message)


@router.post("/conversations/{conversation_id}/messages/{message_id}/retry")
async def retry_message(
    conversation_id: int, message_id: int, session: SessionDep, viewer: ViewerDep
) -> MessageOut:
    conversation = await access_conversation(session, viewer, conversation_id)
    message = await session.get(Message, message_id)
    if message is None or message.conversation_id != conversation.id:
        raise NotFound("message not found")
    return message_out(await actions.retry_delivery(session, viewer, message))


@router.post("/conversations/{conversation_id}/assignment")
async def assign(
    body: AssignmentIn, session: SessionDep, viewer: ViewerDep, conversation: LockedConversation
) -> ConversationOut:
    await actions.assign_conversation(session, viewer, conversation, body.assignee_id)
    return await queries.conversation_view(session, conversation)


@router.post("/conversations/{conversation_id}/status")
async def set_status(
    body: StatusIn, session: SessionDep, viewer: ViewerDep, conversation: LockedConversation
) -> ConversationOut:
    await actions.change_status(session, viewer, conversation, body.status)
    return await queries.conversation_view(session, conversation)


@router.post("/conversations/{conversation_id}/read")
async def mark_read(session: SessionDep, conversation: LockedConversation) -> ConversationOut:
    await actions.mark_read(session, conversation)
    return await queries.conversation_view(session, conversation)


@router.get("/channels")
async def list_channels(session: SessionDep, viewer: ViewerDep, pg: PageDep) -> dict[str, Any]:
    stmt = select(Channel)
    clause = viewer.channel_clause(Channel.id)
    if clause is not None:
        stmt = stmt.where(clause)
    channels, nxt = await newest_first(session, stmt, Channel.id, pg.cursor, pg.limit)
    items: list[ChannelOut] = [channel_out(ch) for ch in channels]
    return page(items, nxt)


@router.get("/users")
async def list_users(session: SessionDep, viewer: ViewerDep, pg: PageDep) -> dict[str, Any]:
    rows, nxt = await newest_first(session, select(User), User.id, pg.cursor, pg.limit)
    limits: dict[int, list[int]] = {}
    if rows:
        for uc in await session.scalars(
            select(UserChannel).where(UserChannel.user_id.in_([u.id for u in rows]))
        ):
            limits.setdefault(uc.user_id, []).append(uc.channel_id)
    items = [
        UserOut(
            id=u.id,
            # An agent sees names to hand over to, not colleagues' addresses.
            email=u.email if viewer.is_supervisor or u.id == viewer.user.id else None,
            name=u.name,
            role=u.role,
            active=u.active,
            channel_ids=sorted(limits[u.id]) if u.id in limits else None,
        )
        for u in rows
    ]
    return page(items, nxt)


@router.get("/queue")
async def get_queue(session: SessionDep, viewer: ViewerDep) -> QueueOut:
    """The unassigned queue on the viewer's channels: how many wait, and the longest wait."""
    return await queue_summary(session, viewer)
