"""The connector bridge: a channel row to its connector and ChannelContext (token state, locks)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
from sqlalchemy import text

from app.config import Settings
from app.db import Database
from app.errors import BadRequest
from app.models import Channel
from channels import registry
from channels.base import ChannelContext, Connector, utcnow

# One lock per (channel, purpose) in this process; the database lock below extends it
# to every process sharing the database.
_PROCESS_LOCKS: dict[str, asyncio.Lock] = {}


class DbChannelState:
    """Connector state (cached tokens) kept in `channels.state`, each save in its own commit."""

    def __init__(self, db: Database, channel_id: int) -> None:
        self.db = db
        self.channel_id = channel_id

    @asynccontextmanager
    async def lock(self, name: str) -> AsyncIterator[None]:
        """Serialize e.g. a token refresh across tasks and processes (issue: scale-out).

        PostgreSQL: a session advisory lock on a dedicated connection. SQLite serves one
        process (its writers are serialized anyway), so the in-process lock suffices.
        """
        key = f"huiliu:channel:{self.channel_id}:{name}"
        local = _PROCESS_LOCKS.setdefault(key, asyncio.Lock())
        async with local:
            if self.db.is_postgres:
                async with self.db.engine.connect() as conn:
                    params = {"k": key}
                    await conn.execute(
                        text("SELECT pg_advisory_lock(hashtextextended(:k, 0))"), params
                    )
                    await conn.commit()
                    try:
                        yield
                    finally:
                        await conn.execute(
                            text("SELECT pg_advisory_unlock(hashtextextended(:k, 0))"), params
                        )
                        await conn.commit()
            else:
                yield

    async def load(self) -> dict[str, Any]:
        async with self.db.sessions() as session:
            channel = await session.get(Channel, self.channel_id)
            return dict(channel.state or {}) if channel else {}

    async def save(self, state: dict[str, Any]) -> None:
        async with self.db.session() as session:
            channel = await session.get(Channel, self.channel_id)
            if channel is not None:
                channel.state = dict(state)


def connector_for(channel_type: str) -> Connector:
    connector = registry.get(channel_type)
    if connector is None:
        raise BadRequest(f"unknown channel type {channel_type!r}")
    return connector


def api_base_for(settings: Settings, channel_type: str) -> str:
    """HUILIU_<TYPE>_API_BASE when set, else the connector's own default."""
    return settings.api_base(channel_type, connector_for(channel_type).default_api_base)


def channel_context(
    db: Database, http: httpx.AsyncClient, settings: Settings, channel: Channel, now: Any = utcnow
) -> ChannelContext:
    connector = connector_for(channel.type)
    return ChannelContext(
        channel_id=channel.id,
        config=connector.config_model.model_validate(channel.config),
        http=http,
        api_base=api_base_for(settings, channel.type),
        state=DbChannelState(db, channel.id),
        now=now,
    )
