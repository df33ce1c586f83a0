"""WeChat API error codes -> `DeliveryError` with a reason an agent can read.

The codes and actions are `channels.md` §2.1 and the §2.3 table (codes from
WxJava's WxMpErrorMsgEnum). A reason starts with a stable machine word
(`window_expired`, `quota_exceeded`, ...) so the product can match on it.
"""

from __future__ import annotations

import httpx

from channels.base import DeliveryError
from channels.transport import classify, retryable_status

# errcode 40001 / 40014 / 42001: the access token is invalid or expired; refresh and
# retry once (§2.1, WxJava ACCESS_TOKEN_ERROR_CODES).
TOKEN_ERRCODES = frozenset({40001, 40014, 42001})


class WeChatError(DeliveryError):
    """A DeliveryError for a WeChat errcode, which callers may need (40007: re-upload)."""

    def __init__(self, reason: str, *, errcode: int, retryable: bool = False) -> None:
        super().__init__(reason, retryable=retryable)
        self.errcode = errcode


# errcode -> (machine word, Chinese, English, retryable).
_KNOWN: dict[int, tuple[str, str, str, bool]] = {
    45015: (
        "window_expired",
        "已超过 48 小时回复时限，或用户已取消关注，请等待客户再次发消息",
        "outside the 48-hour reply window or the user unfollowed; wait for the customer to write",
        False,
    ),
    45047: (
        "quota_exceeded",
        "本次会话窗口内的客服消息条数已达上限，请等待客户再次发消息",
        "too many replies in this window; wait for the customer to write",
        False,
    ),
    40003: ("invalid_openid", "OpenID 无效", "invalid OpenID", False),
    43004: ("not_following", "用户未关注公众号", "the user does not follow the account", False),
    48001: (
        "not_authorized",
        "公众号没有客服消息接口权限（需认证）",
        "the account lacks the customer-service API permission (verify it)",
        False,
    ),
    40007: ("invalid_media", "媒体文件无效或已过期", "invalid or expired media_id", False),
    # media/upload (§2.5): WeChat's global return codes for a refused file.
    40004: ("unsupported_media", "不支持的媒体文件类型", "unsupported media type", False),
    40005: ("unsupported_media", "不支持的文件格式", "unsupported file format", False),
    40006: ("too_large", "文件大小超出限制", "file over WeChat's size limit", False),
    40009: ("too_large", "图片大小超出限制", "image over WeChat's size limit", False),
    41005: ("missing_media", "缺少媒体文件", "no media file in the upload", False),
    45002: ("content_too_long", "消息内容过长", "content too long", False),
    44004: ("empty_content", "消息内容为空", "empty content", False),
    45009: ("daily_limit", "接口调用已达今日上限", "daily API limit; resumes tomorrow", False),
    45011: ("rate_limited", "接口调用过于频繁", "API called too often; retry later", True),
    -1: ("system_busy", "微信系统繁忙", "WeChat is busy; retry later", True),
    40013: ("invalid_appid", "AppID 无效，请检查渠道配置", "invalid AppID; check it", False),
    40125: (
        "invalid_secret",
        "AppSecret 无效，请检查渠道配置",
        "invalid AppSecret; check the channel",
        False,
    ),
    40164: (
        "ip_not_whitelisted",
        "服务器 IP 不在公众号的 IP 白名单中",
        "server IP not on the account's IP whitelist",
        False,
    ),
    41001: ("missing_token", "缺少 access_token", "missing access_token", False),
}


def errcode_error(errcode: int, errmsg: str) -> WeChatError:
    """The DeliveryError for a non-zero WeChat errcode."""
    if errcode in TOKEN_ERRCODES:
        # Still rejected after one refresh: let the worker try again later with a new token.
        word, zh, en, retryable = ("token_rejected", "access_token 被拒绝", "token rejected", True)
    else:
        word, zh, en, retryable = _KNOWN.get(
            errcode, ("platform_error", "微信接口返回错误", "WeChat API error", False)
        )
    return WeChatError(
        f"{word}: {zh} / {en} (errcode {errcode}: {errmsg})", errcode=errcode, retryable=retryable
    )


def status_error(status: int) -> DeliveryError:
    """The DeliveryError for an HTTP error status with no errcode body."""
    return DeliveryError(
        f"http_error: 微信接口 HTTP {status} / WeChat API answered HTTP {status}",
        retryable=retryable_status(status),
    )


def transport_error(exc: httpx.TransportError, *, request_may_have_landed: bool) -> DeliveryError:
    """The DeliveryError for a network failure.

    Connecting failed: nothing was sent, retry. Failed after the request went out on
    a call with side effects (a send): it may have been delivered, so say uncertain.
    """
    _, uncertain = classify(exc, side_effect=request_may_have_landed)
    if uncertain:
        return DeliveryError(
            f"uncertain: 请求已发出但未收到微信的应答，消息可能已送达 / "
            f"no answer after the request was sent; it may have been delivered "
            f"({type(exc).__name__})",
            uncertain=True,
        )
    return DeliveryError(
        f"network_error: 无法连接微信接口 / could not reach the WeChat API ({type(exc).__name__})",
        retryable=True,
    )
