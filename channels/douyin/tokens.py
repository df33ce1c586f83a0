"""The business account's OAuth grant, kept fresh in the channel's state.

State keys (JSON-safe): `grant` (a fingerprint of the tokens in the config, so a
re-authorization pasted by the admin replaces what is cached), `access_token`,
`access_expires_at`, `refresh_token`, `refresh_expires_at` (ISO 8601 or None),
`reauthorization_needed` and `reason`.
"""

from __future__ import annotations

import asyncio
import hashlib
from datetime import datetime, timedelta
from typing import Any, NoReturn

from channels.base import ChannelContext, DeliveryError, state_lock
from channels.douyin import api
from channels.douyin.config import DouyinConfig
from channels.douyin.wire import as_int, as_str, platform_error

# Refresh this long before the access token expires: covers clock skew and a slow
# send. Huiliu's choice; tokens live ~15 days (brief §4.4 [U]) so early costs nothing.
REFRESH_MARGIN = timedelta(minutes=5)

REAUTH_PREFIX = "需要重新授权 / re-authorization needed: "

_TOKEN_KEYS = ("access_token", "access_expires_at", "refresh_token", "refresh_expires_at")


def grant_fingerprint(config: DouyinConfig) -> str:
    """Identifies the grant pasted into the config, without storing it twice."""
    raw = f"{config.access_token.get_secret_value()}\n{config.refresh_token.get_secret_value()}"
    return hashlib.sha256(raw.encode()).hexdigest()[:16]


def _when(value: Any) -> datetime | None:
    try:
        return datetime.fromisoformat(value) if isinstance(value, str) else None
    except ValueError:
        return None


class TokenKeeper:
    """Hands out a valid access token, refreshing it or flagging re-authorization."""

    def __init__(self, ctx: ChannelContext, config: DouyinConfig, lock: asyncio.Lock) -> None:
        self._ctx = ctx
        self._config = config
        # One refresh at a time in this process: a rotated refresh token used twice
        # would look like a revoked grant.
        self._lock = lock

    async def load(self) -> dict[str, Any]:
        """The state, seeded from the config when it holds a different grant."""
        state = dict(await self._ctx.state.load())
        fingerprint = grant_fingerprint(self._config)
        if state.get("grant") != fingerprint:
            for key in (*_TOKEN_KEYS, "reauthorization_needed", "reason"):
                state.pop(key, None)
            state.update(
                grant=fingerprint,
                access_token=self._config.access_token.get_secret_value(),
                refresh_token=self._config.refresh_token.get_secret_value(),
            )
            await self._ctx.state.save(state)
        return state

    async def access_token(self) -> str:
        """A token valid for at least REFRESH_MARGIN (when its expiry is known)."""
        state = await self.load()
        self._raise_if_flagged(state)
        expires = _when(state.get("access_expires_at"))
        if expires is not None and self._ctx.now() >= expires - REFRESH_MARGIN:
            return await self.refresh(rejected=as_str(state.get("access_token")))
        return as_str(state.get("access_token"))

    async def refresh(self, *, rejected: str) -> str:
        """A new access token; `rejected` is the one that failed or is about to expire."""
        # The state's own lock reaches other processes sharing the channel (a rotated
        # refresh token used twice would look like a revoked grant); ours covers this one.
        async with self._lock, state_lock(self._ctx.state, "douyin-token"):
            state = await self.load()
            self._raise_if_flagged(state)
            current = as_str(state.get("access_token"))
            if current and current != rejected:
                return current  # another send refreshed it while we waited
            return await self._refresh_locked(state)

    async def _refresh_locked(self, state: dict[str, Any]) -> str:
        refresh = as_str(state.get("refresh_token"))
        refresh_expires = _when(state.get("refresh_expires_at"))
        if not refresh:
            await self._flag(state, "no refresh token")
        if refresh_expires is not None and self._ctx.now() >= refresh_expires:
            await self._flag(state, "the refresh token expired")
        payload = await api.refresh_token(
            self._ctx.http, self._ctx.api_base, self._config.client_key, refresh
        )
        error = platform_error(payload)
        raw = payload.get("data")
        data: dict[str, Any] = raw if isinstance(raw, dict) else payload
        token = as_str(data.get("access_token"))
        if error is not None and error.transient:
            raise DeliveryError(f"Douyin token refresh: {error}", retryable=True)
        if error is not None or not token:
            await self._flag(state, f"token refresh refused: {error or 'no access_token'}")
        now = self._ctx.now()
        expires_in = as_int(data.get("expires_in"))
        refresh_in = as_int(data.get("refresh_expires_in"))
        state.update(
            access_token=token,
            access_expires_at=(now + timedelta(seconds=expires_in)).isoformat()
            if expires_in
            else None,
            refresh_token=as_str(data.get("refresh_token")) or refresh,
        )
        if refresh_in:
            state["refresh_expires_at"] = (now + timedelta(seconds=refresh_in)).isoformat()
        await self._ctx.state.save(state)
        return token

    async def _flag(self, state: dict[str, Any], reason: str) -> NoReturn:
        """Remember that only the admin can fix this, then fail without retry."""
        state.update(reauthorization_needed=True, reason=reason)
        await self._ctx.state.save(state)
        raise DeliveryError(REAUTH_PREFIX + reason)

    @staticmethod
    def _raise_if_flagged(state: dict[str, Any]) -> None:
        if state.get("reauthorization_needed"):
            raise DeliveryError(REAUTH_PREFIX + as_str(state.get("reason")))
