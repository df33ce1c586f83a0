"""Reads for supervisors: message search, the conversation archive, the audit log.

All of them are reads: nothing here marks a conversation read or changes it. The
endpoints record each archive read and search in the audit log.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from pydantic import BaseModel
from sqlalchemy import Select, exists, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.accounts.viewer import Viewer
from app.archive.search import Scope, conversations_matching, guarded, matching_message_ids
from app.errors import BadRequest, NotFound
from app.inbox.queries import conversation_rows
from app.inbox.schemas import ConversationOut, MessageOut, conversation_out, message_out
from app.models import (
    AuditLog,
    Contact,
    ContactIdentity,
    ContactTag,
    Conversation,
    Message,
    SenderType,
)
from app.pagination import (
    before_last_message,
    by_id,
    by_last_message,
    decode_id_cursor,
    newest_first,
    paginate,
)
from app.searchindex.terms import Group, highlight, parse_query


class SearchHit(BaseModel):
    message: MessageOut
    conversation_id: int
    highlight: str


def utc(value: datetime | None) -> datetime | None:
    """Query-string times: an offset is honoured, a bare time is taken as UTC."""
    if value is None:
        return None
    try:
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
    except OverflowError as exc:  # 0001-01-01T00:00+14:00 is before year 1 in UTC
        raise BadRequest("time out of range") from exc


def query_groups(q: str) -> list[Group]:
    groups = parse_query(q)
    if not groups:
        raise BadRequest("the query has no letters, digits or Chinese characters to search for")
    return groups


async def search_messages(
    session: AsyncSession,
    viewer: Viewer,
    q: str,
    *,
    channel_id: int | None,
    since: datetime | None,
    until: datetime | None,
    cursor: str | None,
    limit: int,
) -> tuple[list[SearchHit], str | None]:
    """Messages matching `q` that the viewer may see, newest first, with highlights.
    Private notes included: they are internal, and whoever may open the conversation
    already reads them there."""
    groups = query_groups(q)
    scope = Scope(
        channel_ids=viewer.channel_ids,
        channel_id=channel_id,
        since=utc(since),
        until=utc(until),
        before_id=decode_id_cursor(cursor) if cursor else None,
    )
    ids = await matching_message_ids(session, groups, scope, limit + 1)
    rows = {m.id: m for m in await session.scalars(select(Message).where(Message.id.in_(ids)))}
    found = [rows[i] for i in ids if i in rows]
    page, next_cursor = paginate(found, limit, by_id)
    items = [
        SearchHit(
            message=message_out(m),
            conversation_id=m.conversation_id,
            highlight=highlight(m.content, groups),
        )
        for m in page
    ]
    return items, next_cursor


@dataclass(frozen=True)
class ArchiveFilters:
    channel_id: int | None = None
    agent_id: int | None = None
    since: datetime | None = None
    until: datetime | None = None
    status: str | None = None
    contact: str | None = None
    tag: str | None = None
    q: str | None = None

    def as_details(self) -> dict[str, Any]:
        """For the audit entry: the filters that were set."""
        return {
            k: (v.isoformat() if isinstance(v, datetime) else v)
            for k, v in self.__dict__.items()
            if v not in (None, "")
        }


def _like(value: str) -> str:
    escaped = value.lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def filtered(
    session: AsyncSession, stmt: Select[Any], f: ArchiveFilters, viewer: Viewer | None
) -> Select[Any]:
    """Apply the archive filters to a statement over Conversation.

    - agent: conversations the agent holds or wrote in (deactivated agents included:
      their conversations moved on, their messages did not);
    - since/until: conversations active at some point in [since, until);
    - contact: a substring of the customer's name, phone, email or platform name;
    - tag: a contact tag, case-insensitively;
    - q: at least one message matches the full-text query."""
    if (
        viewer is not None
        and (clause := viewer.channel_clause(Conversation.channel_id)) is not None
    ):
        stmt = stmt.where(clause)
    if f.channel_id is not None:
        stmt = stmt.where(Conversation.channel_id == f.channel_id)
    if f.status:
        if f.status not in ("open", "pending", "resolved"):
            raise BadRequest("status must be open, pending or resolved")
        stmt = stmt.where(Conversation.status == f.status)
    if f.agent_id is not None:
        wrote = exists().where(
            Message.conversation_id == Conversation.id,
            Message.sender_type == SenderType.USER,
            Message.sender_id == f.agent_id,
        )
        stmt = stmt.where(or_(Conversation.assignee_id == f.agent_id, wrote))
    if f.since is not None:
        stmt = stmt.where(Conversation.last_message_at >= utc(f.since))
    if f.until is not None:
        stmt = stmt.where(Conversation.created_at < utc(f.until))
    if f.contact:
        # correlate_except: the outer statement may join Contact and ContactIdentity
        # itself (the conversation rows do); these subqueries must keep their own.
        pattern = _like(f.contact.strip())
        named = (
            select(ContactIdentity.id)
            .where(
                ContactIdentity.contact_id == Conversation.contact_id,
                func.lower(ContactIdentity.name).like(pattern, escape="\\"),
            )
            .correlate_except(ContactIdentity)
            .exists()
        )
        contact = (
            select(Contact.id)
            .where(
                Contact.id == Conversation.contact_id,
                or_(
                    func.lower(Contact.name).like(pattern, escape="\\"),
                    func.lower(Contact.phone).like(pattern, escape="\\"),
                    func.lower(Contact.email).like(pattern, escape="\\"),
                ),
            )
            .correlate_except(Contact)
            .exists()
        )
        stmt = stmt.where(or_(contact, named))
    if f.tag:
        stmt = stmt.where(
            exists().where(
                ContactTag.contact_id == Conversation.contact_id,
                func.lower(ContactTag.tag) == f.tag.strip().lower(),
            )
        )
    if f.q:
        stmt = stmt.where(Conversation.id.in_(conversations_matching(session, query_groups(f.q))))
    return stmt


async def list_archive(
    session: AsyncSession, viewer: Viewer, f: ArchiveFilters, *, cursor: str | None, limit: int
) -> tuple[list[ConversationOut], str | None]:
    stmt = filtered(session, conversation_rows(), f, viewer)
    if cursor:
        stmt = stmt.where(before_last_message(cursor))
    stmt = stmt.order_by(Conversation.last_message_at.desc(), Conversation.id.desc())
    # Guarded: substring and full-text filters over years of history may be slow.
    rows, next_cursor = paginate(
        await guarded(session, stmt.limit(limit + 1)), limit, by_last_message
    )
    return [conversation_out(*row) for row in rows], next_cursor


class ArchivedContact(BaseModel):
    id: int
    name: str
    phone: str | None
    email: str | None
    tags: list[str]


class ArchivedConversation(BaseModel):
    conversation: ConversationOut
    contact: ArchivedContact
    messages: list[MessageOut]  # the whole history, oldest first


async def archived_conversation(
    session: AsyncSession, viewer: Viewer, conversation_id: int
) -> ArchivedConversation:
    """One conversation with its whole history, read-only (unread state untouched)."""
    row = (
        await session.execute(conversation_rows().where(Conversation.id == conversation_id))
    ).first()
    if row is None or not viewer.can_see_channel(row[0].channel_id):
        raise NotFound("conversation not found")
    contact: Contact = row[2]
    tags = await session.scalars(
        select(ContactTag.tag)
        .where(ContactTag.contact_id == contact.id)
        .order_by(ContactTag.position, ContactTag.tag)
    )
    messages = await session.scalars(
        select(Message).where(Message.conversation_id == conversation_id).order_by(Message.id)
    )
    return ArchivedConversation(
        conversation=conversation_out(*row),
        contact=ArchivedContact(
            id=contact.id,
            name=contact.name,
            phone=contact.phone,
            email=contact.email,
            tags=list(tags),
        ),
        messages=[message_out(m) for m in messages],
    )


class AuditActor(BaseModel):
    id: int | None
    name: str


class AuditOut(BaseModel):
    id: int
    actor: AuditActor
    action: str
    object_type: str
    object_id: str
    details: dict[str, Any]
    created_at: datetime


async def list_audit(
    session: AsyncSession,
    *,
    action: str | None,
    actor_id: int | None,
    object_type: str | None,
    object_id: str | None,
    cursor: str | None,
    limit: int,
) -> tuple[list[AuditOut], str | None]:
    stmt = select(AuditLog)
    if action:
        stmt = stmt.where(AuditLog.action == action)
    if actor_id is not None:
        stmt = stmt.where(AuditLog.actor_id == actor_id)
    if object_type:
        stmt = stmt.where(AuditLog.object_type == object_type)
    if object_id:
        stmt = stmt.where(AuditLog.object_id == object_id)
    rows, next_cursor = await newest_first(session, stmt, AuditLog.id, cursor, limit)
    items = [
        AuditOut(
            id=r.id,
            actor=AuditActor(id=r.actor_id, name=r.actor_name),
            action=r.action,
            object_type=r.object_type,
            object_id=r.object_id,
            details=dict(r.details or {}),
            created_at=r.created_at,
        )
        for r in rows
    ]
    return items, next_cursor
