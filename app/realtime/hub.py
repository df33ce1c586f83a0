"""Fan-out of committed events to this process's websockets.

The database is the source of truth and pub/sub is only a hint (perf-reliability.md
3.1): whenever anything says "new events", the hub reads the event log after the
last `seq` it delivered and hands each row, in order, to the subscribers allowed to
see it. A lost hint costs latency, never data: the hub also polls the log.
Across processes the hint travels over Redis; the subscriber task reconnects by
itself after a Redis restart (Chatwoot #11442, redis-py #2089 show the failure).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
from collections.abc import Callable, Sequence
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncConnection

from app.db import Database
from app.models import EventLog
from app.realtime.events import ACCESS_CHANGED
from app.realtime.subscribers import LogEvent, Subscriber
from app.realtime.transport import text_frame

log = logging.getLogger(__name__)

REDIS_CHANNEL = "huiliu:events"
# Ephemeral frames (presence, typing, seen) for the other processes: never logged, never
# replayed, best effort like the frames themselves (`EventHub.share`).
EPHEMERAL_CHANNEL = "huiliu:ephemeral"
EPHEMERAL_BACKLOG = 1000  # frames waiting for Redis; past it they are dropped
POLL_SECONDS = 2.0  # safety net when a hint is lost
BATCH = 500
# Each read is handed out at once: a socket's writer woken per read cost ~33 us, an event
# in it ~0.5 us more; now the hub writes a sleeping socket's run itself (~1.1 us per event
# and socket, two messages per read, against ~2.8 us waking the writer: fanout_cpu.py).
# Reads still come at most every 10 ms, so a burst of commits shares one write per
# socket; that adds at most 10 ms, and only when commits come faster than 100 a second.
MIN_READ_GAP = 0.010


# Columns, not ORM objects: the hub reads the log after every commit, and mapping
# each row into an EventLog instance (identity map, state) was most of that read's CPU.
EVENT_COLUMNS = (
    EventLog.seq,
    EventLog.type,
    EventLog.data,
    EventLog.channel_id,
    EventLog.conversation_id,
)


def event_row(row: Any) -> LogEvent:
    """An event-log row (an EventLog or a row of EVENT_COLUMNS) as the hub's event."""
    return LogEvent.of_row(row)


async def hint_servers(redis_url: str, seq: int) -> None:
    """Wake every server's hub from outside a server (the CLI): the hint a commit sends."""
    import redis.asyncio as aioredis

    client = aioredis.from_url(redis_url)
    try:
        await client.publish(REDIS_CHANNEL, f"{seq} cli")
    finally:
        await client.aclose()


class EventHub:
    def __init__(
        self, db: Database, redis_url: str | None = None, poll_seconds: float = POLL_SECONDS
    ) -> None:
        self.poll_seconds = poll_seconds
        self.db = db
        self.redis_url = redis_url
        self.subscribers: set[Subscriber] = set()
        self.last_seq = 0
        self._wake = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []
        self._redis: Any = None
        self._conn: AsyncConnection | None = None  # PostgreSQL: the hub's own, see _read_after
        self.redis_connected = asyncio.Event()
        # Tags this process's hints: Redis echoes them back to their sender, whose pump
        # the commit already woke; each echo cost an empty read of the log (make bench).
        self._origin = os.urandom(6).hex()
        # kind -> handler of another process's shared frame (set by the app's lifespan).
        self.ephemeral_handlers: dict[str, Callable[[dict[str, Any]], None]] = {}
        self._shared: asyncio.Queue[str] = asyncio.Queue(EPHEMERAL_BACKLOG)

    async def start(self) -> None:
        self.last_seq = await self.current_seq()
        self._tasks.append(asyncio.create_task(self._pump(), name="event-hub-pump"))
        if self.redis_url:
            import redis.asyncio as aioredis

            self._redis = aioredis.from_url(self.redis_url)
            self._tasks.append(asyncio.create_task(self._listen(), name="event-hub-redis"))
            self._tasks.append(asyncio.create_task(self._share_out(), name="event-hub-share"))

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        self._tasks.clear()
        for sub in list(self.subscribers):
            sub.close()
        if self._redis is not None:
            await self._redis.aclose()
        if self._conn is not None:
            conn, self._conn = self._conn, None
            with contextlib.suppress(Exception):
                await conn.close()

    async def current_seq(self) -> int:
        async with self.db.sessions() as session:
            seq = await session.scalar(select(func.coalesce(func.max(EventLog.seq), 0)))
            return int(seq or 0)

    def subscribe(self, sub: Subscriber) -> None:
        self.subscribers.add(sub)

    def unsubscribe(self, sub: Subscriber) -> None:
        self.subscribers.discard(sub)

    def disconnect_user(self, user_id: int) -> None:
        """Close this process's live connections of a user (the assignment heartbeat found
        them deactivated; credential changes themselves arrive as logged events)."""
        for sub in list(self.subscribers):
            if sub.user_id == user_id:
                sub.close()

    def _recheck(self, seq: int, data: Any) -> None:
        """A user's credentials changed (`ACCESS_CHANGED`, read from the log like any
        event, so every process sees it): their sockets re-evaluate who they serve."""
        user_id = data.get("user_id") if isinstance(data, dict) else None
        if type(user_id) is not int:
            return
        for sub in list(self.subscribers):
            if sub.user_id == user_id:
                sub.recheck(seq)

    def notify(self, seqs: list[int]) -> None:
        """Called after a commit wrote events: wake the pump here and hint the others."""
        self._wake.set()
        if self._redis is not None and seqs:
            task = asyncio.get_running_loop().create_task(self._hint(f"{max(seqs)} {self._origin}"))
            task.add_done_callback(lambda t: t.exception() if not t.cancelled() else None)

    def share(self, kind: str, data: dict[str, Any]) -> None:
        """Tell the other processes' `ephemeral_handlers[kind]` (presence, typing): one
        sender keeps the order; without Redis there is no other process to tell."""
        if self._redis is None:
            return
        item = json.dumps({"origin": self._origin, "kind": kind, "data": data}, ensure_ascii=False)
        with contextlib.suppress(asyncio.QueueFull):
            self._shared.put_nowait(item)

    async def _share_out(self) -> None:
        while True:
            item = await self._shared.get()
            try:
                await self._redis.publish(EPHEMERAL_CHANNEL, item)
            except Exception as exc:  # Redis down: the frame is lost, as a live frame may be
                log.warning("ephemeral frame not shared: %s", exc)

    def _shared_in(self, data: Any) -> None:
        try:
            item = json.loads(data)
        except (TypeError, ValueError):
            return
        if not isinstance(item, dict) or item.get("origin") == self._origin:
            return
        handler = self.ephemeral_handlers.get(str(item.get("kind")))
        if handler is not None and isinstance(item.get("data"), dict):
            try:
                handler(item["data"])
            except Exception:
                log.exception("shared %s frame not handled", item.get("kind"))

    async def _hint(self, hint: str) -> None:
        try:
            await self._redis.publish(REDIS_CHANNEL, hint)
        except Exception as exc:  # Redis down: the other processes' poll covers it
            log.warning("event hint not published: %s", exc)

    async def _pump(self) -> None:
        loop = asyncio.get_running_loop()
        last_read = 0.0
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self.poll_seconds)
            # A quiet server reads at once; a busy one reads at most every MIN_READ_GAP,
            # so one read carries several commits and each socket writes them at once.
            if (gap := MIN_READ_GAP - (loop.time() - last_read)) > 0:
                await asyncio.sleep(gap)
            last_read = loop.time()
            self._wake.clear()
            try:
                await self._drain()
            except Exception:
                log.exception("event hub could not read the event log; retrying")
                await asyncio.sleep(1)

    async def _read_after(self, seq: int) -> Sequence[Any]:
        query = select(*EVENT_COLUMNS).where(EventLog.seq > seq).order_by(EventLog.seq)
        if not self.db.is_postgres:  # SQLite's one pooled connection is everyone's
            async with self.db.sessions() as session:
                return (await session.execute(query.limit(BATCH))).all()
        # PostgreSQL: the hub keeps one connection in autocommit for its reads. A pooled
        # session per read cost four round trips (pre-ping, BEGIN, SELECT, ROLLBACK)
        # after every commit; this is one. A broken connection (database restart) is
        # dropped, the pump retries, and the next read opens a fresh one.
        if self._conn is None:
            conn = await self.db.engine.connect()
            self._conn = await conn.execution_options(isolation_level="AUTOCOMMIT")
        try:
            return (await self._conn.execute(query.limit(BATCH))).all()
        except BaseException:
            conn, self._conn = self._conn, None
            with contextlib.suppress(Exception):
                await conn.invalidate()
            raise

    async def _drain(self) -> None:
        while True:
            rows = await self._read_after(self.last_seq)
            events: list[LogEvent] = []
            for row in rows:
                if row.type == ACCESS_CHANGED:  # for the hub, never sent as is
                    # What came before it goes out first: the user's sockets hold what
                    # comes after it until they have re-checked (Subscriber.recheck).
                    self._fan_out(events)
                    events = []
                    self.last_seq = row.seq
                    self._recheck(row.seq, row.data)
                    continue
                event = LogEvent.of_row(row)
                # The wire text, encoded once here rather than once per socket: with 200
                # agents each event was json.dumps'ed 200 times (make bench, live latency).
                event.wire_text()
                # And its websocket frame, the same bytes for every socket (transport.py).
                event.frame = text_frame(event.text)
                events.append(event)
            self._fan_out(events)
            if len(rows) < BATCH:
                return

    def _fan_out(self, events: list[LogEvent]) -> None:
        """Hand a run of events to every subscriber, in seq order.

        Agent sockets that share a visibility (the same channels) form a group: one
        visibility check per event and one run of frames per group, not per socket;
        each socket then takes the run in one write (`Subscriber.deliver_all`). With
        200 agents on one channel set that is 1 check and 1 join per event instead of
        200. Subscribers with a filter of their own (visitors) are asked per event."""
        if not events:
            return
        self.last_seq = events[-1].seq
        groups: dict[Any, list[Subscriber]] = {}
        alone: list[Subscriber] = []
        for sub in list(self.subscribers):
            if sub.overflowed:
                continue
            if sub.visibility is None:
                alone.append(sub)
            else:
                groups.setdefault(sub.visibility, []).append(sub)
        for subs in groups.values():
            accepts = subs[0].accepts
            seen = [event for event in events if accepts(event)]
            if not seen:
                continue
            frames = b"".join(event.frame for event in seen)
            for sub in subs:
                sub.deliver_all(seen, frames)
        for sub in alone:
            for event in events:
                sub.deliver(event)

    def _own_hint(self, data: Any) -> bool:
        """`"<seq> <origin>"` from this hub; anything else (a bare seq from an older
        process) wakes the pump."""
        if isinstance(data, bytes):
            data = data.decode(errors="replace")
        return isinstance(data, str) and data.endswith(f" {self._origin}")

    async def _listen(self) -> None:
        backoff = 0.5
        while True:
            pubsub = self._redis.pubsub()
            try:
                await pubsub.subscribe(REDIS_CHANNEL, EPHEMERAL_CHANNEL)
                self.redis_connected.set()
                backoff = 0.5
                self._wake.set()  # catch up on whatever was hinted while we were away
                while True:
                    message = await pubsub.get_message(ignore_subscribe_messages=True, timeout=30)
                    if message is None:
                        await pubsub.ping()  # detects a dead connection on a quiet channel
                    elif message.get("channel") in (EPHEMERAL_CHANNEL, EPHEMERAL_CHANNEL.encode()):
                        self._shared_in(message.get("data"))
                    elif not self._own_hint(message.get("data")):
                        self._wake.set()
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                self.redis_connected.clear()
                log.warning("redis subscriber lost (%s); reconnecting in %.1fs", exc, backoff)
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 10.0)
            finally:
                with contextlib.suppress(Exception):
                    await pubsub.aclose()
