"""The assignment heartbeat, one task per server process (started in the app lifespan).

Every `assignment_sweep_seconds`:
1. presence: refresh `agent_presence.last_seen_at` for every user with a live agent
   websocket on this process (the hub's subscribers), so all processes agree on who
   is online without Redis; an agent counts as online for three beats;
2. close the sockets of users deactivated elsewhere (the CLI, another process): a
   socket is authenticated once, at connect, so this bounds how long one outlives
   its user to one beat;
3. the re-queue sweep (app/inbox/actions/assignment.py `requeue_stale`). The offline rule
   waits until this process has run for `assignment_offline_seconds`: after a restart
   presence rows are stale until the agents' pages have reconnected.
"""

from __future__ import annotations

import logging
import time

from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from app.config import Settings
from app.db import Database
from app.inbox.actions.assignment import online_user_ids, requeue_stale
from app.models import AgentPresence, User, utcnow_for_models
from app.realtime.hub import EventHub
from app.workers import PollingWorker

log = logging.getLogger(__name__)


class AssignmentWorker(PollingWorker):
    name = "assignment-heartbeat"

    def __init__(self, db: Database, hub: EventHub, settings: Settings) -> None:
        super().__init__()
        self.db = db
        self.hub = hub
        self.settings = settings
        self.started = time.monotonic()
        # Agents seen on any process within the online TTL, as of the last beat.
        self.online_anywhere: set[int] = set()

    def start(self) -> None:
        self.started = time.monotonic()
        super().start()

    def interval(self) -> float:
        return self.settings.assignment_sweep_seconds

    def connected_user_ids(self) -> set[int]:
        return {sub.user_id for sub in list(self.hub.subscribers) if sub.user_id is not None}

    async def beat(self) -> set[int]:
        """Refresh presence for this process's connected users; returns their ids."""
        ids = self.connected_user_ids()
        if not ids:
            return ids
        now = utcnow_for_models()
        async with self.db.session() as session:
            inactive = set(
                await session.scalars(
                    select(User.id).where(User.id.in_(sorted(ids)), User.active.is_(False))
                )
            )
            for user_id in inactive:
                self.hub.disconnect_user(user_id)
            ids -= inactive
            if ids:
                insert = pg_insert if self.db.is_postgres else sqlite_insert
                stmt = insert(AgentPresence).values(
                    [{"user_id": i, "last_seen_at": now} for i in sorted(ids)]
                )
                await session.execute(
                    stmt.on_conflict_do_update(
                        index_elements=["user_id"],
                        set_={"last_seen_at": stmt.excluded.last_seen_at},
                    )
                )
        return ids

    async def sweep(self) -> list[int]:
        settled = time.monotonic() - self.started >= self.settings.assignment_offline_seconds
        async with self.db.session() as session:
            moved = await requeue_stale(session, check_offline=settled)
        if moved:
            log.info("returned %d conversations to the queue", len(moved))
        return moved

    async def run_once(self) -> int:
        """One beat: presence, who is online anywhere, the re-queue sweep; conversations moved."""
        await self.beat()
        async with self.db.sessions() as session:
            self.online_anywhere = await online_user_ids(session)
        return len(await self.sweep())
