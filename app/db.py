"""Async engine and sessions; the caller that opened a session owns its transaction.

Events queued by actions are written to the event log inside the transaction and
announced to the bus only after the commit succeeded (Zulip's send_event_on_commit):
a rollback announces nothing.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

from sqlalchemy import event, insert, text
from sqlalchemy.engine import Engine
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)

from app.models.events import EventLog

# Held from the event-log insert to the commit, so that on PostgreSQL events
# become visible in `seq` order and a reader resuming "after seq N" never skips
# a row committed late (SQLite serializes writers anyway).
EVENT_LOG_LOCK_KEY = 0x48554C49  # "HULI"
PENDING_EVENTS = "huiliu_pending_events"
WAKE_DELIVERY = "huiliu_wake_delivery"


def make_engine(url: str) -> AsyncEngine:
    if url.startswith("sqlite"):
        engine = create_async_engine(url, connect_args={"timeout": 30})
        _configure_sqlite(engine.sync_engine)
        return engine
    return create_async_engine(url, pool_size=10, max_overflow=20, pool_pre_ping=True)


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
            if self.is_postgres:
                await session.execute(
                    text("SELECT pg_advisory_xact_lock(:k)"), {"k": EVENT_LOG_LOCK_KEY}
                )
            for row in pending:
                result = await session.execute(
                    insert(EventLog).values(**row).returning(EventLog.seq)
                )
                seqs.append(result.scalar_one())
        await session.commit()
        if seqs and self.on_events is not None:
            self.on_events(seqs)
        if wake_delivery and self.on_delivery_queued is not None:
            self.on_delivery_queued()

    async def dispose(self) -> None:
        await self.engine.dispose()


def queue_event(session: AsyncSession, row: dict[str, Any]) -> None:
    """Queue an event-log row to be written and announced with this session's commit."""
    session.info.setdefault(PENDING_EVENTS, []).append(row)


def wake_delivery_on_commit(session: AsyncSession) -> None:
    """Ask the delivery worker to look for new jobs once this transaction commits."""
    session.info[WAKE_DELIVERY] = True
