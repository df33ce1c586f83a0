"""The worker that keeps retention scores current: changed customers every minute,
everyone once a day (a day passing moves silence and windows), and at start unless a pass
already rescored everyone today; and the
churn report's days (`churn_days`) of the changed customers every minute."""

from __future__ import annotations

import asyncio
import logging
from datetime import date, datetime, timedelta

from sqlalchemy import func, or_, select, union

from app.db import Database
from app.models import Contact, Conversation, Order, RetentionScore, utcnow_for_models
from app.retention.actions import refresh_scores
from app.retention.churn_days import refresh as refresh_churn_days
from app.retention.periods import local_date, local_midnight
from app.workers import PollingWorker

log = logging.getLogger(__name__)

# Between the batches of a full pass the worker commits and rests a quarter of the time
# the batch took (at most MAX_REST_SECONDS), so the pass works at most four fifths of its
# wall time. What keeps webhooks served is the commit, not the length of the rest: on
# SQLite the server holds one pooled connection, and the requests that queued for it
# during the batch are handed it before the pass's next batch asks again (they wait about
# one batch); on PostgreSQL they never wait for the pass's connection, and the rest gives
# the event loop and the cores back. Measured (tests/bench/recompute_latency.py, 100,000
# customers): a push's p95 during the pass 124 ms on SQLite and 66 ms on PostgreSQL with
# this rest, 140 and 59 ms with a rest as long as the batch, which made the pass 1.6-1.7
# times as long; with no rest at all SQLite's p95 was twice this one's.
REST_SHARE = 0.25
MAX_REST_SECONDS = 2.0
REFRESH_SECONDS = 60.0  # a reply or a message shows in the score within a minute
# The worker's passes after its first read the changes stamped since the previous pass
# began, less this: a transaction that commits up to half a minute after it stamped its rows
# is still seen (its customer may be rescored twice; cheap).
OVERLAP_SECONDS = 30.0


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


def changed_since(since: datetime):  # type: ignore[no-untyped-def]
    """Customers whose record, conversations or orders were stamped after `since`: one
    column of three tables, not the joins of `changed_contacts` against every score
    row (at 100,000 customers a fifth of its time). What a stored message costs
    retention, once per pass."""
    return union(
        select(Contact.id).where(Contact.updated_at > since, Contact.merged_into_id.is_(None)),
        select(Conversation.contact_id).where(Conversation.updated_at > since),
        select(Order.contact_id).where(Order.updated_at > since),
    )


async def refresh_once(
    db: Database, now: datetime | None = None, full: bool = False, since: datetime | None = None
) -> int:
    """A full pass, or the changed customers: those changed since `since` when given (the
    worker's later passes), else those whose score row is missing or older than a change."""
    now = now or utcnow_for_models()
    async with db.session() as session:
        if full:
            loop = asyncio.get_running_loop()
            started = loop.time()

            async def between_batches() -> None:
                # One transaction per batch, then a rest (REST_SHARE): a full pass at
                # start or at midnight over 100,000 customers must not hold SQLite's
                # writer or the event loop from webhooks and agents for its whole length.
                nonlocal started
                await db.commit(session)
                await asyncio.sleep(min((loop.time() - started) * REST_SHARE, MAX_REST_SECONDS))
                started = loop.time()

            return await refresh_scores(session, now, after_batch=between_batches)
        # The churn report's days follow the changed customers here, so the refresh a
        # report makes first has at most a minute of changes left to do.
        await refresh_churn_days(session)
        changed = changed_contacts(now) if since is None else changed_since(since)
        ids = sorted({i for i in await session.scalars(changed) if i is not None})
        if not ids:
            return 0
        return await refresh_scores(session, now, ids)


async def scored_today(db: Database, now: datetime) -> bool:
    """Whether every (unmerged) customer's score row was computed since today's local
    midnight: a full pass ran today (a customer without a row is a change, rescored by
    the next pass of changes)."""
    async with db.session() as session:
        oldest = await session.scalar(
            select(func.min(RetentionScore.computed_at))
            .join(Contact, Contact.id == RetentionScore.contact_id)
            .where(Contact.merged_into_id.is_(None))
        )
    return oldest is not None and oldest >= local_midnight(local_date(now))


class RetentionWorker(PollingWorker):
    name = "retention"

    def __init__(self, db: Database, interval: float = REFRESH_SECONDS) -> None:
        super().__init__()
        self.db = db
        self._interval = interval
        self._full_on: date | None = None
        self._last: datetime | None = None  # when the last pass that succeeded began

    def interval(self) -> float:
        return self._interval

    async def run_once(self) -> int:
        now = utcnow_for_models()
        today = local_date(now)
        if self._full_on is None and await scored_today(self.db, now):
            # A process started again the same day: another process's pass today rescored
            # everyone, so only the changes are left (a full pass at 100,000 customers
            # takes 18-32 s, during which every request waits about one of its batches).
            self._full_on = today
        full = self._full_on != today
        since = None if self._last is None else self._last - timedelta(seconds=OVERLAP_SECONDS)
        n = await refresh_once(self.db, now, full=full, since=since)
        self._last = now
        if full:
            self._full_on = today
            log.info("retention: %d customers rescored", n)
        return n
