"""The channel-state lock serializes a critical section across tasks and database sessions."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from app.connectors import DbChannelState
from app.db import Database


class _NoSharing(dict[str, asyncio.Lock]):
    """Every caller gets its own in-process lock: only the database lock is left."""

    def setdefault(self, key: str, default: Any = None) -> asyncio.Lock:
        return asyncio.Lock()


async def test_lock_serializes_across_two_database_handles(
    app: Any, factory: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    if app.state.services.db.is_postgres:  # prove the advisory lock itself, as between processes
        monkeypatch.setattr("app.connectors._PROCESS_LOCKS", _NoSharing())
    ch = await factory.channel()
    other = Database(app.state.services.settings.database_url)  # as if another process
    try:
        a = DbChannelState(app.state.services.db, ch["id"])
        b = DbChannelState(other, ch["id"])
        inside = 0
        peak = 0

        async def critical(state: DbChannelState) -> None:
            nonlocal inside, peak
            async with state.lock("token"):
                inside += 1
                peak = max(peak, inside)
                await asyncio.sleep(0.05)
                inside -= 1

        await asyncio.gather(*(critical(s) for s in (a, b, a, b)))
        assert peak == 1
    finally:
        await other.dispose()


async def test_locks_of_different_names_do_not_block_each_other(app: Any, factory: Any) -> None:
    ch = await factory.channel()
    state = DbChannelState(app.state.services.db, ch["id"])
    async with state.lock("token"):
        await asyncio.wait_for(_enter(state, "media"), 2)


async def _enter(state: DbChannelState, name: str) -> None:
    async with state.lock(name):
        pass
