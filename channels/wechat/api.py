"""Calls to the WeChat API: the cached access token, and JSON calls that retry once
on a rejected token (`channels.md` §2.1).

The token handling is the family's (`channels.weixin.api`, shared with WeCom); WeChat
fetches its token from `stable_token`, as §2.1 recommends: a call does not invalidate
the token other workers hold (the classic /cgi-bin/token does), so a refresh racing
one in another process without a shared lock costs a call, not a failed send.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import httpx

from channels.base import ChannelContext
from channels.wechat import errors
from channels.wechat.config import WeChatConfig
from channels.weixin import api as family
from channels.weixin.api import REFRESH_MARGIN, TokenRejected, url

__all__ = ["REFRESH_MARGIN", "TokenRejected", "url"]

STATE_KEY = "wechat_access_token"
LOCK_NAME = "wechat-token"
TOKEN = family.TokenFamily(
    errors.PLATFORM, STATE_KEY, LOCK_NAME, account_field="app_id", can_force=True
)

T = TypeVar("T")


def decode_json(response: httpx.Response, *, side_effect: bool = False) -> dict[str, Any]:
    """The JSON object of a read WeChat answer; see `parse_answer`."""
    return parse_answer(response.status_code, response.content, side_effect=side_effect)


def parse_answer(status: int, content: bytes, *, side_effect: bool = False) -> dict[str, Any]:
    """The JSON object of a WeChat answer; HTTP errors and garbage become DeliveryError."""
    return family.parse_answer(errors.PLATFORM, status, content, side_effect=side_effect)


def check_errcode(data: dict[str, Any], *, token_rejectable: bool = True) -> None:
    """Raise for a non-zero errcode (TokenRejected for a token error when rejectable)."""
    family.check_errcode(errors.PLATFORM, data, token_rejectable=token_rejectable)


def refresh_lock(ctx: ChannelContext, config: WeChatConfig) -> asyncio.Lock:
    """The lock that lets one task at a time refresh this channel's token."""
    return family.refresh_lock(ctx, config.app_id)


def _source(ctx: ChannelContext, config: WeChatConfig) -> family.TokenSource:
    async def request(force: bool) -> httpx.Response:
        payload = {
            "grant_type": "client_credential",
            "appid": config.app_id,
            "secret": config.app_secret.get_secret_value(),
            "force_refresh": force,
        }
        return await ctx.http.post(url(ctx, "/cgi-bin/stable_token"), json=payload)

    return family.TokenSource(ctx, TOKEN, config.app_id, request)


async def access_token(
    ctx: ChannelContext, config: WeChatConfig, *, rejected: str | None = None
) -> str:
    """A valid access token: the cached one, or a fresh one saved to `ctx.state`."""
    return await _source(ctx, config).access_token(rejected=rejected)


async def post_json(
    ctx: ChannelContext,
    config: WeChatConfig,
    path: str,
    body: dict[str, Any],
    *,
    side_effect: bool,
) -> dict[str, Any]:
    """POST a JSON body with the access token; the answer once its errcode is 0."""
    return await _source(ctx, config).post_json(path, body, side_effect=side_effect)


async def with_token(
    ctx: ChannelContext, config: WeChatConfig, call: Callable[[str], Awaitable[T]]
) -> T:
    """Run `call(token)`; on a rejected token refresh once and retry once (§2.1)."""
    return await _source(ctx, config).with_token(call)
