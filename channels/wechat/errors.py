"""WeChat API error codes -> `DeliveryError` with a reason an agent can read.

The codes and actions are `channels.md` §2.1 and the §2.3 table (codes from
WxJava's WxMpErrorMsgEnum). The classification is the family's
(`channels.weixin.errors`); this module holds WeChat's table.
"""

from __future__ import annotations

from channels.weixin.errors import COMMON, Entry, Platform, WeixinError

# errcode 40001 / 40014 / 42001: the access token is invalid or expired; refresh and
# retry once (§2.1, WxJava ACCESS_TOKEN_ERROR_CODES).
TOKEN_ERRCODES = frozenset({40001, 40014, 42001})


class WeChatError(WeixinError):
    """A DeliveryError for a WeChat errcode, which callers may need (40007: re-upload)."""


# errcode -> (machine word, Chinese, English, retryable).
_KNOWN: dict[int, Entry] = {
    **COMMON,
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
    # media/upload (§2.5): WeChat's global return codes for a refused file.
    40004: ("unsupported_media", "不支持的媒体文件类型", "unsupported media type", False),
    40005: ("unsupported_media", "不支持的文件格式", "unsupported file format", False),
    40006: ("too_large", "文件大小超出限制", "file over WeChat's size limit", False),
    40009: ("too_large", "图片大小超出限制", "image over WeChat's size limit", False),
    41005: ("missing_media", "缺少媒体文件", "no media file in the upload", False),
    45002: ("content_too_long", "消息内容过长", "content too long", False),
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
}


PLATFORM = Platform("微信", "WeChat", TOKEN_ERRCODES, _KNOWN, WeChatError)
