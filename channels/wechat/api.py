"""Calls to the WeChat API: the cached access token, and JSON calls that retry once
on a rejected token (`channels.md` §2.1).

One refresh at a time per channel: however many sends find the token stale or
rejected, one fetches a new token and the others reuse it (issue 3 item 8).

Everything goes through `ctx.http` and `ctx.api_base`, so tests and the demo
point it at `sandbox.wechat.fake` without another code path.
"""

from __future__ import annotations

import asyncio
import json
import weakref
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from typing import Any, TypeVar

import httpx

from channels.base import ChannelContext, DeliveryError, state_lock
from channels.wechat import errors
from channels.wechat.config import WeChatConfig

# The key in the channel's state dict that holds the cached token.
STATE_KEY = "wechat_access_token"
# Refresh 5 minutes before expiry: the stable token is renewed that early and old and
# new tokens overlap for 5 minutes (§2.1 "expires_at = now + expires_in - 300").
REFRESH_MARGIN = timedelta(seconds=300)
# The name of the state's cross-process lock around a refresh (`channels.base.state_lock`).
LOCK_NAME = "wechat-token"

# Single-flight refresh within this process, per (channel, AppID). Per event loop too:
# an asyncio.Lock that has waited in one loop cannot be used from another.
_REFRESH_LOCKS: weakref.WeakKeyDictionary[
    asyncio.AbstractEventLoop, dict[tuple[int, str], asyncio.Lock]
] = weakref.WeakKeyDictionary()

T = TypeVar("T")


class TokenRejected(Exception):
    """The API answered 40001/40014/42001: the token we used is no good."""

    def __init__(self, errcode: int, errmsg: str) -> None:
        super().__init__(errcode, errmsg)
        self.errcode = errcode
        self.errmsg = errmsg


def url(ctx: ChannelContext, path: str) -> str:
    """An absolute API URL under the context's host."""
    return f"{ctx.api_base.rstrip('/')}{path}"


def decode_json(response: httpx.Response, *, side_effect: bool = False) -> dict[str, Any]:
    """The JSON object of a read WeChat answer; see `parse_answer`."""
    return parse_answer(response.status_code, response.content, side_effect=side_effect)


def parse_answer(status: int, content: bytes, *, side_effect: bool = False) -> dict[str, Any]:
    """The JSON object of a WeChat answer; HTTP errors and garbage become DeliveryError.

    `side_effect`: the call may have acted (a send), so a 2xx we cannot read is
    reported as uncertain rather than failed.
    """
    try:
        data = json.loads(content)
    except (json.JSONDecodeError, UnicodeDecodeError):
        data = None
    if status >= 400 and not (isinstance(data, dict) and data.get("errcode")):
        raise errors.status_error(status)
    if isinstance(data, dict):
        return data
    raise DeliveryError(
        f"bad_response: 微信接口应答无法解析 / unreadable WeChat answer (HTTP {status})",
        uncertain=side_effect,
    )


def check_errcode(data: dict[str, Any], *, token_rejectable: bool = True) -> None:
    """Raise for a non-zero errcode, which WeChat sends inside HTTP 200 answers.

    `token_rejectable`: a token error means "refresh and retry" (TokenRejected);
    off for the token endpoint itself, where no refresh can help.
    """
    errcode = data.get("errcode", 0)
    if not isinstance(errcode, int) or errcode == 0:
        return
    errmsg = str(data.get("errmsg", ""))
    if token_rejectable and errcode in errors.TOKEN_ERRCODES:
        raise TokenRejected(errcode, errmsg)
    raise errors.errcode_error(errcode, errmsg)


async def _fetch_token(
    ctx: ChannelContext, config: WeChatConfig, *, force: bool
) -> tuple[str, int]:
    # stable_token, as §2.1 recommends: a call does not invalidate the token other
    # workers hold (the classic /cgi-bin/token does), so a refresh racing one in another
    # process without a shared lock costs a call, not a failed send.
    payload = {
        "grant_type": "client_credential",
        "appid": config.app_id,
        "secret": config.app_secret.get_secret_value(),
        "force_refresh": force,
    }
    try:
        response = await ctx.http.post(url(ctx, "/cgi-bin/stable_token"), json=payload)
    except httpx.TransportError as exc:
        # Fetching a token has no side effect, so every network failure is retryable.
        raise errors.transport_error(exc, request_may_have_landed=False) from exc
    data = decode_json(response)
    check_errcode(data, token_rejectable=False)
    token, expires_in = data.get("access_token"), data.get("expires_in")
    if not isinstance(token, str) or not token or not isinstance(expires_in, int):
        raise DeliveryError("bad_response: 微信未返回 access_token / no access_token in the answer")
    return token, expires_in


def _cached(state: dict[str, Any], config: WeChatConfig, now: datetime) -> str | None:
    entry = state.get(STATE_KEY)
    if not isinstance(entry, dict) or entry.get("app_id") != config.app_id:
        return None  # none yet, or cached for an AppID the channel no longer uses
    try:
        refresh_at = datetime.fromisoformat(str(entry.get("refresh_at")))
    except ValueError:
        return None
    token = entry.get("token")
    return token if isinstance(token, str) and now < refresh_at else None


def refresh_lock(ctx: ChannelContext, config: WeChatConfig) -> asyncio.Lock:
    """The lock that lets one task at a time refresh this channel's token."""
    locks = _REFRESH_LOCKS.setdefault(asyncio.get_running_loop(), {})
    return locks.setdefault((ctx.channel_id, config.app_id), asyncio.Lock())


async def access_token(
    ctx: ChannelContext, config: WeChatConfig, *, rejected: str | None = None
) -> str:
    """A valid access token: the cached one, or a fresh one saved to `ctx.state`.

    `rejected` is a token the API just refused; it is never returned again.
    """
    cached = _cached(await ctx.state.load(), config, ctx.now())
    if cached is not None and cached != rejected:
        return cached
    # The process lock queues this process's waiters; the state's lock (when the
    # product's state has one) keeps other processes from refreshing at the same time.
    async with refresh_lock(ctx, config), state_lock(ctx.state, LOCK_NAME):
        # Whoever held the lock before us may have just refreshed: reuse its token.
        cached = _cached(await ctx.state.load(), config, ctx.now())
        if cached is not None and cached != rejected:
            return cached
        return await _refresh(ctx, config, rejected=rejected)


async def _refresh(ctx: ChannelContext, config: WeChatConfig, *, rejected: str | None) -> str:
    now = ctx.now()
    token, expires_in = await _fetch_token(ctx, config, force=False)
    if token == rejected:
        # Normal mode handed back the token that just failed: force a new one (§2.1
        # "force only if the new token fails again"; force is limited to 20 a day).
        token, expires_in = await _fetch_token(ctx, config, force=True)
    # Half the lifetime at most, so a short-lived token is not refreshed on every call.
    margin = min(REFRESH_MARGIN, timedelta(seconds=expires_in / 2))
    state = await ctx.state.load()
    state[STATE_KEY] = {
        "token": token,
        "app_id": config.app_id,
        "refresh_at": (now + timedelta(seconds=expires_in) - margin).isoformat(),
    }
    await ctx.state.save(state)
    return token


async def post_json(
    ctx: ChannelContext,
    config: WeChatConfig,
    path: str,
    body: dict[str, Any],
    *,
    side_effect: bool,
) -> dict[str, Any]:
    """POST a JSON body with the access token; the answer once its errcode is 0.

    `side_effect`: the call acts on the customer's side (a message send), so a failure
    after the request went out is uncertain rather than retryable.
    """
    # UTF-8 rather than \\u escapes (§2.2 "do not \\u-escape Chinese").
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
            raise errors.transport_error(exc, request_may_have_landed=side_effect) from exc
        data = decode_json(response, side_effect=side_effect)
        check_errcode(data)
        return data

    return await with_token(ctx, config, call)


async def with_token(
    ctx: ChannelContext, config: WeChatConfig, call: Callable[[str], Awaitable[T]]
) -> T:
    """Run `call(token)`; on a rejected token refresh once and retry once (§2.1)."""
    token = await access_token(ctx, config)
    try:
        return await call(token)
    except TokenRejected:
        token = await access_token(ctx, config, rejected=token)
    try:
        return await call(token)
    except TokenRejected as exc:
        raise errors.errcode_error(exc.errcode, exc.errmsg) from exc
