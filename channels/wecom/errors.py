"""WeCom API errcodes -> `DeliveryError` with a reason an agent can read.

The classification is the family's (`channels.weixin.errors`, shared with WeChat);
this module holds WeCom's own table.
"""

from __future__ import annotations

from channels.weixin.errors import COMMON, Entry, Platform, WeixinError

# 40014 invalid access_token, 42001 expired: refresh once and retry (issue 14; §3).
# 40001 is WeCom's "invalid secret", which no refresh cures, so it is not in this set.
TOKEN_ERRCODES = frozenset({40014, 42001})


class WeComError(WeixinError):
    """A DeliveryError for a WeCom errcode."""


# errcode -> (machine word, Chinese, English, retryable).
_KNOWN: dict[int, Entry] = {
    **COMMON,
    -1: ("system_busy", "企业微信系统繁忙", "WeCom is busy; retry later", True),
    40001: ("invalid_secret", "微信客服 Secret 无效，请检查渠道配置", "invalid kf secret", False),
    40013: ("invalid_corpid", "企业 ID（CorpID）无效", "invalid CorpID; check the channel", False),
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


PLATFORM = Platform("企业微信", "WeCom", TOKEN_ERRCODES, _KNOWN, WeComError)
