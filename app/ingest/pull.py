"""The pull step: channels whose platform notifies, then has its messages fetched.

The webhook answers the notice at once (`WebhookResult.pull`); before that answer,
`request_pull` counts the notice on the channel's cursor row, so a pull owed is never
forgotten. After the answer, `Puller.pull` fetches page after page with the stored
cursor, under the channel's cross-process lock `pull:<key>` (the one a token refresh
uses, `DbChannelState.lock`), storing each page's messages and its `next_cursor` in
ONE transaction: a crash between pages resumes at the page after the last stored one,
and two notices at once never pull the same page twice (the second waits, then starts
where the first stopped, or finds its notice already covered and does nothing).

A platform error leaves the cursor where it was and the notice owed; the next notice
or the `PullWorker`'s periodic pass retries it.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import timedelta

import httpx
from sqlalchemy import select
from sqlalchemy.dialects import postgresql, sqlite

from app.config import Settings
from app.connectors import DbChannelState, channel_context, connector_for
from app.db import Database
from app.inbox.actions.inbound import record_inbound_batch
from app.ingest.actions import apply_delivery_reports, record_platform_notices
from app.models import Channel, PullCursor
from app.workers import PollingWorker
from channels.base import DeliveryError, PullRequest, utcnow

log = logging.getLogger(__name__)

# A pull that keeps saying has_more stops after this many pages; the rest is owed.
MAX_PAGES = 1000
RETRY_SECONDS = 60.0
# A cursor no notice moved for this long is pulled anyway (`Puller.catch_up`): far inside
# the 3 days WeCom keeps messages readable (channels.md §3), rare enough to cost nothing.
CATCH_UP_IDLE = timedelta(minutes=30)
ERROR_MAX = 500


async def request_pull(db: Database, channel_id: int, request: PullRequest) -> int:
    """Count one notice (committed before the platform is answered); its number."""
    insert = postgresql.insert if db.is_postgres else sqlite.insert
    now = utcnow()
    stmt = insert(PullCursor).values(
        channel_id=channel_id, key=request.key, requested=1, pulled=0, updated_at=now
    )
    upsert = stmt.on_conflict_do_update(
        index_elements=[PullCursor.channel_id, PullCursor.key],
        set_={"requested": PullCursor.requested + 1, "updated_at": now},
    ).returning(PullCursor.requested)
    async with db.session() as session:
        return int((await session.execute(upsert)).scalar_one())


class Puller:
    """Runs pulls for one app: its database, HTTP client and settings."""

    def __init__(
        self,
        db: Database,
        http: httpx.AsyncClient,
        settings: Settings,
        *,
        on_media: Callable[[], None] = lambda: None,
    ) -> None:
        self.db, self.http, self.settings = db, http, settings
        self.on_media = on_media

    async def pull(self, channel_id: int, request: PullRequest, number: int | None = None) -> int:
        """Pull until the platform has no more; the number of messages stored.

        `number`: the notice this pull answers (from `request_pull`); when a pull that
        started after it already finished, there is nothing left to do. Never raises
        for a platform error: it is recorded on the cursor row and retried later.
        """
        async with self.db.sessions() as session:
            channel = await session.get(Channel, channel_id)
        if channel is None or channel.archived:
            return 0
        connector = connector_for(channel.type)
        if not connector.capabilities.pull:
            return 0
        ctx = channel_context(self.db, self.http, self.settings, channel)
        reply_window = connector.reply_window_for(ctx.config)
        state = DbChannelState(self.db, channel_id)
        stored = 0
        async with state.lock(f"pull:{request.key}"):
            async with self.db.sessions() as session:
                row = await session.get(PullCursor, (channel_id, request.key))
                if row is None:
                    return 0
                covers = row.requested  # every notice counted so far is answered by this pull
                if number is not None and row.pulled >= number:
                    return 0
                cursor = row.cursor
            for _ in range(MAX_PAGES):
                try:
                    page = await connector.pull(ctx, request, cursor)
                except DeliveryError as exc:
                    log.warning("pull failed on channel %s: %s", channel_id, exc.reason)
                    await self._record_error(channel_id, request.key, exc.reason)
                    return stored
                except Exception as exc:  # a connector bug: kept owed, retried, visible
                    log.exception("pull crashed on channel %s", channel_id)
                    await self._record_error(
                        channel_id, request.key, f"unexpected: {type(exc).__name__}: {exc}"
                    )
                    return stored
                async with self.db.session() as session:
                    messages = await record_inbound_batch(
                        session, channel, page.messages, reply_window=reply_window
                    )
                    await apply_delivery_reports(session, channel, page.reports)
                    await record_platform_notices(session, channel, page.notices)
                    row = await session.get(PullCursor, (channel_id, request.key))
                    assert row is not None  # rows are never deleted
                    if page.next_cursor:
                        row.cursor = cursor = page.next_cursor
                    row.error = None
                    row.updated_at = utcnow()
                    if not page.has_more:
                        row.pulled = max(row.pulled, covers)
                stored += sum(m is not None for m in messages)
                if any(m is not None and m.media_pending for m in messages):
                    self.on_media()
                if not page.has_more:
                    return stored
            log.warning("pull on channel %s stopped after %s pages", channel_id, MAX_PAGES)
        return stored

    async def _record_error(self, channel_id: int, key: str, reason: str) -> None:
        async with self.db.session() as session:
            row = await session.get(PullCursor, (channel_id, key))
            if row is not None:
                row.error = reason[:ERROR_MAX]
                row.updated_at = utcnow()

    async def owed(self) -> list[tuple[int, str]]:
        """(channel, key) of every cursor with a notice no completed pull covered."""
        async with self.db.sessions() as session:
            rows = await session.execute(
                select(PullCursor.channel_id, PullCursor.key)
                .join(Channel, Channel.id == PullCursor.channel_id)
                .where(PullCursor.requested > PullCursor.pulled, Channel.archived.is_(False))
                .order_by(PullCursor.updated_at)
            )
            return [(channel_id, key) for channel_id, key in rows]

    async def run_owed(self) -> int:
        """Retry every owed pull once (without a notice token); messages stored."""
        stored = 0
        for channel_id, key in await self.owed():
            stored += await self.pull(channel_id, PullRequest(key=key))
        return stored

    async def catch_up(self, idle: timedelta = CATCH_UP_IDLE) -> int:
        """Pull every cursor no pull touched for `idle`, owed or not; messages stored.

        A notice the platform never delivered (the server was down) owes nothing, yet its
        messages wait on the platform, readable for a limited time (WeCom: 3 days): this
        fetches them well within it, without a notice token."""
        since = utcnow() - idle
        async with self.db.sessions() as session:
            rows = await session.execute(
                select(PullCursor.channel_id, PullCursor.key)
                .join(Channel, Channel.id == PullCursor.channel_id)
                .where(PullCursor.updated_at < since, Channel.archived.is_(False))
                .order_by(PullCursor.updated_at)
            )
            idle_cursors = list(rows)
        stored = 0
        for channel_id, key in idle_cursors:
            stored += await self.pull(channel_id, PullRequest(key=key))
        return stored


class PullWorker(PollingWorker):
    """Retries owed pulls every `interval` seconds (platform errors, crashes), and once at
    start, so a pull owed when the server stopped is not left until the next notice."""

    name = "pull-worker"

    def __init__(self, puller: Puller, *, interval: float = RETRY_SECONDS) -> None:
        super().__init__()
        self.puller = puller
        self._interval = interval

    def interval(self) -> float:
        return self._interval

    async def run_once(self) -> int:
        return await self.puller.run_owed() + await self.puller.catch_up()
