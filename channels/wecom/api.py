"""Calls to the WeCom API (qyapi): the kf access token, JSON calls, media downloads.

The token comes from `gettoken` with the 「微信客服」 secret (channels.md §3), is cached
in the channel state, refreshed before it expires, and refreshed once more when a call
answers 40014/42001, under the channel's cross-process lock: the family's token
handling (`channels.weixin.api`, shared with WeChat). Everything goes through
`ctx.http` and `ctx.api_base` (HUILIU_WECOM_API_BASE), so tests and the demo point it
at the fake.
"""

from __future__ import annotations

from typing import Any

import httpx

from channels.base import ChannelContext, DeliveryError, MediaFile
from channels.transport import read_capped
from channels.wecom import errors
from channels.wecom.config import WeComConfig
from channels.weixin import api as family
from channels.weixin.api import REFRESH_MARGIN, TokenRejected, url

__all__ = ["REFRESH_MARGIN", "TokenRejected", "url"]

STATE_KEY = "wecom_access_token"
LOCK_NAME = "wecom-token"
# gettoken has no "force a new token" switch.
TOKEN = family.TokenFamily(
    errors.PLATFORM, STATE_KEY, LOCK_NAME, account_field="corp_id", can_force=False
)
# The largest kf media is a 20 MB file [U]; the cap bounds memory per download.
MAX_MEDIA_BYTES = 20 * 1024 * 1024


def check_answer(response: httpx.Response) -> dict[str, Any]:
    """The JSON object of an answer with errcode 0; TokenRejected or DeliveryError."""
    data = family.parse_answer(errors.PLATFORM, response.status_code, response.content)
    family.check_errcode(errors.PLATFORM, data)
    return data


def tokens(ctx: ChannelContext, config: WeComConfig) -> family.TokenSource:
    """The kf access token of this channel's corp, and calls made with it."""

    async def gettoken(force: bool) -> httpx.Response:
        params = {"corpid": config.corp_id, "corpsecret": config.secret.get_secret_value()}
        return await ctx.http.get(url(ctx, "/cgi-bin/gettoken"), params=params)

    return family.TokenSource(ctx, TOKEN, config.corp_id, gettoken)


async def post_json(
    ctx: ChannelContext, config: WeComConfig, path: str, body: dict[str, Any]
) -> dict[str, Any]:
    """POST a JSON body with the token; the answer once its errcode is 0.

    Every call here is safe to repeat: sync_msg reads, and send_msg carries our msgid,
    the platform's idempotency key (§3 "Send"); so a lost answer is retryable.
    """
    return await tokens(ctx, config).post_json(path, body, side_effect=False)


def _too_large() -> DeliveryError:
    return DeliveryError("too_large: 文件过大 / media over the size cap")


async def get_media(ctx: ChannelContext, config: WeComConfig, media_id: str) -> MediaFile:
    """Download one media_id with GET /cgi-bin/media/get (errors come as JSON)."""

    async def call(token: str) -> MediaFile:
        params = {"access_token": token, "media_id": media_id}
        try:
            async with ctx.http.stream(
                "GET", url(ctx, "/cgi-bin/media/get"), params=params
            ) as response:
                content = await read_capped(response, MAX_MEDIA_BYTES, _too_large)
        except httpx.TransportError as exc:
            raise errors.PLATFORM.transport_error(exc, request_may_have_landed=False) from exc
        mime = response.headers.get("content-type", "").split(";")[0].strip().lower()
        if mime in ("application/json", "text/plain") or response.is_error:
            check_answer(httpx.Response(response.status_code, content=content))
            raise DeliveryError("bad_response: 企业微信未返回媒体文件 / no media in the answer")
        return MediaFile(content, mime or "application/octet-stream", _file_name(response))

    return await tokens(ctx, config).with_token(call)


def _file_name(response: httpx.Response) -> str | None:
    disposition = response.headers.get("content-disposition", "")
    marker = 'filename="'
    if marker in disposition:
        name = disposition.split(marker, 1)[1].split('"', 1)[0]
        return name.replace("/", "_").replace("\\", "_")[:200] or None
    return None
