"""`WebchatConnector`: the website widget as a Huiliu channel.

Visitors talk to the product directly over `WS /widget/{id}/ws` (app/widget/), so
there is no platform to call: an agent's reply is stored, and the visitor's socket
streams it from the event log (or replays it from the database on reconnect).
`send` therefore succeeds at once, and there is no webhook and no reply window.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any, ClassVar

from pydantic import BaseModel

from channels import base
from channels.transport import typed_config
from channels.webchat.config import WebchatConfig


def _config(config: BaseModel) -> WebchatConfig:
    return typed_config(config, WebchatConfig)


def embed_snippet(public_url: str, channel_id: int) -> str:
    """The one line a site owner pastes (CONTRACT section 7)."""
    return f'<script src="{public_url.rstrip("/")}/widget/{channel_id}.js" async></script>'


class WebchatConnector(base.BaseConnector):
    """Website chat: visitors on the product's own websocket."""

    config_model: ClassVar[type[BaseModel]] = WebchatConfig
    type: ClassVar[str] = "webchat"
    # The visitor's history and socket are ours: a reply is always accepted.
    reply_window: ClassVar[timedelta | None] = None
    # Images and documents go out as stored attachments the widget shows (or offers for
    # download) by signed link; sending only marks a stored reply, so doing it twice shows
    # it once (idempotent_sends).
    capabilities: ClassVar[base.Capabilities] = base.Capabilities(
        media_replies=frozenset({base.ContentType.IMAGE, base.ContentType.FILE}),
        idempotent_sends=True,
    )

    def handle_webhook(self, config: BaseModel, request: base.WebhookRequest) -> base.WebhookResult:
        """No platform pushes to a website chat: visitors use the widget's websocket."""
        raise base.MalformedPayload("webchat has no webhook: visitors connect to /widget/{id}/ws")

    async def send(
        self, ctx: base.ChannelContext, message: base.OutboundMessage
    ) -> base.SendResult:
        """Nothing to call: the reply is durable in the database and the visitor's socket
        streams it (or replays it when they come back)."""
        if message.content_type not in (
            base.ContentType.TEXT,
            base.ContentType.IMAGE,
            base.ContentType.FILE,
        ):
            raise base.DeliveryError(
                "unsupported_type: 网页客服只能发送文字、图片和文件 / only text, images and "
                f"files can be sent to the website chat ({message.content_type})"
            )
        return base.SendResult()

    async def fetch_media(self, ctx: base.ChannelContext, ref: base.MediaRef) -> base.MediaFile:
        """Visitor uploads are stored as they arrive; nothing is ever fetched later."""
        raise base.DeliveryError("webchat media is stored at upload time")

    def describe(self, channel_id: int, config: BaseModel, public_url: str) -> dict[str, Any]:
        """The embed snippet and the identify() secret for the site's backend."""
        cfg = _config(config)
        base = public_url.rstrip("/")
        return {
            "webhook_url": None,  # nothing to paste into a platform console
            "embed_snippet": embed_snippet(base, channel_id),
            "widget_url": f"{base}/widget/{channel_id}.js",
            "identity_secret": cfg.identity_secret.get_secret_value(),
            "allowed_origins": list(cfg.allowed_origin),
            "demo_url": f"{base}/widget-demo/{channel_id}",
        }
