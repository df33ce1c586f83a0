"""Handing an outbound message to the delivery worker: its job row, and a wake-up once
the caller's transaction commits (the worker also polls, so a lost wake-up only waits)."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from app.db import wake_delivery_on_commit
from app.models import DeliveryJob, Message


def queue_delivery(session: AsyncSession, message: Message, now: datetime) -> None:
    """Queue `message` (flushed, so it has an id) for sending, due at once."""
    session.add(
        DeliveryJob(
            message_id=message.id,
            conversation_id=message.conversation_id,
            channel_id=message.channel_id,
            # Stable across retries: a platform that honours it shows the reply once.
            idempotency_key=uuid.uuid4().hex,
            next_attempt_at=now,
        )
    )
    wake_delivery_on_commit(session)
