"""`WeChatConnector`: the WeChat Official Account as a Huiliu channel.

Glue over the modules that do the work: `webhook` (verify, decrypt, parse),
`api` (access token, JSON calls), `media` (downloads, image uploads). Replies use
the customer-service API (`channels.md` §2.2): text, or an image uploaded as
temporary media first (§2.5); `typing` drives the typing indicator (§2.4).
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any, ClassVar

from pydantic import BaseModel

from channels.base import (
    BaseConnector,
    Capabilities,
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
from channels.transport import typed_config
from channels.wechat import api, errors, media, webhook
from channels.wechat.config import WeChatConfig
from channels.weixin.config import hint

SEND_PATH = "/cgi-bin/message/custom/send"
TYPING_PATH = "/cgi-bin/message/custom/typing"
# errcode 40007 invalid media_id: re-upload once, then fail (§2.3 table).
INVALID_MEDIA = 40007


def _config(config: BaseModel) -> WeChatConfig:
    return typed_config(config, WeChatConfig)


def _text_body(recipient: str, text: str) -> dict[str, Any]:
    return {"touser": recipient, "msgtype": "text", "text": {"content": text}}


def _image_body(recipient: str, media_id: str) -> dict[str, Any]:
    return {"touser": recipient, "msgtype": "image", "image": {"media_id": media_id}}


async def _post_send(ctx: ChannelContext, config: WeChatConfig, body: dict[str, Any]) -> SendResult:
    data = await api.post_json(ctx, config, SEND_PATH, body, side_effect=True)
    msgid = data.get("msgid")
    return SendResult(external_id=str(msgid) if msgid is not None else None)


async def _send_text(
    ctx: ChannelContext, config: WeChatConfig, message: OutboundMessage
) -> SendResult:
    if message.attachments or message.media:
        raise DeliveryError(
            "unsupported_type: 文字消息不能带附件 / a text reply cannot carry files on WeChat"
        )
    if not message.text.strip():
        raise DeliveryError("empty_content: 消息内容为空 / empty content (errcode 44004)")
    if message.choices:  # a menu: the text above, one tappable line per choice (§2.2)
        body = {
            "touser": message.recipient,
            "msgtype": "msgmenu",
            "msgmenu": {
                "head_content": message.text,
                "list": [{"id": i, "content": label} for i, label in message.choices],
                "tail_content": "",
            },
        }
        return await _post_send(ctx, config, body)
    return await _post_send(ctx, config, _text_body(message.recipient, message.text))


async def _send_image(
    ctx: ChannelContext, config: WeChatConfig, message: OutboundMessage
) -> SendResult:
    """Upload the image as temporary media, then send it; a caption follows as text."""
    if len(message.media) != 1 or message.media[0].kind != ContentType.IMAGE:
        raise DeliveryError(
            "unsupported_type: 图片消息须且只能带一张图片 / "
            f"an image reply carries exactly one image (got {len(message.media)} files)"
        )
    item = message.media[0]
    media.image_upload(item)  # size and type are refused before any call
    media_id = await media.upload_image(ctx, config, item)
    try:
        result = await _post_send(ctx, config, _image_body(message.recipient, media_id))
    except errors.WeChatError as exc:
        if exc.errcode != INVALID_MEDIA:
            raise
        # The fresh media_id was refused: upload again once, then fail (§2.3 table).
        media_id = await media.upload_image(ctx, config, item)
        result = await _post_send(ctx, config, _image_body(message.recipient, media_id))
    if message.text.strip():
        # A WeChat image has no caption field, so the caption follows as text. The image
        # is out: a failed caption is reported as permanent, or a retry would resend it.
        try:
            await _post_send(ctx, config, _text_body(message.recipient, message.text))
        except DeliveryError as exc:
            raise DeliveryError(
                "caption_not_sent: 图片已发送，但说明文字未发送 / "
                f"the image was sent but its caption was not ({exc.reason})"
            ) from exc
    return result


class WeChatConnector(BaseConnector):
    """WeChat Official Account (公众号 / 服务号) push receiver and customer-service sender."""

    # Declared before `type`, which would otherwise shadow the builtin in this annotation.
    config_model: ClassVar[type[BaseModel]] = WeChatConfig
    type: ClassVar[str] = "wechat"
    # A customer message opens a 48-hour window for replies (§2.3 table; errcode 45015
    # outside it). Menu clicks, follows and scans open only 1-minute windows, which the
    # platform enforces; the product only tracks the customer's last message.
    reply_window: ClassVar[timedelta | None] = timedelta(hours=48)
    # Image replies go through a temporary-media upload (§2.5); typing is §2.4. No
    # idempotent_sends: the customer-service API has no idempotency key, so a send that
    # may have landed is never repeated on its own.
    capabilities: ClassVar[Capabilities] = Capabilities(
        media_replies=frozenset({ContentType.IMAGE}), typing=True, menus=True
    )
    default_api_base: ClassVar[str] = "https://api.weixin.qq.com"

    def handle_webhook(self, config: BaseModel, request: WebhookRequest) -> WebhookResult:
        """Verify and parse one request. Pure: no I/O. Raises WebhookError."""
        return webhook.handle(_config(config), request)

    async def send(self, ctx: ChannelContext, message: OutboundMessage) -> SendResult:
        """Send one text or image reply through the customer-service API.

        Raises DeliveryError.
        """
        config = _config(ctx.config)
        if message.content_type == ContentType.TEXT:
            return await _send_text(ctx, config, message)
        if message.content_type == ContentType.IMAGE:
            return await _send_image(ctx, config, message)
        raise DeliveryError(
            "unsupported_type: 公众号渠道只能发送文字和图片 / "
            f"only text and images can be sent on WeChat (got {message.content_type})"
        )

    async def typing(self, ctx: ChannelContext, recipient: str, typing: bool) -> None:
        """Show or cancel "typing" to the customer (§2.4). Best effort: DeliveryError."""
        body = {"touser": recipient, "command": "Typing" if typing else "CancelTyping"}
        await api.post_json(ctx, _config(ctx.config), TYPING_PATH, body, side_effect=False)

    async def fetch_media(self, ctx: ChannelContext, ref: MediaRef) -> MediaFile:
        """Download inbound media (media_id or URL). Raises DeliveryError."""
        return await media.fetch(ctx, _config(ctx.config), ref)

    def describe(self, channel_id: int, config: BaseModel, public_url: str) -> dict[str, Any]:
        """What the admin enters in 设置与开发 → 基本配置 → 服务器配置."""
        cfg = _config(config)
        # With a key, plaintext pushes are refused unless the admin switched them on.
        modes = ["compatible", "safe"] if cfg.aes_key else ["plaintext"]
        if cfg.aes_key and cfg.accept_plaintext:
            modes.insert(0, "plaintext")
        return {
            "app_id": cfg.app_id,
            "token_hint": hint(cfg.token),
            "aes_key_hint": hint(cfg.aes_key) if cfg.aes_key else None,
            # The console's 消息加解密方式 this channel can handle.
            "encryption_modes": modes,
            "data_format": "XML",
        }
