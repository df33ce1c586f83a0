"""Channels as the admin manages them: create (with the connector's typed config), describe."""

from __future__ import annotations

import typing
from typing import Any

from pydantic import BaseModel, ValidationError
from sqlalchemy.ext.asyncio import AsyncSession

from app.audit import record_audit
from app.config import Settings
from app.connectors import connector_for
from app.errors import BadRequest
from app.models import Channel, User
from channels.base import dump_config


def _is_list_field(model: type[BaseModel], name: str) -> bool:
    annotation = model.model_fields[name].annotation
    origin = typing.get_origin(annotation)
    if origin is list:
        return True
    return any(typing.get_origin(arg) is list for arg in typing.get_args(annotation))


def validate_config(channel_type: str, raw: dict[str, Any]) -> BaseModel:
    """The connector's typed config from loose options; one readable line on error."""
    model = connector_for(channel_type).config_model
    values: dict[str, Any] = {}
    for name, value in raw.items():
        if name not in model.model_fields:
            raise BadRequest(f"unknown option --{name.replace('_', '-')} for {channel_type}")
        if _is_list_field(model, name) and not isinstance(value, list):
            value = [value]
        values[name] = value
    try:
        return model.model_validate(values)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first.get("loc", ())) or "config"
        raise BadRequest(f"--{where.replace('_', '-')}: {first.get('msg')}") from exc


async def create_channel(
    session: AsyncSession,
    channel_type: str,
    name: str,
    raw_config: dict[str, Any],
    actor: User | None = None,
) -> Channel:
    name = name.strip()
    if not name:
        raise BadRequest("--name must not be empty")
    config = validate_config(channel_type, raw_config)
    channel = Channel(type=channel_type, name=name, config=dump_config(config), state={})
    session.add(channel)
    await session.flush()
    record_audit(session, actor, "channel.created", "channel", channel.id, {"type": channel_type})
    return channel


def describe_channel(channel: Channel, settings: Settings) -> dict[str, Any]:
    connector = connector_for(channel.type)
    config = connector.config_model.model_validate(channel.config)
    public = settings.public_url.rstrip("/")
    out: dict[str, Any] = {
        "id": channel.id,
        "type": channel.type,
        "name": channel.name,
        "archived": channel.archived,
        "webhook_url": f"{public}/webhooks/{channel.type}/{channel.id}",
    }
    out.update(connector.describe(channel.id, config, public))
    return out
