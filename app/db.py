"""Async engine and sessions; the caller that opened a session owns its transaction.

Events queued by actions are written to the event log inside the transaction and
announced to the bus only after the commit succeeded (Zulip's send_event_on_commit):
a rollback announces nothing.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any, TypeVar, cast

from sqlalchemy import event, select, text
from sqlalchemy.engine import Engine
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as SQLAlchemyTimeoutError
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)

from app.models.base import utcnow
from app.models.events import EventLog
from app.sqlite_driver import one_hop_dbapi

EVENT_LOG = EventLog.__table__
# SQLite's event-log insert (Database._log_events): a constant, rows of placeholders added.
_SQLITE_EVENT_INSERT = (
    "INSERT INTO event_log (type, channel_id, conversation_id, data, created_at)"
    " VALUES {} RETURNING seq"
)
# PostgreSQL's: the event-log lock (EVENT_LOG_LOCK_KEY) and every row in one statement.
_PG_EVENT_INSERT = text(
    "INSERT INTO event_log (type, channel_id, conversation_id, data, created_at)"
    " SELECT e.type, e.channel_id, e.conversation_id, CAST(e.data AS jsonb),"
    " CAST(:now AS timestamptz)"
    " FROM (SELECT pg_advisory_xact_lock(:lock)) AS held,"
    " unnest(CAST(:types AS text[]), CAST(:channels AS integer[]),"
    " CAST(:conversations AS integer[]), CAST(:data AS text[]))"
    " WITH ORDINALITY AS e(type, channel_id, conversation_id, data, n)"
    " ORDER BY e.n RETURNING seq"
)
_SQLITE_EVENT_ROWS = 500  # 2,500 placeholders, far below SQLite's 32,766

# Held from the event-log insert to the commit, so that on PostgreSQL events
# become visible in `seq` order and a reader resuming "after seq N" never skips
# a row committed late (SQLite serializes writers anyway).
EVENT_LOG_LOCK_KEY = 0x48554C49  # "HULI"
PENDING_EVENTS = "huiliu_pending_events"
WAKE_DELIVERY = "huiliu_wake_delivery"


# A new PostgreSQL connection that gets no answer within this fails (-> 503) instead of
# hanging for asyncpg's default 60 s: the platforms give up on a webhook after 5 s.
PG_CONNECT_TIMEOUT = 5.0


def make_engine(url: str) -> AsyncEngine:
    if url.startswith("sqlite"):
        # One connection: every transaction here starts with BEGIN IMMEDIATE, so SQLite
        # runs one at a time anyway. With a larger pool the others wait in SQLite's busy
        # handler, which sleeps up to 100 ms per retry in a thread; measured with 200 live
        # sockets at 10 msg/s this made push-to-screen p50 3.9 s (p99 9 s) where waiting
        # in the pool's asyncio queue gives 43 ms (p99 186 ms). The pool timeout matches
        # the busy timeout it replaces.
        engine = create_async_engine(
            url,
            connect_args={"timeout": 30},
            pool_size=1,
            max_overflow=0,
            pool_timeout=30,
            module=one_hop_dbapi(),  # one thread hop per statement (app/sqlite_driver.py)
        )
        _configure_sqlite(engine.sync_engine)
        return engine
    return create_async_engine(
        url,
        pool_size=10,
        max_overflow=20,
        # A connection broken by a database restart is replaced before use, so requests
        # recover by themselves once the server is back.
        pool_pre_ping=True,
        connect_args={"timeout": PG_CONNECT_TIMEOUT},
    )


def _configure_sqlite(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Take transaction control from the driver so every transaction can start
        # with BEGIN IMMEDIATE: a deferred read-then-write transaction would fail
        # with "database is locked" under concurrent writers instead of waiting.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Any) -> None:
        conn.exec_driver_sql("BEGIN IMMEDIATE")


class Database:
    """The engine, a session factory, and the hook that announces committed events."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.engine = make_engine(url)
        self.sessions = async_sessionmaker(self.engine, expire_on_commit=False)
        self.is_postgres = self.engine.dialect.name == "postgresql"
        self.on_events: Callable[[list[int]], None] | None = None
        self.on_delivery_queued: Callable[[], None] | None = None

    @asynccontextmanager
    async def session(self) -> AsyncIterator[AsyncSession]:
        """A session that commits (with its events) on success and rolls back on error."""
        async with self.sessions() as session:
            try:
                yield session
                await self.commit(session)
            except BaseException:
                await session.rollback()
                session.info.pop(PENDING_EVENTS, None)
                session.info.pop(WAKE_DELIVERY, None)
                raise

    async def commit(self, session: AsyncSession) -> None:
        pending: list[dict[str, Any]] = session.info.pop(PENDING_EVENTS, [])
        wake_delivery = session.info.pop(WAKE_DELIVERY, False)
        seqs: list[int] = []
        if pending:
            seqs = await self._log_events(session, pending)
        await session.commit()
        if seqs and self.on_events is not None:
            self.on_events(seqs)
        if wake_delivery and self.on_delivery_queued is not None:
            self.on_delivery_queued()

    async def _log_events(self, session: AsyncSession, pending: list[dict[str, Any]]) -> list[int]:
        """Write the transaction's events (usually two per message) in the order the actions
        queued them, so `seq` follows that order; returns their seqs."""
        # The ORM's pending changes first, so the event-log lock is held for the insert and
        # the commit only.
        await session.flush()
        if self.is_postgres:
            # One round trip for the lock and the rows: the lock is the join's other side,
            # so it is held before the first row (and its seq) exists; rows are inserted in
            # `pending`'s order, so the seqs sorted follow it.
            result = await session.execute(
                _PG_EVENT_INSERT,
                {
                    "lock": EVENT_LOG_LOCK_KEY,
                    "types": [e["type"] for e in pending],
                    "channels": [e["channel_id"] for e in pending],
                    "conversations": [e["conversation_id"] for e in pending],
                    "data": [json.dumps(e["data"]) for e in pending],
                    "now": utcnow(),
                },
            )
            return sorted(result.scalars())
        # SQLite: with RETURNING in parameter order SQLAlchemy sends one INSERT per event
        # (40 for a batch of 20 pushes), and an executemany needs a second statement to
        # learn the seqs. One multi-row INSERT ... RETURNING per 500 events instead, spelled
        # here because SQLAlchemy compiles a multi-row `values()` anew for every call (5 ms
        # for 64 events, against 0.8 ms for this): rows are inserted in VALUES order under
        # the single writer (BEGIN IMMEDIATE), so the seqs sorted follow `pending`.
        connection = await session.connection()
        dialect = connection.dialect
        data = EVENT_LOG.c.data.type.dialect_impl(dialect).bind_processor(dialect)
        created = EVENT_LOG.c.created_at.type.dialect_impl(dialect).bind_processor(dialect)
        now = created(utcnow()) if created else utcnow()
        seqs: list[int] = []
        for start in range(0, len(pending), _SQLITE_EVENT_ROWS):
            chunk = pending[start : start + _SQLITE_EVENT_ROWS]
            params: list[Any] = []
            for e in chunk:
                value = data(e["data"]) if data else e["data"]
                params += (e["type"], e["channel_id"], e["conversation_id"], value, now)
            result = await connection.exec_driver_sql(
                _SQLITE_EVENT_INSERT.format(", ".join(["(?, ?, ?, ?, ?)"] * len(chunk))),
                tuple(params),
            )
            seqs += sorted(result.scalars())
        return seqs

    async def dispose(self) -> None:
        await self.engine.dispose()


def database_unavailable(exc: BaseException) -> bool:
    """True when `exc` (or what caused it) means the database could not be reached or
    dropped the connection, rather than a bug: the API answers 503 and the caller (a
    platform retrying its webhook, a browser) tries again; pre-ping heals the pool."""
    seen: BaseException | None = exc
    for _ in range(5):  # SQLAlchemy and asyncpg wrap; a short walk down the chain
        if seen is None:
            return False
        if isinstance(seen, DBAPIError) and seen.connection_invalidated:
            return True
        if isinstance(
            seen,
            OperationalError  # SQLite "database is locked", PG "server closed the connection"
            | InterfaceError  # asyncpg "connection is closed"
            | SQLAlchemyTimeoutError  # no pooled connection within pool_timeout
            | ConnectionError  # refused or reset: the server is down or restarting
            | TimeoutError,  # no answer within PG_CONNECT_TIMEOUT
        ):
            return True
        if type(seen).__module__.startswith("asyncpg") and "Connection" in type(seen).__name__:
            return True  # ConnectionDoesNotExistError, PostgresConnectionError, ...
        seen = seen.__cause__ or seen.__context__
    return False


# SQLSTATEs for values PostgreSQL refuses to store: a number out of its column's range,
# a NUL character (text cannot hold one) or one the encoding lacks.
INVALID_VALUE_SQLSTATES = frozenset({"22003", "22021", "22P05"})


def invalid_input(exc: BaseException) -> bool:
    """True when a value in the request cannot be stored, found by tests/fuzz: an id
    too large for an integer column (`/conversations/99999999999999999999`, the driver
    raises OverflowError binding it) or text with a NUL character on PostgreSQL. The
    request is invalid (422), not a server error."""
    seen: BaseException | None = exc
    for _ in range(6):
        if seen is None:
            return False
        if isinstance(seen, OverflowError):
            return True
        if getattr(seen, "sqlstate", None) in INVALID_VALUE_SQLSTATES:
            return True
        seen = seen.__cause__ or seen.__context__
    return False


def queue_event(session: AsyncSession, row: dict[str, Any]) -> None:
    """Queue an event-log row to be written and announced with this session's commit."""
    session.info.setdefault(PENDING_EVENTS, []).append(row)


def wake_delivery_on_commit(session: AsyncSession) -> None:
    """Ask the delivery worker to look for new jobs once this transaction commits."""
    session.info[WAKE_DELIVERY] = True


M = TypeVar("M")


async def row_by_id(
    session: AsyncSession, model: type[M], row_id: int, *, for_update: bool = False
) -> M | None:
    """The `model` row of this `id`, locked for a change with `for_update`.

    A SELECT (not `session.get`) so that the lock is taken even when the row is already in
    the session, exactly as every caller did by hand before."""
    # For models with an integer `id` primary key; typing cannot say so of a mapped class.
    stmt = select(model).where(cast(Any, model).id == row_id)
    if for_update:
        stmt = stmt.with_for_update()
    return await session.scalar(stmt)
