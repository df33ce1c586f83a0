"""Calls to the WeCom API (qyapi): the kf access token, JSON calls, media downloads.

The token comes from `gettoken` with the 「微信客服」 secret (channels.md §3), is cached
in the channel state, refreshed before it expires, and refreshed once more when a call
answers 40014/42001. A refresh runs under the channel's cross-process lock, so two
workers never fetch two tokens at once. Everything goes through `ctx.http` and
`ctx.api_base` (HUILIU_WECOM_API_BASE), so tests and the demo point it at the fake.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from typing import Any, TypeVar

import httpx

from channels.base import ChannelContext, DeliveryError, MediaFile, state_lock
from channels.wecom import errors
from channels.wecom.config import WeComConfig

STATE_KEY = "wecom_access_token"
LOCK_NAME = "wecom-token"
# Refresh 5 minutes before the 7200 s lifetime ends (§2.1's margin; same token family).
REFRESH_MARGIN = timedelta(seconds=300)
# The largest kf media is a 20 MB file [U]; the cap bounds memory per download.
MAX_MEDIA_BYTES = 20 * 1024 * 1024

T = TypeVar("T")


class TokenRejected(Exception):
    def __init__(self, errcode: int, errmsg: str) -> None:
        super().__init__(errcode, errmsg)
        self.errcode, self.errmsg = errcode, errmsg


def url(ctx: ChannelContext, path: str) -> str:
    return f"{ctx.api_base.rstrip('/')}{path}"


def _answer(response: httpx.Response, *, side_effect: bool) -> dict[str, Any]:
    try:
        data = json.loads(response.content)
    except (json.JSONDecodeError, UnicodeDecodeError):
        data = None
    if response.status_code >= 400 and not (isinstance(data, dict) and data.get("errcode")):
        raise errors.status_error(response.status_code)
    if not isinstance(data, dict):
        raise DeliveryError(
            f"bad_response: 企业微信应答无法解析 / unreadable WeCom answer "
            f"(HTTP {response.status_code})",
            uncertain=side_effect,
        )
    return data


def check_answer(response: httpx.Response) -> dict[str, Any]:
    """The JSON object of an answer with errcode 0; TokenRejected or DeliveryError."""
    data = _answer(response, side_effect=False)
    _check(data)
    return data


def _check(data: dict[str, Any], *, token_rejectable: bool = True) -> None:
    errcode = data.get("errcode", 0)
    if not isinstance(errcode, int) or errcode == 0:
        return
    errmsg = str(data.get("errmsg", ""))
    if token_rejectable and errcode in errors.TOKEN_ERRCODES:
        raise TokenRejected(errcode, errmsg)
    raise errors.errcode_error(errcode, errmsg)


def _cached(state: dict[str, Any], config: WeComConfig, now: datetime) -> str | None:
    entry = state.get(STATE_KEY)
    if not isinstance(entry, dict) or entry.get("corp_id") != config.corp_id:
        return None
    try:
        refresh_at = datetime.fromisoformat(str(entry.get("refresh_at")))
    except ValueError:
        return None
    token = entry.get("token")
    return token if isinstance(token, str) and now < refresh_at else None


async def access_token(
    ctx: ChannelContext, config: WeComConfig, *, rejected: str | None = None
) -> str:
    """A valid token: the cached one, or a new one from gettoken saved to the state."""
    cached = _cached(await ctx.state.load(), config, ctx.now())
    if cached is not None and cached != rejected:
        return cached
    async with state_lock(ctx.state, LOCK_NAME):
        # Whoever held the lock before us may have refreshed already: reuse its token.
        cached = _cached(await ctx.state.load(), config, ctx.now())
        if cached is not None and cached != rejected:
            return cached
        now = ctx.now()
        params = {"corpid": config.corp_id, "corpsecret": config.secret.get_secret_value()}
        try:
            response = await ctx.http.get(url(ctx, "/cgi-bin/gettoken"), params=params)
        except httpx.TransportError as exc:
            raise errors.transport_error(exc, request_may_have_landed=False) from exc
        data = _answer(response, side_effect=False)
        _check(data, token_rejectable=False)
        token, expires_in = data.get("access_token"), data.get("expires_in")
        if not isinstance(token, str) or not token or not isinstance(expires_in, int):
            raise DeliveryError("bad_response: 企业微信未返回 access_token / no access_token")
        margin = min(REFRESH_MARGIN, timedelta(seconds=expires_in / 2))
        state = await ctx.state.load()
        state[STATE_KEY] = {
            "token": token,
            "corp_id": config.corp_id,
            "refresh_at": (now + timedelta(seconds=expires_in) - margin).isoformat(),
        }
        await ctx.state.save(state)
        return token


async def with_token(
    ctx: ChannelContext, config: WeComConfig, call: Callable[[str], Awaitable[T]]
) -> T:
    """Run `call(token)`; on 40014/42001 refresh once and retry once."""
    token = await access_token(ctx, config)
    try:
        return await call(token)
    except TokenRejected:
        token = await access_token(ctx, config, rejected=token)
    try:
        return await call(token)
    except TokenRejected as exc:
        raise errors.errcode_error(exc.errcode, exc.errmsg) from exc


async def post_json(
    ctx: ChannelContext, config: WeComConfig, path: str, body: dict[str, Any]
) -> dict[str, Any]:
    """POST a JSON body with the token; the answer once its errcode is 0."""
    content = json.dumps(body, ensure_ascii=False).encode("utf-8")

    async def call(token: str) -> dict[str, Any]:
        try:
            response = await ctx.http.post(
                url(ctx, path),
                params={"access_token": token},
                content=content,
                headers={"Content-Type": "application/json; charset=utf-8"},
            )
        except httpx.TransportError as exc:
            # Every call here is safe to repeat: sync_msg reads, and send_msg carries our
            # msgid, the platform's idempotency key (§3 "Send").
            raise errors.transport_error(exc, request_may_have_landed=False) from exc
        return check_answer(response)

    return await with_token(ctx, config, call)


async def get_media(ctx: ChannelContext, config: WeComConfig, media_id: str) -> MediaFile:
    """Download one media_id with GET /cgi-bin/media/get (errors come as JSON)."""

    async def call(token: str) -> MediaFile:
        params = {"access_token": token, "media_id": media_id}
        try:
            async with ctx.http.stream(
                "GET", url(ctx, "/cgi-bin/media/get"), params=params
            ) as response:
                declared = response.headers.get("content-length", "")
                if declared.isdigit() and int(declared) > MAX_MEDIA_BYTES:
                    raise DeliveryError("too_large: 文件过大 / media over the size cap")
                chunks, size = [], 0
                async for chunk in response.aiter_bytes():
                    size += len(chunk)
                    if size > MAX_MEDIA_BYTES:
                        raise DeliveryError("too_large: 文件过大 / media over the size cap")
                    chunks.append(chunk)
        except httpx.TransportError as exc:
            raise errors.transport_error(exc, request_may_have_landed=False) from exc
        content = b"".join(chunks)
        mime = response.headers.get("content-type", "").split(";")[0].strip().lower()
        if mime in ("application/json", "text/plain") or response.is_error:
            check_answer(httpx.Response(response.status_code, content=content))
            raise DeliveryError("bad_response: 企业微信未返回媒体文件 / no media in the answer")
        return MediaFile(content, mime or "application/octet-stream", _file_name(response))

    return await with_token(ctx, config, call)


def _file_name(response: httpx.Response) -> str | None:
    disposition = response.headers.get("content-disposition", "")
    marker = 'filename="'
    if marker in disposition:
        name = disposition.split(marker, 1)[1].split('"', 1)[0]
        return name.replace("/", "_").replace("\\", "_")[:200] or None
    return None
