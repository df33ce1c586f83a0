"""The worker that keeps retention scores current: changed customers every minute,
everyone once a day (a day passing moves silence and windows), and at start; and the
churn report's days (`churn_days`) of the changed customers every minute."""

from __future__ import annotations

import asyncio
import logging
from datetime import date, datetime

from sqlalchemy import or_, select, union

from app.db import Database
from app.models import Contact, Conversation, Order, RetentionScore, utcnow_for_models
from app.retention.actions import refresh_scores
from app.retention.churn_days import refresh as refresh_churn_days
from app.retention.periods import local_date
from app.workers import PollingWorker

log = logging.getLogger(__name__)

MAX_REST_SECONDS = 2.0  # between the batches of a full pass (as long as the batch, at most this)
REFRESH_SECONDS = 60.0  # a reply or a message shows in the score within a minute


def changed_contacts(now: datetime):  # type: ignore[no-untyped-def]
    """Customers whose row is missing or older than their latest change."""
    r = RetentionScore
    missing_or_edited = (
        select(Contact.id)
        .outerjoin(r, r.contact_id == Contact.id)
        .where(Contact.merged_into_id.is_(None))
        .where(or_(r.contact_id.is_(None), Contact.updated_at > r.computed_at))
    )
    talked = (
        select(Conversation.contact_id)
        .join(r, r.contact_id == Conversation.contact_id)
        .where(Conversation.updated_at > r.computed_at)
    )
    bought = (
        select(Order.contact_id)
        .join(r, r.contact_id == Order.contact_id)
        .where(Order.updated_at > r.computed_at)
    )
    return union(missing_or_edited, talked, bought)


async def refresh_once(db: Database, now: datetime | None = None, full: bool = False) -> int:
    now = now or utcnow_for_models()
    async with db.session() as session:
        if full:
            loop = asyncio.get_running_loop()
            started = loop.time()

            async def between_batches() -> None:
                # One transaction per batch, and as long a rest as the batch took: a
                # full pass at start or at midnight over 100,000 customers must not hold
                # SQLite's writer or the event loop from webhooks and agents for minutes.
                nonlocal started
                await db.commit(session)
                await asyncio.sleep(min(loop.time() - started, MAX_REST_SECONDS))
                started = loop.time()

            return await refresh_scores(session, now, after_batch=between_batches)
        # The churn report's days follow the changed customers here, so the refresh a
        # report makes first has at most a minute of changes left to do.
        await refresh_churn_days(session)
        ids = sorted({i for i in await session.scalars(changed_contacts(now)) if i is not None})
        if not ids:
            return 0
        return await refresh_scores(session, now, ids)


class RetentionWorker(PollingWorker):
    name = "retention"

    def __init__(self, db: Database, interval: float = REFRESH_SECONDS) -> None:
        super().__init__()
        self.db = db
        self._interval = interval
        self._full_on: date | None = None

    def interval(self) -> float:
        return self._interval

    async def run_once(self) -> int:
        now = utcnow_for_models()
        today = local_date(now)
        full = self._full_on != today
        n = await refresh_once(self.db, now, full=full)
        if full:
            self._full_on = today
            log.info("retention: %d customers rescored", n)
        return n
