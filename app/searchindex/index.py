"""The full-text index over every message (both backends): writing, backfill, rebuild.

The index is written by the application in the same transaction as the message
(`index_message`, called from the inbox actions: inbound, replies and system notes),
so a message is findable the moment it is committed, and a rollback leaves no term.

- SQLite: a contentless FTS5 table `message_search` (rowid = message id) over the
  document `terms.fts5_document` builds; unicode61 only splits on the spaces we put.
- PostgreSQL: a table `message_search` (message id, channel, time, tsvector built by
  `terms.tsvector_literal`) with a GIN index, queried with `<->` phrases under
  `SET LOCAL statement_timeout`. Each document also carries a *bucket* lexeme
  (`~b61`: message id >> BUCKET_SHIFT), so "the newest hits" is asked bucket range by
  bucket range, newest first: GIN intersects the term's posting list with the
  buckets' inside the index, and only the hits of those buckets are read from the
  heap. Without it a common word (退: 65k of 1M messages) read every hit's heap page
  to keep 51 (540 ms cold); with it the first page costs about 1 ms.

Both index objects live outside the ORM metadata (migrations/versions/..._0004 makes
them; `is_search_index_table` tells Alembic's comparison to leave them alone).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import (
    Column,
    Connection,
    Integer,
    MetaData,
    Select,
    Table,
    Text,
    TextClause,
    bindparam,
    select,
    text,
)
from sqlalchemy.dialects.postgresql import TSVECTOR
from sqlalchemy.ext.asyncio import AsyncSession

from app.models import Message
from app.models.base import UTCDateTime
from app.searchindex.terms import fts5_document, tsvector_literal

TABLE = "message_search"
REBUILD_TABLE = "message_search_rebuild"
BATCH = 2000  # messages per reindex transaction: short enough not to stall ingest
BUCKET_SHIFT = 14  # PostgreSQL: 16,384 consecutive message ids share one bucket lexeme
# Buckets per search step, newest first, before one last step over all older messages.
BUCKET_STEPS = (1, 2, 4, 8, 16)

fts_table = Table(
    TABLE, MetaData(), Column("rowid", Integer, primary_key=True), Column("terms", Text)
)
pg_table = Table(
    TABLE,
    MetaData(),
    Column("message_id", Integer, primary_key=True),
    Column("channel_id", Integer),
    Column("created_at", UTCDateTime),
    Column("tsv", TSVECTOR),
)


def is_search_index_table(name: str | None) -> bool:
    """FTS5 makes shadow tables (message_search_data, ...): all are the index's."""
    return bool(name) and (name == TABLE or str(name).startswith(TABLE + "_"))


def alembic_include_name(name: str | None, type_: str, _parent: object) -> bool:
    """For Alembic's comparisons (migrations/env.py, tests/test_migrations.py): the
    message index and the customers' trigram index are not in the ORM."""
    from app.searchindex import contacts

    return not (type_ == "table" and (is_search_index_table(name) or contacts.is_index_table(name)))


def dialect_of(session: AsyncSession | Connection) -> str:
    bind = session.get_bind() if isinstance(session, AsyncSession) else session
    return bind.dialect.name


def fts5_create(table: str = TABLE) -> str:
    return (
        f"CREATE VIRTUAL TABLE {table} USING fts5("
        "terms, content='', tokenize='unicode61 remove_diacritics 0')"
    )


def _insert_sql(dialect: str, table: str = TABLE, upsert: bool = False) -> TextClause:
    if dialect == "postgresql":
        sql = (  # `table` is one of our two constants, never input
            f"INSERT INTO {table} (message_id, channel_id, created_at, tsv) "  # noqa: S608
            "VALUES (:id, :channel_id, :created_at, CAST(:doc AS tsvector))"
        )
        if upsert:
            sql += (
                " ON CONFLICT (message_id) DO UPDATE SET tsv = EXCLUDED.tsv, "
                "channel_id = EXCLUDED.channel_id, created_at = EXCLUDED.created_at"
            )
        return text(sql).bindparams(bindparam("created_at", type_=UTCDateTime()))
    return text(f"INSERT INTO {table} (rowid, terms) VALUES (:id, :doc)")  # noqa: S608


def bucket_lexeme(message_id: int) -> str:
    """The lexeme naming a message's id bucket. Terms never contain `~` (terms.py)."""
    return f"~b{message_id >> BUCKET_SHIFT}"


def index_params(dialect: str, rows: Iterable[Sequence[Any]]) -> list[dict[str, Any]]:
    """(id, channel_id, created_at, content) rows to insert parameters; empty texts skipped."""
    postgres = dialect == "postgresql"
    build = tsvector_literal if postgres else fts5_document
    params = []
    for message_id, channel_id, created_at, content in rows:
        doc = build(content or "")
        if doc and postgres:
            doc += f" '{bucket_lexeme(message_id)}'"
        if doc:
            params.append(
                {"id": message_id, "channel_id": channel_id, "created_at": created_at, "doc": doc}
            )
    return params


async def index_messages(session: AsyncSession, messages: Sequence[Message]) -> None:
    """Make just-stored messages searchable, in the caller's transaction (one executemany)."""
    dialect = dialect_of(session)
    params = index_params(
        dialect, [(m.id, m.channel_id, m.created_at, m.content) for m in messages]
    )
    if params:
        await session.execute(_insert_sql(dialect), params)


async def index_message(session: AsyncSession, message: Message) -> None:
    """Make one just-stored message searchable, in the caller's transaction."""
    await index_messages(session, [message])


def backfill(connection: Connection) -> None:
    """Index every stored message (migration 0004, on a synchronous connection)."""
    dialect = dialect_of(connection)
    last = 0
    while True:
        rows = connection.execute(_batch_stmt(last)).all()
        if not rows:
            return
        params = index_params(dialect, rows)
        if params:
            connection.execute(_insert_sql(dialect), params)
        last = rows[-1][0]


def _batch_stmt(after: int, upto: int | None = None) -> Select[int, int, datetime, str]:
    stmt = select(Message.id, Message.channel_id, Message.created_at, Message.content).where(
        Message.id > after
    )
    if upto is not None:
        stmt = stmt.where(Message.id <= upto)
    return stmt.order_by(Message.id).limit(BATCH)


async def reindex(sessions: Any, progress: Callable[[int, int], None] | None = None) -> int:
    """Rebuild the whole index from the messages, in short transactions; returns the count.

    `sessions()` opens a committing session (Database.session). PostgreSQL upserts in
    place. SQLite fills a new FTS5 table and swaps it in at the end, in the one
    transaction that also indexes whatever arrived meanwhile (SQLite serialises
    writers, so nothing slips between the last batch and the swap)."""
    async with sessions() as session:
        dialect = dialect_of(session)
        total = int(await session.scalar(select(Message.id).order_by(Message.id.desc())) or 0)
        if dialect != "postgresql":
            await session.execute(text(f"DROP TABLE IF EXISTS {REBUILD_TABLE}"))
            await session.execute(text(fts5_create(REBUILD_TABLE)))
    table = TABLE if dialect == "postgresql" else REBUILD_TABLE
    insert = _insert_sql(dialect, table, upsert=True)
    last = done = 0
    while last < total:
        async with sessions() as session:
            rows = (await session.execute(_batch_stmt(last, total))).all()
            if not rows:
                break
            params = index_params(dialect, rows)
            if params:
                await session.execute(insert, params)
        last, done = rows[-1][0], done + len(rows)
        if progress is not None:
            progress(last, total)
    if dialect != "postgresql":
        async with sessions() as session:
            while rows := (await session.execute(_batch_stmt(last))).all():
                params = index_params(dialect, rows)
                if params:
                    await session.execute(insert, params)
                last, done = rows[-1][0], done + len(rows)
            await session.execute(text(f"DROP TABLE {TABLE}"))
            await session.execute(text(f"ALTER TABLE {REBUILD_TABLE} RENAME TO {TABLE}"))
    return done
