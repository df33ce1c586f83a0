"""Building a connector's ChannelContext from a channel row."""

from __future__ import annotations

from typing import Any

import httpx

from app.config import Settings
from app.db import Database
from app.errors import BadRequest
from app.models import Channel
from channels import registry
from channels.base import ChannelContext, Connector, utcnow


class DbChannelState:
    """Connector state (cached tokens) kept in `channels.state`, each save in its own commit."""

    def __init__(self, db: Database, channel_id: int) -> None:
        self.db = db
        self.channel_id = channel_id

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
    return str(getattr(settings, f"{channel_type}_api_base", "") or "")


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
