"""The delivery worker: claims due jobs, sends them through the connector, records the outcome.

- Per conversation, one job in flight at a time and in id order, so replies arrive in order.
- Transient failures retry with exponential backoff and jitter up to `max_attempts`;
  permanent and uncertain ones fail at once with the platform's reason.
- A job claimed by a process that died is claimed again once its lease runs out;
  the idempotency key stays the same, so a platform that honours it never shows it twice.
  A platform without one (WeChat, Douyin: `capabilities.idempotent_sends` False) may already
  have shown it, so the reply is marked `uncertain` instead and the agent decides.
- On PostgreSQL jobs are claimed with FOR UPDATE SKIP LOCKED, so several processes share
  the queue; on SQLite there is one writer anyway.
"""

from __future__ import annotations

import asyncio
import logging
import os
import random
import socket
from collections.abc import Callable
from dataclasses import replace
from datetime import datetime, timedelta

import httpx
from sqlalchemy import and_, exists, or_, select
from sqlalchemy.orm import aliased

from app.config import Settings
from app.connectors import channel_context, connector_for
from app.db import Database
from app.delivery.actions import record_delivery_failure, record_delivery_sent
from app.metrics import DELIVERIES
from app.models import (
    Channel,
    ContactIdentity,
    Conversation,
    DeliveryJob,
    JobStatus,
    Message,
)
from app.service.actions.automatic import survey_choices
from app.storage import AttachmentStorage
from app.workers import PollingWorker
from channels.base import (
    ContentType,
    DeliveryError,
    OutboundMedia,
    OutboundMessage,
    SendResult,
    utcnow,
)

log = logging.getLogger(__name__)

LEASE = timedelta(seconds=60)  # a send that takes longer than this is presumed dead
BATCH = 20
# perf-reliability.md 3.3: "1 s, 5 s, 30 s, 2 min, 10 min, 1 h"; later attempts wait an hour.
BACKOFF_SECONDS = (1, 5, 30, 120, 600, 3600)


# A send whose process died mid-way: it may or may not have reached the platform.
ORPHANED = DeliveryError(
    "uncertain: 发送过程中服务中断，消息可能已送达 / "
    "the server stopped while sending; it may have been delivered",
    uncertain=True,
)


def backoff(attempt: int, rng: Callable[[], float] = random.random) -> timedelta:
    """Delay before attempt `attempt + 1`: the schedule, with equal jitter (half fixed)."""
    base = BACKOFF_SECONDS[min(attempt, len(BACKOFF_SECONDS)) - 1]
    return timedelta(seconds=base / 2 + rng() * base / 2)


class DeliveryWorker(PollingWorker):
    name = "delivery-worker"
    drain = True  # a full batch: claim the next at once

    def __init__(
        self,
        db: Database,
        http: httpx.AsyncClient,
        settings: Settings,
        *,
        clock: Callable[[], datetime] = utcnow,
        storage: AttachmentStorage | None = None,
    ) -> None:
        super().__init__()
        self.storage = storage
        self.db = db
        self.http = http
        self.settings = settings
        self.clock = clock
        self.owner = f"{socket.gethostname()}:{os.getpid()}:{id(self):x}"
        self._orphaned: set[int] = set()  # claimed again after a dead process's lease

    def interval(self) -> float:
        return self.settings.delivery_poll_seconds

    async def run_once(self) -> int:
        """Claim what is due and send it; the number of jobs handled."""
        jobs = await self._claim()
        if jobs:
            await asyncio.gather(*(self._deliver(job_id) for job_id in jobs))
        return len(jobs)

    async def _claim(self) -> list[int]:
        now = self.clock()
        earlier = aliased(DeliveryJob)
        unfinished = (JobStatus.PENDING, JobStatus.IN_FLIGHT)
        due = or_(
            and_(DeliveryJob.status == JobStatus.PENDING, DeliveryJob.next_attempt_at <= now),
            and_(DeliveryJob.status == JobStatus.IN_FLIGHT, DeliveryJob.locked_until < now),
        )
        blocked = exists().where(
            earlier.conversation_id == DeliveryJob.conversation_id,
            earlier.id < DeliveryJob.id,
            earlier.status.in_(unfinished),
        )
        async with self.db.session() as session:
            jobs = (
                await session.scalars(
                    select(DeliveryJob)
                    .where(due, ~blocked)
                    .order_by(DeliveryJob.id)
                    .limit(BATCH)
                    .with_for_update(skip_locked=True)
                )
            ).all()
            for job in jobs:
                if job.status == JobStatus.IN_FLIGHT:
                    self._orphaned.add(job.id)
                job.status = JobStatus.IN_FLIGHT
                job.locked_until = now + LEASE
                job.locked_by = self.owner
                job.attempts += 1
                job.updated_at = now
            return [job.id for job in jobs]

    async def _deliver(self, job_id: int) -> None:
        async with self.db.sessions() as session:
            job = await session.get(DeliveryJob, job_id)
            assert job is not None
            message = await session.get(Message, job.message_id)
            channel = await session.get(Channel, job.channel_id)
            conversation = await session.get(Conversation, job.conversation_id)
            assert message and channel and conversation
            identity = await session.get(ContactIdentity, conversation.identity_id)
            assert identity is not None
            outbound = OutboundMessage(
                idempotency_key=job.idempotency_key,
                recipient=identity.external_id,
                content_type=ContentType(message.content_type),
                text=message.content,
                attachments=tuple(message.attachments or ()),
                reply_context=dict(identity.reply_context or {}),
                # A survey shows as a menu where the platform has one (else its text).
                choices=survey_choices(message.extra)
                if connector_for(channel.type).capabilities.menus
                else (),
            )
            attempts = job.attempts
        connector = connector_for(channel.type)
        if job_id in self._orphaned:
            self._orphaned.discard(job_id)
            if not connector.capabilities.idempotent_sends:
                await self._record_failure(job_id, ORPHANED, attempts)
                return
        try:
            outbound = replace(outbound, media=await self._media_of(message))
        except DeliveryError as exc:
            await self._record_failure(job_id, exc, attempts)
            return
        try:
            ctx = channel_context(self.db, self.http, self.settings, channel, now=self.clock)

            result = await connector.send(ctx, outbound)
        except DeliveryError as exc:
            await self._record_failure(job_id, exc, attempts)
        except Exception as exc:  # a connector bug must not leave the job in flight forever
            log.exception("connector crashed sending job %s", job_id)
            await self._record_failure(job_id, DeliveryError(f"internal error: {exc}"), attempts)
        else:
            await self._record_success(job_id, result)

    async def _media_of(self, message: Message) -> tuple[OutboundMedia, ...]:
        """The stored files of a media reply, read back for the connector to upload."""
        files = []
        for att in message.attachments or []:
            key = att.get("storage_key")
            if not key:
                continue
            content = await self.storage.get(key) if self.storage else None
            if content is None:
                raise DeliveryError("attachment missing from storage / 附件丢失")
            files.append(
                OutboundMedia(
                    kind=ContentType(att.get("kind", "file")),
                    content=content,
                    mime_type=str(att.get("mime_type") or "application/octet-stream"),
                    file_name=att.get("file_name"),
                )
            )
        return tuple(files)

    async def _record_success(self, job_id: int, result: SendResult) -> None:
        async with self.db.session() as session:
            await record_delivery_sent(session, job_id, result, self.clock())
        DELIVERIES.labels(outcome="sent").inc()

    async def _record_failure(self, job_id: int, exc: DeliveryError, attempts: int) -> None:
        retry = exc.retryable and attempts < self.settings.delivery_max_attempts
        async with self.db.session() as session:
            outcome = await record_delivery_failure(
                session,
                job_id,
                exc,
                attempts,
                self.clock(),
                retry_in=backoff(attempts) if retry else None,
            )
        DELIVERIES.labels(outcome=outcome).inc()
