"""The delivery outcome actions: what a send did to the job and its message, and the event.

The delivery worker (worker.py) talks to the platform; these record what came back, each
in the worker's transaction, and publish the message's new status.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.inbox.actions.events import publish_message
from app.models import DeliveryJob, DeliveryStatus, JobStatus, Message
from app.realtime.events import EventType
from channels.base import DeliveryError, SendResult


async def _job_and_message(session: AsyncSession, job_id: int) -> tuple[DeliveryJob, Message]:
    job = await session.get(DeliveryJob, job_id)
    assert job is not None
    message = await session.get(Message, job.message_id)
    assert message is not None
    return job, message


async def record_delivery_sent(
    session: AsyncSession, job_id: int, result: SendResult, now: datetime
) -> None:
    """The platform accepted the message: the job is done, the message `sent`, with the
    platform's id unless another message of the channel already holds it (an echo)."""
    job, message = await _job_and_message(session, job_id)
    job.status = JobStatus.DONE
    job.locked_until = None
    job.last_error = None
    job.updated_at = now
    message.delivery_status = DeliveryStatus.SENT
    message.error = None
    if result.external_id:
        taken = await session.scalar(
            select(Message.id).where(
                Message.channel_id == message.channel_id,
                Message.external_id == result.external_id,
            )
        )
        if taken is None:
            message.external_id = result.external_id
    publish_message(session, message, EventType.MESSAGE_UPDATED)


async def record_delivery_failure(
    session: AsyncSession,
    job_id: int,
    exc: DeliveryError,
    attempts: int,
    now: datetime,
    *,
    retry_in: timedelta | None,
) -> str:
    """A send failed: retry after `retry_in`, or (None) fail the message with the
    platform's reason. Returns the outcome for the metrics: retried, failed or uncertain."""
    job, message = await _job_and_message(session, job_id)
    job.last_error = exc.reason
    job.locked_until = None
    job.updated_at = now
    if retry_in is not None:
        job.status = JobStatus.PENDING
        job.next_attempt_at = now + retry_in
        message.error = f"重试中 / retrying ({attempts}): {exc.reason}"
        outcome = "retried"
    else:
        job.status = JobStatus.FAILED
        # uncertain: it may have landed and the platform has no idempotency key, so it is
        # not sent again on its own; the agent decides (retry).
        message.delivery_status = (
            DeliveryStatus.UNCERTAIN if exc.uncertain else DeliveryStatus.FAILED
        )
        message.error = exc.reason
        outcome = "uncertain" if exc.uncertain else "failed"
    publish_message(session, message, EventType.MESSAGE_UPDATED)
    return outcome
