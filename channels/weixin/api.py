"""JSON calls with an access token, for the WeChat family.

The token is cached in the channel state, refreshed before it expires and once more
when a call answers a token errcode. One refresh at a time per channel: a process
lock queues this process's tasks and the state's cross-process lock
(`channels.base.state_lock`) the other workers', so however many sends find the token
stale or rejected, one fetches a new token and the others reuse it (issue 3 item 8).

Each platform says how its token is fetched (WeChat: POST stable_token; WeCom: GET
gettoken) and where it is kept; the rest is here. Everything goes through `ctx.http`
and `ctx.api_base`, so tests and the demo point it at the sandbox's fakes.
"""

from __future__ import annotations

import asyncio
import json
import weakref
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, TypeVar

import httpx

from channels.base import ChannelContext, DeliveryError, state_lock
from channels.weixin.errors import Platform

# Refresh 5 minutes before expiry: the stable token is renewed that early and old and
# new tokens overlap for 5 minutes (§2.1 "expires_at = now + expires_in - 300").
REFRESH_MARGIN = timedelta(seconds=300)

# Single-flight refresh within this process, per (channel, account). Per event loop too:
# an asyncio.Lock that has waited in one loop cannot be used from another.
_REFRESH_LOCKS: weakref.WeakKeyDictionary[
    asyncio.AbstractEventLoop, dict[tuple[int, str], asyncio.Lock]
] = weakref.WeakKeyDictionary()

T = TypeVar("T")

# Fetch a token: `force` asks the platform for a new one even if its current one is valid.
TokenRequest = Callable[[bool], Awaitable[httpx.Response]]


class TokenRejected(Exception):
    """The API answered a token errcode: the token we used is no good."""

    def __init__(self, errcode: int, errmsg: str) -> None:
        super().__init__(errcode, errmsg)
        self.errcode = errcode
        self.errmsg = errmsg


@dataclass(frozen=True)
class TokenFamily:
    """Where a platform keeps its token and how it is told apart."""

    platform: Platform
    # The key in the channel's state dict that holds the cached token.
    state_key: str
    # The name of the state's cross-process lock around a refresh.
    lock_name: str
    # The field of the cached entry naming the account the token is for (AppID, CorpID).
    account_field: str
    # Whether the token endpoint can be asked to force a new token (stable_token can).
    can_force: bool


def url(ctx: ChannelContext, path: str) -> str:
    """An absolute API URL under the context's host."""
    return f"{ctx.api_base.rstrip('/')}{path}"


def parse_answer(
    platform: Platform, status: int, content: bytes, *, side_effect: bool = False
) -> dict[str, Any]:
    """The JSON object of an answer; HTTP errors and garbage become DeliveryError.

    `side_effect`: the call may have acted (a send), so a 2xx we cannot read is
    reported as uncertain rather than failed.
    """
    try:
        data = json.loads(content)
    except (json.JSONDecodeError, UnicodeDecodeError):
        data = None
    if status >= 400 and not (isinstance(data, dict) and data.get("errcode")):
        raise platform.status_error(status)
    if isinstance(data, dict):
        return data
    raise DeliveryError(
        f"bad_response: {platform.zh}接口应答无法解析 / unreadable {platform.en} answer "
        f"(HTTP {status})",
        uncertain=side_effect,
    )


def check_errcode(
    platform: Platform, data: dict[str, Any], *, token_rejectable: bool = True
) -> None:
    """Raise for a non-zero errcode, which the platform sends inside HTTP 200 answers.

    `token_rejectable`: a token error means "refresh and retry" (TokenRejected);
    off for the token endpoint itself, where no refresh can help.
    """
    errcode = data.get("errcode", 0)
    if not isinstance(errcode, int) or errcode == 0:
        return
    errmsg = str(data.get("errmsg", ""))
    if token_rejectable and errcode in platform.token_errcodes:
        raise TokenRejected(errcode, errmsg)
    raise platform.errcode_error(errcode, errmsg)


def refresh_lock(ctx: ChannelContext, account: str) -> asyncio.Lock:
    """The lock that lets one task at a time refresh this channel's token."""
    locks = _REFRESH_LOCKS.setdefault(asyncio.get_running_loop(), {})
    return locks.setdefault((ctx.channel_id, account), asyncio.Lock())


class TokenSource:
    """The access token of one channel's account, and calls made with it."""

    def __init__(
        self, ctx: ChannelContext, family: TokenFamily, account: str, request: TokenRequest
    ) -> None:
        self.ctx, self.family, self.account, self._request = ctx, family, account, request

    def _cached(self, state: dict[str, Any]) -> str | None:
        entry = state.get(self.family.state_key)
        if not isinstance(entry, dict) or entry.get(self.family.account_field) != self.account:
            return None  # none yet, or cached for an account the channel no longer uses
        try:
            refresh_at = datetime.fromisoformat(str(entry.get("refresh_at")))
        except ValueError:
            return None
        token = entry.get("token")
        return token if isinstance(token, str) and self.ctx.now() < refresh_at else None

    async def access_token(self, *, rejected: str | None = None) -> str:
        """A valid access token: the cached one, or a fresh one saved to `ctx.state`.

        `rejected` is a token the API just refused; it is never returned again.
        """
        cached = self._cached(await self.ctx.state.load())
        if cached is not None and cached != rejected:
            return cached
        async with (
            refresh_lock(self.ctx, self.account),
            state_lock(self.ctx.state, self.family.lock_name),
        ):
            # Whoever held the lock before us may have just refreshed: reuse its token.
            cached = self._cached(await self.ctx.state.load())
            if cached is not None and cached != rejected:
                return cached
            return await self._refresh(rejected=rejected)

    async def _fetch(self, *, force: bool) -> tuple[str, int]:
        platform = self.family.platform
        try:
            response = await self._request(force)
        except httpx.TransportError as exc:
            # Fetching a token has no side effect, so every network failure is retryable.
            raise platform.transport_error(exc, request_may_have_landed=False) from exc
        data = parse_answer(platform, response.status_code, response.content)
        check_errcode(platform, data, token_rejectable=False)
        token, expires_in = data.get("access_token"), data.get("expires_in")
        if not isinstance(token, str) or not token or not isinstance(expires_in, int):
            raise DeliveryError(
                f"bad_response: {platform.zh}未返回 access_token / no access_token in the answer"
            )
        return token, expires_in

    async def _refresh(self, *, rejected: str | None) -> str:
        now = self.ctx.now()
        token, expires_in = await self._fetch(force=False)
        if token == rejected and self.family.can_force:
            # Normal mode handed back the token that just failed: force a new one (§2.1
            # "force only if the new token fails again"; force is limited to 20 a day).
            token, expires_in = await self._fetch(force=True)
        # Half the lifetime at most, so a short-lived token is not refreshed on every call.
        margin = min(REFRESH_MARGIN, timedelta(seconds=expires_in / 2))
        state = await self.ctx.state.load()
        state[self.family.state_key] = {
            "token": token,
            self.family.account_field: self.account,
            "refresh_at": (now + timedelta(seconds=expires_in) - margin).isoformat(),
        }
        await self.ctx.state.save(state)
        return token

    async def with_token(self, call: Callable[[str], Awaitable[T]]) -> T:
        """Run `call(token)`; on a rejected token refresh once and retry once (§2.1)."""
        token = await self.access_token()
        try:
            return await call(token)
        except TokenRejected:
            token = await self.access_token(rejected=token)
        try:
            return await call(token)
        except TokenRejected as exc:
            raise self.family.platform.errcode_error(exc.errcode, exc.errmsg) from exc

    async def post_json(
        self, path: str, body: dict[str, Any], *, side_effect: bool
    ) -> dict[str, Any]:
        """POST a JSON body with the access token; the answer once its errcode is 0.

        `side_effect`: the call acts on the customer's side and is not idempotent, so a
        failure after the request went out is uncertain rather than retryable.
        """
        # UTF-8 rather than \\u escapes (§2.2 "do not \\u-escape Chinese").
        content = json.dumps(body, ensure_ascii=False).encode("utf-8")
        platform = self.family.platform

        async def call(token: str) -> dict[str, Any]:
            try:
                response = await self.ctx.http.post(
                    url(self.ctx, path),
                    params={"access_token": token},
                    content=content,
                    headers={"Content-Type": "application/json; charset=utf-8"},
                )
            except httpx.TransportError as exc:
                raise platform.transport_error(exc, request_may_have_landed=side_effect) from exc
            data = parse_answer(
                platform, response.status_code, response.content, side_effect=side_effect
            )
            check_errcode(platform, data)
            return data

        return await self.with_token(call)
