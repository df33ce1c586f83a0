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
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import func, select

from app.db import Database
from app.models import EventLog

log = logging.getLogger(__name__)

REDIS_CHANNEL = "huiliu:events"
QUEUE_SIZE = 1000  # a client this far behind is closed and resyncs from the log
POLL_SECONDS = 2.0  # safety net when a hint is lost
BATCH = 500


@dataclass(eq=False)  # identity hashing: each connection is its own subscriber
class Subscriber:
    accepts: Callable[[dict[str, Any]], bool]
    user_id: int | None = None
    queue: asyncio.Queue[dict[str, Any] | None] = field(
        default_factory=lambda: asyncio.Queue(QUEUE_SIZE)
    )
    overflowed: bool = False

    def deliver(self, event: dict[str, Any]) -> None:
        if self.overflowed or not self.accepts(event):
            return
        try:
            self.queue.put_nowait(event)
        except asyncio.QueueFull:
            self.overflowed = True
            self.close()

    def close(self) -> None:
        with contextlib.suppress(asyncio.QueueFull):
            self.queue.put_nowait(None)


def event_row(row: EventLog) -> dict[str, Any]:
    return {
        "seq": row.seq,
        "type": row.type,
        "data": row.data,
        "channel_id": row.channel_id,
        "conversation_id": row.conversation_id,
    }


def public_event(event: dict[str, Any]) -> dict[str, Any]:
    """The wire shape of CONTRACT section 5."""
    return {"seq": event["seq"], "type": event["type"], "data": event["data"]}


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
        self.redis_connected = asyncio.Event()

    async def start(self) -> None:
        self.last_seq = await self.current_seq()
        self._tasks.append(asyncio.create_task(self._pump(), name="event-hub-pump"))
        if self.redis_url:
            import redis.asyncio as aioredis

            self._redis = aioredis.from_url(self.redis_url)
            self._tasks.append(asyncio.create_task(self._listen(), name="event-hub-redis"))

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

    async def current_seq(self) -> int:
        async with self.db.sessions() as session:
            seq = await session.scalar(select(func.coalesce(func.max(EventLog.seq), 0)))
            return int(seq or 0)

    def subscribe(self, sub: Subscriber) -> None:
        self.subscribers.add(sub)

    def unsubscribe(self, sub: Subscriber) -> None:
        self.subscribers.discard(sub)

    def disconnect_user(self, user_id: int) -> None:
        """Close every live connection of a user (deactivation, revoked session)."""
        for sub in list(self.subscribers):
            if sub.user_id == user_id:
                sub.close()

    def notify(self, seqs: list[int]) -> None:
        """Called after a commit wrote events: wake the pump here and hint the others."""
        self._wake.set()
        if self._redis is not None and seqs:
            task = asyncio.get_running_loop().create_task(self._hint(max(seqs)))
            task.add_done_callback(lambda t: t.exception() if not t.cancelled() else None)

    async def _hint(self, seq: int) -> None:
        try:
            await self._redis.publish(REDIS_CHANNEL, str(seq))
        except Exception as exc:  # Redis down: the other processes' poll covers it
            log.warning("event hint not published: %s", exc)

    async def _pump(self) -> None:
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self.poll_seconds)
            self._wake.clear()
            try:
                await self._drain()
            except Exception:
                log.exception("event hub could not read the event log; retrying")
                await asyncio.sleep(1)

    async def _drain(self) -> None:
        while True:
            async with self.db.sessions() as session:
                rows = (
                    await session.scalars(
                        select(EventLog)
                        .where(EventLog.seq > self.last_seq)
                        .order_by(EventLog.seq)
                        .limit(BATCH)
                    )
                ).all()
            for row in rows:
                event = event_row(row)
                self.last_seq = row.seq
                for sub in list(self.subscribers):
                    sub.deliver(event)
            if len(rows) < BATCH:
                return

    async def _listen(self) -> None:
        backoff = 0.5
        while True:
            pubsub = self._redis.pubsub()
            try:
                await pubsub.subscribe(REDIS_CHANNEL)
                self.redis_connected.set()
                backoff = 0.5
                self._wake.set()  # catch up on whatever was hinted while we were away
                while True:
                    message = await pubsub.get_message(ignore_subscribe_messages=True, timeout=30)
                    if message is not None:
                        self._wake.set()
                    else:
                        await pubsub.ping()  # detects a dead connection on a quiet channel
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
