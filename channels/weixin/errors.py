"""errcode -> `DeliveryError` for the WeChat family, with a reason an agent can read.

A reason starts with a stable machine word (`window_expired`, `quota_exceeded`, ...) so
the product can match on it. Each platform brings its own table and names
(`channels.wechat.errors`, `channels.wecom.errors`); the classification is one.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import httpx

from channels.base import DeliveryError
from channels.transport import classify, retryable_status

# errcode -> (machine word, Chinese, English, retryable).
Entry = tuple[str, str, str, bool]

TOKEN_REJECTED: Entry = ("token_rejected", "access_token 被拒绝", "token rejected", True)

# The global return codes both platforms answer alike.
COMMON: dict[int, Entry] = {
    40007: ("invalid_media", "媒体文件无效或已过期", "invalid or expired media_id", False),
    41001: ("missing_token", "缺少 access_token", "missing access_token", False),
    44004: ("empty_content", "消息内容为空", "empty content", False),
}


class WeixinError(DeliveryError):
    """A DeliveryError for a platform errcode, which callers may need (40007: re-upload)."""

    def __init__(self, reason: str, *, errcode: int, retryable: bool = False) -> None:
        super().__init__(reason, retryable=retryable)
        self.errcode = errcode


@dataclass(frozen=True)
class Platform:
    """One platform of the family: its names in reasons and its errcode table."""

    zh: str
    en: str
    # errcodes meaning "the token is invalid or expired": refresh once and retry.
    token_errcodes: frozenset[int]
    known: Mapping[int, Entry]
    error_class: type[WeixinError] = WeixinError

    def errcode_error(self, errcode: int, errmsg: str) -> WeixinError:
        """The DeliveryError for a non-zero errcode."""
        if errcode in self.token_errcodes:
            # Still rejected after one refresh: let the worker try again with a new token.
            word, zh, en, retryable = TOKEN_REJECTED
        else:
            fallback = ("platform_error", f"{self.zh}接口返回错误", f"{self.en} API error", False)
            word, zh, en, retryable = self.known.get(errcode, fallback)
        return self.error_class(
            f"{word}: {zh} / {en} (errcode {errcode}: {errmsg})",
            errcode=errcode,
            retryable=retryable,
        )

    def status_error(self, status: int) -> DeliveryError:
        """The DeliveryError for an HTTP error status with no errcode body."""
        return DeliveryError(
            f"http_error: {self.zh}接口 HTTP {status} / {self.en} API answered HTTP {status}",
            retryable=retryable_status(status),
        )

    def transport_error(
        self, exc: httpx.TransportError, *, request_may_have_landed: bool
    ) -> DeliveryError:
        """The DeliveryError for a network failure.

        Connecting failed: nothing was sent, retry. Failed after the request went out
        on a call with side effects (a send): it may have been delivered, so uncertain.
        """
        _, uncertain = classify(exc, side_effect=request_may_have_landed)
        if uncertain:
            return DeliveryError(
                f"uncertain: 请求已发出但未收到{self.zh}的应答，消息可能已送达 / "
                f"no answer after the request was sent; it may have been delivered "
                f"({type(exc).__name__})",
                uncertain=True,
            )
        return DeliveryError(
            f"network_error: 无法连接{self.zh}接口 / could not reach the {self.en} API "
            f"({type(exc).__name__})",
            retryable=True,
        )
