"""Admins add channels and renew a Douyin grant from /admin (the CLI's `channel create`
as an API). Answers carry what the platform's console needs: the webhook URL, or the
widget's embed snippet. Every change is audited."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from pydantic import BaseModel, Field
from sqlalchemy.orm.attributes import flag_modified

from app.audit import record_audit
from app.deps import AdminDep, SessionDep
from app.errors import BadRequest, NotFound
from app.inbox.schemas import ChannelOut, channel_out
from app.models import Channel
from app.services import get_services
from app.workspace import create_channel, describe_channel, validate_config
from channels.base import STATE_REASON, STATE_REAUTHORIZATION_NEEDED, dump_config

router = APIRouter(prefix="/api/v1", tags=["admin"])

# The platforms an admin connects from the page (the test loopback is not one).
SETUP_TYPES = ("wechat", "wecom", "douyin", "webchat")


class ChannelIn(BaseModel):
    type: str
    name: str = Field(min_length=1, max_length=100)
    # The connector's options, as `huiliu channel create TYPE --option` takes them.
    config: dict[str, Any] = Field(default_factory=dict, max_length=20)


class ReauthorizeIn(BaseModel):
    access_token: str = Field(min_length=1, max_length=500)
    refresh_token: str = Field(min_length=1, max_length=500)
    open_id: str | None = Field(default=None, min_length=1, max_length=200)


@router.post("/channels", status_code=201)
async def add_channel(
    body: ChannelIn, request: Request, session: SessionDep, viewer: AdminDep
) -> dict[str, Any]:
    if body.type not in SETUP_TYPES:
        raise BadRequest(f"type must be one of {', '.join(SETUP_TYPES)}")
    config = {k: v for k, v in body.config.items() if v not in (None, "", [])}
    channel = await create_channel(session, body.type, body.name, config, actor=viewer.user)
    return describe_channel(channel, get_services(request).settings)


@router.post("/channels/{channel_id}/reauthorize")
async def reauthorize_channel(
    channel_id: int, body: ReauthorizeIn, session: SessionDep, viewer: AdminDep
) -> ChannelOut:
    """New OAuth tokens for a Douyin channel whose grant lapsed (需要重新授权). The
    connector sees a new grant and starts from it (channels/douyin/tokens.py)."""
    channel = await session.get(Channel, channel_id)
    if channel is None:
        raise NotFound("channel not found")
    if channel.type != "douyin":
        raise BadRequest("only a Douyin channel is re-authorized with tokens")
    raw = dict(channel.config)
    raw.update(access_token=body.access_token.strip(), refresh_token=body.refresh_token.strip())
    if body.open_id:
        raw["open_id"] = body.open_id.strip()
    channel.config = dump_config(validate_config("douyin", raw))
    state = dict(channel.state or {})
    state.pop(STATE_REAUTHORIZATION_NEEDED, None)
    state.pop(STATE_REASON, None)
    channel.state = state
    flag_modified(channel, "config")
    flag_modified(channel, "state")
    record_audit(
        session, viewer.user, "channel.reauthorized", "channel", channel.id, {"name": channel.name}
    )
    return channel_out(channel)
