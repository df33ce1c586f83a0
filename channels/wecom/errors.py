"""WeCom API errcodes -> `DeliveryError` with a reason an agent can read.

A reason starts with a stable machine word (`window_expired`, `quota_exceeded`, ...),
like WeChat's (channels/wechat/errors.py), so the product can match on it.
"""

from __future__ import annotations

import httpx

from channels.base import DeliveryError

# 40014 invalid access_token, 42001 expired: refresh once and retry (issue 14; §3).
# 40001 is WeCom's "invalid secret", which no refresh cures, so it is not in this set.
TOKEN_ERRCODES = frozenset({40014, 42001})


class WeComError(DeliveryError):
    """A DeliveryError for a WeCom errcode."""

    def __init__(self, reason: str, *, errcode: int, retryable: bool = False) -> None:
        super().__init__(reason, retryable=retryable)
        self.errcode = errcode


# errcode -> (machine word, Chinese, English, retryable).
_KNOWN: dict[int, tuple[str, str, str, bool]] = {
    -1: ("system_busy", "企业微信系统繁忙", "WeCom is busy; retry later", True),
    40001: ("invalid_secret", "微信客服 Secret 无效，请检查渠道配置", "invalid kf secret", False),
    40013: ("invalid_corpid", "企业 ID（CorpID）无效", "invalid CorpID; check the channel", False),
    40007: ("invalid_media", "媒体文件无效或已过期", "invalid or expired media_id", False),
    41001: ("missing_token", "缺少 access_token", "missing access_token", False),
    44004: ("empty_content", "消息内容为空", "empty content", False),
    45009: ("daily_limit", "接口调用已达上限", "API call limit reached", False),
    45033: ("rate_limited", "接口并发调用超过限制", "too many concurrent calls", True),
    60020: ("ip_not_allowed", "服务器 IP 不在企业可信 IP 中", "server IP is not trusted", False),
    # 95001: over the 5 messages allowed per customer message (kf send_msg) [3p].
    95001: (
        "quota_exceeded",
        "给该客户发送的消息数量已达上限，请等待客户再次发消息",
        "5 replies already sent; wait for the customer to write",
        False,
    ),
}


def errcode_error(errcode: int, errmsg: str) -> WeComError:
    if errcode in TOKEN_ERRCODES:
        # Still rejected after one refresh: retry later with a new token.
        word, zh, en, retryable = ("token_rejected", "access_token 被拒绝", "token rejected", True)
    else:
        word, zh, en, retryable = _KNOWN.get(
            errcode, ("platform_error", "企业微信接口返回错误", "WeCom API error", False)
        )
    return WeComError(
        f"{word}: {zh} / {en} (errcode {errcode}: {errmsg})", errcode=errcode, retryable=retryable
    )


def status_error(status: int) -> DeliveryError:
    """An HTTP error status with no errcode body: 429 and 5xx are transient."""
    return DeliveryError(
        f"http_error: 企业微信接口 HTTP {status} / WeCom API answered HTTP {status}",
        retryable=status == 429 or status >= 500,
    )


def transport_error(exc: httpx.TransportError, *, request_may_have_landed: bool) -> DeliveryError:
    """Connecting failed: retry. Failed after a send went out: it may have landed."""
    sent = not isinstance(exc, httpx.ConnectError | httpx.ConnectTimeout | httpx.PoolTimeout)
    if sent and request_may_have_landed:
        return DeliveryError(
            "uncertain: 请求已发出但未收到企业微信的应答 / no answer after the request was sent "
            f"({type(exc).__name__})",
            uncertain=True,
        )
    return DeliveryError(
        "network_error: 无法连接企业微信接口 / could not reach the WeCom API "
        f"({type(exc).__name__})",
        retryable=True,
    )
