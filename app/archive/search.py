"""Full-text search queries over the message index (app/searchindex): scope, hits, timeouts.

SQLite asks the FTS5 table with MATCH; PostgreSQL asks the tsvector column with `<->`
phrases, bucket range by bucket range, newest first (see app/searchindex/index.py),
under `SET LOCAL statement_timeout`.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Select, cast, func, literal, select, text
from sqlalchemy.dialects.postgresql import TSQUERY
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncSession

from app.config import settings_of
from app.errors import HuiliuError
from app.models import Message
from app.searchindex import index
from app.searchindex.index import BUCKET_STEPS, dialect_of, fts_table, pg_table
from app.searchindex.terms import Group, fts5_query, tsquery_literal


class SearchTimeout(HuiliuError):
    status_code = 503


@dataclass(frozen=True)
class Scope:
    """Where to look: the viewer's channels, the filters, and the page boundary."""

    channel_ids: frozenset[int] | None = None  # None: every channel
    channel_id: int | None = None
    since: datetime | None = None
    until: datetime | None = None
    before_id: int | None = None

    def apply(self, stmt: Select[Any], channel: Any, created_at: Any, msg_id: Any) -> Select[Any]:
        if self.channel_ids is not None:
            stmt = stmt.where(channel.in_(sorted(self.channel_ids)))
        if self.channel_id is not None:
            stmt = stmt.where(channel == self.channel_id)
        if self.since is not None:
            stmt = stmt.where(created_at >= self.since)
        if self.until is not None:
            stmt = stmt.where(created_at < self.until)
        if self.before_id is not None:
            stmt = stmt.where(msg_id < self.before_id)
        return stmt


def _sqlite_hits(groups: list[Group], scope: Scope, limit: int) -> Select[Any]:
    # FTS5 drives the loop in rowid order (newest first) and stops at the limit; the
    # join to messages applies the filters row by row.
    stmt = (
        select(Message.id)
        .select_from(fts_table.join(Message, Message.id == fts_table.c.rowid))
        .where(fts_table.c.terms.op("MATCH")(fts5_query(groups)))
    )
    stmt = scope.apply(stmt, Message.channel_id, Message.created_at, fts_table.c.rowid)
    return stmt.order_by(fts_table.c.rowid.desc()).limit(limit)


def _pg_match(groups: list[Group], buckets: range | None = None) -> Any:
    query = tsquery_literal(groups)
    if buckets is not None:
        names = " | ".join(f"'~b{b}'" for b in reversed(buckets))
        query = f"({query}) & ({names})"
    return pg_table.c.tsv.op("@@")(cast(literal(query), TSQUERY))


def _pg_hits(
    groups: list[Group], scope: Scope, limit: int, buckets: range | None, below: int
) -> Select[Any]:
    # perf-reliability.md 2.3: for a rare term the planner likes a backward primary-key
    # scan with a per-row recheck (hundreds of ms); a MATERIALIZED CTE forces the GIN
    # path, whose cost follows the number of hits in the buckets asked.
    hits = scope.apply(
        select(pg_table.c.message_id).where(
            _pg_match(groups, buckets), pg_table.c.message_id < below
        ),
        pg_table.c.channel_id,
        pg_table.c.created_at,
        pg_table.c.message_id,
    )
    cte = hits.cte("hits").prefix_with("MATERIALIZED")
    return select(cte.c.message_id).order_by(cte.c.message_id.desc()).limit(limit)


async def _pg_matching_ids(
    session: AsyncSession, groups: list[Group], scope: Scope, limit: int
) -> list[int]:
    """Newest hits first, asked over growing ranges of buckets (1, 2, 4, 8, 16 buckets,
    then everything older) until `limit` are found: a common word stops after the first
    step, a rare one costs a few index probes more."""
    upper = scope.before_id
    if upper is None:
        upper = int(await session.scalar(select(func.max(pg_table.c.message_id))) or 0) + 1
    found: list[int] = []
    top = (upper - 1) >> index.BUCKET_SHIFT
    for size in (*BUCKET_STEPS, None):
        if top < 0 or len(found) >= limit:
            break
        below = min(upper, (top + 1) << index.BUCKET_SHIFT)
        buckets = None if size is None or top - size < 0 else range(top - size + 1, top + 1)
        stmt = _pg_hits(groups, scope, limit - len(found), buckets, below)
        found += [int(row[0]) for row in (await session.execute(stmt)).all()]
        top = -1 if buckets is None else buckets.start - 1
    return found


def conversations_matching(session: AsyncSession, groups: list[Group]) -> Select[Any]:
    """Ids of conversations with at least one matching message (the archive's `q`)."""
    if dialect_of(session) == "postgresql":
        return (
            select(Message.conversation_id)
            .join(pg_table, pg_table.c.message_id == Message.id)
            .where(_pg_match(groups))
        )
    return (
        select(Message.conversation_id)
        .select_from(fts_table.join(Message, Message.id == fts_table.c.rowid))
        .where(fts_table.c.terms.op("MATCH")(fts5_query(groups)))
    )


@asynccontextmanager
async def time_limit(session: AsyncSession) -> AsyncIterator[None]:
    """On PostgreSQL, the configured statement timeout for the statements inside (a
    query over years of messages must not hold a connection for minutes)."""
    postgres = dialect_of(session) == "postgresql"
    if postgres:
        ms = max(1, int(settings_of(session).search_timeout_ms))
        await session.execute(text(f"SET LOCAL statement_timeout = {ms}"))
    try:
        yield
    except DBAPIError as exc:
        if "statement timeout" in str(exc.orig):
            raise SearchTimeout(
                "the search took too long; narrow it with a channel or a date range"
            ) from exc
        raise
    if postgres:
        await session.execute(text("SET LOCAL statement_timeout TO DEFAULT"))


async def guarded(session: AsyncSession, stmt: Select[Any]) -> list[Any]:
    """The rows of a search statement, under `time_limit`."""
    async with time_limit(session):
        return list((await session.execute(stmt)).all())


async def matching_message_ids(
    session: AsyncSession, groups: list[Group], scope: Scope, limit: int
) -> list[int]:
    """Ids of matching messages, newest first, at most `limit`."""
    async with time_limit(session):
        if dialect_of(session) == "postgresql":
            return await _pg_matching_ids(session, groups, scope, limit)
        rows = (await session.execute(_sqlite_hits(groups, scope, limit))).all()
        return [int(row[0]) for row in rows]
