"""Export: conversations with all their messages, as JSON lines or CSV, in constant memory.

Conversations are read in id order, a batch at a time, and their messages in pages
by (conversation id, message id); a line is produced as soon as a conversation is
complete. Each page is its own short transaction: on SQLite a long read would hold
the write lock (every transaction there begins IMMEDIATE) and stall ingest. So an
export is not a snapshot: messages that arrive during it may or may not be in it.
Memory is bounded by one page plus the largest single conversation.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager
from typing import Any

from sqlalchemy import func, select, tuple_
from sqlalchemy.ext.asyncio import AsyncSession

from app.accounts.viewer import Viewer
from app.archive.queries import ArchiveFilters, filtered
from app.inbox.queries import conversation_rows
from app.inbox.schemas import ConversationOut, MessageOut, conversation_out, message_out
from app.models import Conversation, Message

Sessions = Callable[[], AbstractAsyncContextManager[AsyncSession]]
CONVERSATION_BATCH = 200
MESSAGE_PAGE = 2000


async def count_conversations(sessions: Sessions, f: ArchiveFilters, viewer: Viewer | None) -> int:
    async with sessions() as session:
        stmt = filtered(session, select(func.count(Conversation.id)), f, viewer)
        return int(await session.scalar(stmt) or 0)


async def conversations_with_messages(
    sessions: Sessions, f: ArchiveFilters, viewer: Viewer | None = None
) -> AsyncIterator[tuple[ConversationOut, list[MessageOut]]]:
    """Every matching conversation, oldest first, each with its whole history."""
    last_id = 0
    while True:
        async with sessions() as session:
            stmt = filtered(session, conversation_rows(), f, viewer)
            stmt = stmt.where(Conversation.id > last_id).order_by(Conversation.id)
            views = [
                conversation_out(*r)
                for r in (await session.execute(stmt.limit(CONVERSATION_BATCH))).all()
            ]
        if not views:
            return
        last_id = views[-1].id
        ids = [v.id for v in views]
        pending = list(views)  # not yet emitted, in id order
        collected: list[MessageOut] = []
        after = (0, 0)
        while True:
            async with sessions() as session:
                # Plain rows, not ORM objects: an export reads millions of messages once,
                # and the identity map and instance state would be most of its cost.
                page = (
                    await session.execute(
                        select(*Message.__table__.columns)
                        .where(
                            Message.conversation_id.in_(ids),
                            tuple_(Message.conversation_id, Message.id) > tuple_(*after),
                        )
                        .order_by(Message.conversation_id, Message.id)
                        .limit(MESSAGE_PAGE)
                    )
                ).all()
            for m in page:
                # A message of a later conversation: every earlier one is complete.
                while pending[0].id < m.conversation_id:
                    yield pending.pop(0), collected
                    collected = []
                collected.append(message_out(m))  # type: ignore[arg-type] # a Row has the columns
            if len(page) < MESSAGE_PAGE:
                break
            after = (page[-1].conversation_id, page[-1].id)
        for view in pending:
            yield view, collected
            collected = []


def jsonl_line(conversation: ConversationOut, messages: list[MessageOut]) -> str:
    return (
        json.dumps(
            {
                "conversation": conversation.model_dump(mode="json"),
                "messages": [m.model_dump(mode="json") for m in messages],
            },
            ensure_ascii=False,
        )
        + "\n"
    )


CSV_COLUMNS = [
    "conversation_id",
    "channel",
    "contact",
    "status",
    "assignee",
    "message_id",
    "created_at",
    "direction",
    "private",
    "sender_type",
    "sender_name",
    "content_type",
    "content",
]


# Spreadsheet programs read a cell starting with these as a formula (OWASP "CSV injection").
_FORMULA = ("=", "+", "-", "@", "\t", "\r", "\n")


def _cell(value: Any) -> str:
    """Customer text is hostile: a cell starting with = + - @ (or a tab, CR or newline, or
    spaces before any of them, which spreadsheets skip) is prefixed with a quote."""
    text = "" if value is None else str(value)
    if text[:1] in _FORMULA or text.lstrip(" \t\r\n")[:1] in _FORMULA:
        return "'" + text
    return text


def csv_rows(conversation: ConversationOut, messages: list[MessageOut]) -> str:
    out = io.StringIO()
    writer = csv.writer(out)
    for m in messages:
        writer.writerow(
            _cell(v)
            for v in (
                conversation.id,
                conversation.channel.name,
                conversation.contact.name,
                conversation.status,
                conversation.assignee.name if conversation.assignee else "",
                m.id,
                m.created_at.isoformat(),
                m.direction,
                "true" if m.private else "false",
                m.sender.type,
                m.sender.name,
                m.content_type,
                m.content,
            )
        )
    return out.getvalue()


def csv_header() -> str:
    out = io.StringIO()
    csv.writer(out).writerow(CSV_COLUMNS)
    # A byte-order mark so that Excel opens UTF-8 Chinese text correctly.
    return "\ufeff" + out.getvalue()


async def export_text(
    sessions: Sessions, f: ArchiveFilters, viewer: Viewer | None = None, fmt: str = "jsonl"
) -> AsyncIterator[str]:
    """The export as chunks of text (one conversation each) for a streaming response."""
    if fmt == "csv":
        yield csv_header()
    async for conversation, messages in conversations_with_messages(sessions, f, viewer):
        yield (
            csv_rows(conversation, messages) if fmt == "csv" else jsonl_line(conversation, messages)
        )
