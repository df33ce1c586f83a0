"""Group commit for webhooks: concurrent pushes are stored in one transaction.

Each webhook request hands its push to the process's batcher and waits. The batcher
takes every push that queued up while the previous batch was committing, verifies and
parses each with its connector, stores all their messages in ONE transaction and
commits, and only then answers every request: an acknowledgement is as durable as
before, and a busy server pays the per-transaction costs (BEGIN, the channel read, the
event-log lock and insert, COMMIT and its fsync) once per batch instead of per push.

Nothing waits for a batch to fill: an idle server stores a lone push at once. If a
batch fails, its pushes are stored again one per transaction, so one bad message
answers its own request with its own error and never takes the others down with it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from sqlalchemy import bindparam, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.connectors import connector_for
from app.db import Database
from app.inbox.actions.inbound import record_inbound_batch
from app.inbox.locks import identity_lock_keys, lock_identities
from app.ingest.actions import record_platform_notices
from app.ingest.replay import ReplayGuard, digest
from app.metrics import INGEST_BATCH
from app.models import Channel, Message, ServiceSettings
from app.service.settings import remember_service
from channels.base import BadSignature, WebhookError, WebhookRequest, WebhookResult

# Pushes per transaction: enough to amortise the commit over 32 busy connections, small
# enough that a batch's locks and its transaction stay short.
MAX_BATCH = 64
# Batches in flight at once per process. SQLite has one writer and one pooled connection;
# on PostgreSQL a second batch gathers and parses while the first waits on the server.
SQLITE_WORKERS = 1
POSTGRES_WORKERS = 2
# A second batch starts beside a running one only for this many waiting pushes, or once
# the oldest of them has waited SECOND_BATCH_AFTER. A batch's fixed work (BEGIN, the
# channel read, the locks, the event-log insert, COMMIT: about 4 ms of this process's CPU
# on PostgreSQL) outweighs what a batch of a few pushes saves by not waiting. Measured at
# 32 busy connections: a second batch for any one push gave batches of mean 10 pushes
# (a third of them single) and 1.0 ms of CPU per push; waiting for 16, batches of 16-24
# and 0.8 ms (README, Benchmarks).
SECOND_BATCH_MIN = 16
SECOND_BATCH_AFTER = 0.02  # seconds: a stuck batch (a lock wait) holds no one up for long


@dataclass
class Outcome:
    """What one request answers: the connector's result, or an error answer."""

    result: WebhookResult | None = None
    refused: WebhookError | None = None
    missing: bool = False  # no such channel, or archived
    stored: int = 0
    duplicates: int = 0
    media: bool = False


@dataclass
class Push:
    channel_type: str
    channel_id: int
    wire: WebhookRequest
    future: asyncio.Future[Outcome] = field(
        default_factory=lambda: asyncio.get_running_loop().create_future()
    )


@dataclass
class _Parsed:
    push: Push
    channel: Channel
    result: WebhookResult
    reply_window: timedelta | None


class IngestBatcher:
    """Per-process group commit; no background task outlives the pushes it stores."""

    def __init__(self, db: Database, *, max_batch: int = MAX_BATCH) -> None:
        self.db = db
        self.max_batch = max_batch
        self.max_workers = POSTGRES_WORKERS if db.is_postgres else SQLITE_WORKERS
        self.queue: list[Push] = []
        self.workers: set[asyncio.Task[None]] = set()  # held: the loop keeps only weak refs
        self.running = 0  # workers started and not yet returned
        self.timer: asyncio.TimerHandle | None = None
        self.replay = ReplayGuard()

    async def submit(self, push: Push) -> Outcome:
        """Queue a push and wait until it is committed (or refused, or failed)."""
        self.queue.append(push)
        if self.running == 0 or len(self.queue) >= SECOND_BATCH_MIN:
            self._start()
        else:
            self._start_later()
        return await asyncio.shield(push.future)

    def _start(self) -> None:
        if self.running >= self.max_workers:
            return  # a running worker takes the queue when its batch is committed
        self.running += 1  # counted now, so the next push does not start another
        task = asyncio.create_task(self._work())
        self.workers.add(task)
        task.add_done_callback(self.workers.discard)

    def _start_later(self) -> None:
        if self.timer is None and self.running < self.max_workers:
            self.timer = asyncio.get_running_loop().call_later(SECOND_BATCH_AFTER, self._late)

    def _late(self) -> None:
        self.timer = None
        if self.queue:
            self._start()

    async def _work(self) -> None:
        """Store the queue batch by batch. A worker beside another one stops at a small
        queue and leaves it to that one (or to the push that makes it big, or the timer)."""
        try:
            while self.queue:
                batch, self.queue = self.queue[: self.max_batch], self.queue[self.max_batch :]
                if not self.queue:
                    self._cancel_timer()  # the pushes it was waiting for are taken
                INGEST_BATCH.observe(len(batch))
                await self._batch(batch)
                if self.running > 1 and len(self.queue) < SECOND_BATCH_MIN:
                    break
        finally:
            self.running -= 1
            if self.queue:
                self._start_later()

    def _cancel_timer(self) -> None:
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None

    async def _batch(self, batch: list[Push]) -> None:
        try:
            await self._store(batch)
        except Exception as exc:
            if len(batch) == 1:
                _fail(batch, exc)
                return
            # Which push broke the batch is unknown: store each alone, so every
            # request gets its own answer and the good ones are still stored.
            for push in batch:
                try:
                    await self._store([push])
                except Exception as one:
                    _fail([push], one)
        except BaseException as exc:  # cancelled at shutdown: nobody is left waiting
            _fail(batch, exc)
            raise

    async def _store(self, batch: Sequence[Push]) -> None:
        outcomes: dict[int, Outcome] = {}
        async with self.db.session() as session:
            parsed = await _parse(session, batch, outcomes)
            parsed = await _refuse_replays(session, self.replay, parsed, outcomes)
            by_push = await _record(session, parsed)
            # Leaving the block commits; only then is any platform told "received".
        for p in parsed:
            messages = by_push[id(p.push)]
            stored = sum(m is not None for m in messages)
            outcomes[id(p.push)] = Outcome(
                result=p.result,
                stored=stored,
                duplicates=len(messages) - stored,
                media=any(m is not None and m.media_pending for m in messages),
            )
        for push in batch:
            if not push.future.done():
                push.future.set_result(outcomes[id(push)])


def _fail(batch: Sequence[Push], exc: BaseException) -> None:
    """Answer each request of `batch` still waiting with `exc` (the error handlers render it)."""
    for push in batch:
        if not push.future.done():
            push.future.set_exception(exc)


# Built once: ingest runs it for every batch.
_CHANNELS = (
    select(Channel, ServiceSettings)
    .outerjoin(ServiceSettings, ServiceSettings.channel_id == Channel.id)
    .where(Channel.id.in_(bindparam("ids", expanding=True)))
)


async def _parse(
    session: AsyncSession, batch: Sequence[Push], outcomes: dict[int, Outcome]
) -> list[_Parsed]:
    """Verify and parse each push with its channel; refused pushes get their answer here."""
    ids = sorted({p.channel_id for p in batch})
    # Each channel with its service settings (greeting, hours, targets: app/service), which
    # storing the batch needs: one read for both.
    rows = await session.execute(_CHANNELS, {"ids": ids})
    channels: dict[int, Channel] = {}
    for row, service in rows:
        channels[row.id] = row
        remember_service(session, row.id, service)
    parsed: list[_Parsed] = []
    configs: dict[int, Any] = {}  # validated once per channel and batch
    for push in batch:
        channel = channels.get(push.channel_id)
        if channel is None or channel.type != push.channel_type or channel.archived:
            outcomes[id(push)] = Outcome(missing=True)
            continue
        connector = connector_for(channel.type)
        config = configs.get(channel.id)
        if config is None:
            config = configs[channel.id] = connector.config_model.model_validate(channel.config)
        try:
            result = connector.handle_webhook(config, push.wire)
        except WebhookError as exc:
            outcomes[id(push)] = Outcome(refused=exc)
            continue
        parsed.append(_Parsed(push, channel, result, connector.reply_window_for(config)))
    return parsed


async def _refuse_replays(
    session: AsyncSession, guard: ReplayGuard, parsed: list[_Parsed], outcomes: dict[int, Outcome]
) -> list[_Parsed]:
    """Drop (answering 403) each push whose signed one-time key came with another body."""
    claims = {
        id(p.push): (p.channel.id, p.result.replay_key, digest(p.push.wire.body))
        for p in parsed
        if p.result.replay_key is not None
    }
    refused = await guard.refused(session, list(claims.values()))
    kept = []
    for p in parsed:
        if claims.get(id(p.push)) in refused:
            outcomes[id(p.push)] = Outcome(
                refused=BadSignature(
                    "replayed signature: this timestamp and nonce came with another body"
                )
            )
        else:
            kept.append(p)
    return kept


async def _record(session: AsyncSession, parsed: list[_Parsed]) -> dict[int, list[Message | None]]:
    """Store every parsed message of the batch, each channel's in one set of statements."""
    # All the batch's customer locks at once, in one order (app/inbox/locks.py).
    await lock_identities(
        session,
        [
            key
            for p in parsed
            for key in identity_lock_keys(
                p.channel.id, (m.contact.external_id for m in p.result.messages)
            )
        ],
    )
    by_push: dict[int, list[Message | None]] = {}
    groups: dict[tuple[int, timedelta | None], list[_Parsed]] = {}
    for p in parsed:
        groups.setdefault((p.channel.id, p.reply_window), []).append(p)
    for group in groups.values():
        inbounds = [m for p in group for m in p.result.messages]
        messages = await record_inbound_batch(
            session, group[0].channel, inbounds, reply_window=group[0].reply_window, locked=True
        )
        for p in group:
            await record_platform_notices(session, p.channel, p.result.notices)
        at = 0
        for p in group:
            n = len(p.result.messages)
            by_push[id(p.push)] = messages[at : at + n]
            at += n
    return by_push
