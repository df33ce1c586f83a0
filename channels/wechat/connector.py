"""`WeChatConnector`: the WeChat Official Account as a Huiliu channel.

Glue over the modules that do the work: `webhook` (verify, decrypt, parse),
`api` (access token), `media` (downloads). Sends use the customer-service API
(`channels.md` §2.2).
"""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any, ClassVar

import httpx
from pydantic import BaseModel

from channels.base import (
    ChannelContext,
    ContentType,
    DeliveryError,
    MediaFile,
    MediaRef,
    OutboundMessage,
    SendResult,
    WebhookRequest,
    WebhookResult,
)
from channels.wechat import api, errors, media, webhook
from channels.wechat.config import WeChatConfig

SEND_PATH = "/cgi-bin/message/custom/send"


def _config(config: BaseModel) -> WeChatConfig:
    if not isinstance(config, WeChatConfig):
        raise TypeError(f"expected WeChatConfig, got {type(config).__name__}")
    return config


def _hint(secret: str) -> str:
    """Enough of a secret for an admin to recognise it, not to reuse it."""
    return f"{secret[:2]}…{secret[-2:]}" if len(secret) >= 8 else "…"


def _send_body(message: OutboundMessage) -> bytes:
    # Text only: images would need the attachment bytes and a media/upload first, and
    # the product sends agents' text replies today.
    if message.content_type != ContentType.TEXT or message.attachments:
        raise DeliveryError(
            "unsupported_type: 公众号渠道目前只能发送文字消息 / "
            f"only text can be sent on WeChat for now (got {message.content_type})"
        )
    if not message.text.strip():
        raise DeliveryError("empty_content: 消息内容为空 / empty content (errcode 44004)")
    body = {"touser": message.recipient, "msgtype": "text", "text": {"content": message.text}}
    # UTF-8 rather than \\u escapes (§2.2 "do not \\u-escape Chinese").
    return json.dumps(body, ensure_ascii=False).encode("utf-8")


class WeChatConnector:
    """WeChat Official Account (公众号 / 服务号) push receiver and customer-service sender."""

    # Declared before `type`, which would otherwise shadow the builtin in this annotation.
    config_model: ClassVar[type[BaseModel]] = WeChatConfig
    type: ClassVar[str] = "wechat"
    # A customer message opens a 48-hour window for replies (§2.3 table; errcode 45015
    # outside it). Menu clicks, follows and scans open only 1-minute windows, which the
    # platform enforces; the product only tracks the customer's last message.
    reply_window: ClassVar[timedelta | None] = timedelta(hours=48)

    def handle_webhook(self, config: BaseModel, request: WebhookRequest) -> WebhookResult:
        """Verify and parse one request. Pure: no I/O. Raises WebhookError."""
        return webhook.handle(_config(config), request)

    async def send(self, ctx: ChannelContext, message: OutboundMessage) -> SendResult:
        """Send one text reply through the customer-service API. Raises DeliveryError."""
        config = _config(ctx.config)
        body = _send_body(message)

        async def call(token: str) -> SendResult:
            try:
                response = await ctx.http.post(
                    api.url(ctx, SEND_PATH),
                    params={"access_token": token},
                    content=body,
                    headers={"Content-Type": "application/json; charset=utf-8"},
                )
            except httpx.TransportError as exc:
                raise errors.transport_error(exc, request_may_have_landed=True) from exc
            data = api.decode_json(response, side_effect=True)
            api.check_errcode(data)
            msgid = data.get("msgid")
            return SendResult(external_id=str(msgid) if msgid is not None else None)

        return await api.with_token(ctx, config, call)

    async def fetch_media(self, ctx: ChannelContext, ref: MediaRef) -> MediaFile:
        """Download inbound media (media_id or URL). Raises DeliveryError."""
        return await media.fetch(ctx, _config(ctx.config), ref)

    def describe(self, channel_id: int, config: BaseModel, public_url: str) -> dict[str, Any]:
        """What the admin enters in 设置与开发 → 基本配置 → 服务器配置."""
        cfg = _config(config)
        modes = ["plaintext", "compatible", "safe"] if cfg.aes_key else ["plaintext"]
        return {
            "app_id": cfg.app_id,
            "token_hint": _hint(cfg.token.get_secret_value()),
            "aes_key_hint": _hint(cfg.aes_key.get_secret_value()) if cfg.aes_key else None,
            # The console's 消息加解密方式 this channel can handle.
            "encryption_modes": modes,
            "data_format": "XML",
        }
