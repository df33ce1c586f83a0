"""DouyinConnector: Douyin open-platform private messages (私信) for one business account.

Webhook parsing is in `events.py`, the HTTP wire in `api.py`, the OAuth grant in
`tokens.py`. Sources: `../shared/reference/channels.md` §4 ("the brief").
"""

from __future__ import annotations

import asyncio
import builtins
import weakref
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Any, ClassVar
from urllib.parse import urlsplit

from pydantic import BaseModel

from channels import base
from channels.douyin import api, quota
from channels.douyin.config import DEFAULT_API_BASE, DEFAULT_REPLY_WINDOW, DouyinConfig
from channels.douyin.envelope import parse_resource_ref
from channels.douyin.events import SCENE_ENTER, SCENE_REPLY, parse_webhook
from channels.douyin.tokens import TokenKeeper
from channels.douyin.wire import as_str, platform_error
from channels.transport import typed_config

# Inbound media cap: Huiliu's choice (no platform figure found); IM photos and
# short clips fit, and a bigger file fails with a readable reason.
MAX_MEDIA_BYTES = 20 * 1024 * 1024

# Hosts media is fetched from besides the API host: ByteDance CDNs seen in event
# samples (p3/p6.douyinpic.com) and their usual siblings [U]. An allowlist, so a
# URL in a payload cannot aim our fetcher at an internal address.
MEDIA_HOST_SUFFIXES = (
    "douyin.com",
    "douyinpic.com",
    "douyincdn.com",
    "douyinvod.com",
    "douyinstatic.com",
    "byteimg.com",
    "bytedance.com",
)

SUBSCRIBE_EVENTS = ("im_receive_msg", "im_send_msg", "im_enter_direct_msg", "im_authorize")


def _config(config: BaseModel) -> DouyinConfig:
    return typed_config(config, DouyinConfig)


def _media_host_allowed(url: str, api_base: str) -> bool:
    parts, base = urlsplit(url), urlsplit(api_base)
    if not parts.hostname:
        return False
    if (parts.scheme, parts.netloc) == (base.scheme, base.netloc):
        return True  # the API host itself (also how the local fake serves media)
    host = parts.hostname.lower()
    return parts.scheme == "https" and any(
        host == suffix or host.endswith("." + suffix) for suffix in MEDIA_HOST_SUFFIXES
    )


def _reply_body(message: base.OutboundMessage) -> dict[str, Any]:
    """The /im/send/msg/ body for a text reply (brief §4.3)."""
    if message.content_type != base.ContentType.TEXT or message.attachments:
        raise base.DeliveryError(
            "抖音渠道暂只支持文字回复 / Douyin replies are text only "
            "(images need the media upload API)"
        )
    text = message.text.strip()
    if not text:
        raise base.DeliveryError("empty reply")
    context = message.reply_context
    msg_id, conversation_id = as_str(context.get("msg_id")), as_str(context.get("conversation_id"))
    if not msg_id or not conversation_id:
        raise base.DeliveryError(
            "没有可回复的抖音消息 / no Douyin message to reply to: "
            "a reply needs the customer to have written or opened the chat"
        )
    scene = as_str(context.get("scene"))
    return {
        "msg_id": msg_id,
        "conversation_id": conversation_id,
        "to_user_id": as_str(context.get("to_user_id")) or message.recipient,
        "content": {"msg_type": 1, "text": {"text": text}},
        "scene": scene if scene in (SCENE_REPLY, SCENE_ENTER) else SCENE_REPLY,
    }


class DouyinConnector(base.BaseConnector):
    """The Connector for `douyin` channels."""

    type: ClassVar[str] = "douyin"
    config_model: ClassVar[builtins.type[BaseModel]] = DouyinConfig
    reply_window: ClassVar[timedelta | None] = DEFAULT_REPLY_WINDOW
    default_api_base: ClassVar[str] = DEFAULT_API_BASE
    # capabilities.idempotent_sends stays False: /im/send/msg/ takes no idempotency key,
    # so a send that may have landed is never repeated on its own.

    def __init__(self) -> None:
        # Per event loop, per channel: asyncio locks cannot cross loops.
        self._locks: weakref.WeakKeyDictionary[
            asyncio.AbstractEventLoop, dict[int, asyncio.Lock]
        ] = weakref.WeakKeyDictionary()

    def _keeper(self, ctx: base.ChannelContext, config: DouyinConfig) -> TokenKeeper:
        locks = self._locks.setdefault(asyncio.get_running_loop(), {})
        return TokenKeeper(ctx, config, locks.setdefault(ctx.channel_id, asyncio.Lock()))

    def reply_window_for(self, config: BaseModel) -> timedelta | None:
        """The channel's own setting (the platform's window is uncertain, brief §4.3)."""
        return timedelta(hours=_config(config).reply_window_hours)

    def handle_webhook(self, config: BaseModel, request: base.WebhookRequest) -> base.WebhookResult:
        """Verify the signature, answer the challenge or parse one event (no I/O)."""
        return parse_webhook(_config(config), request)

    async def send(
        self, ctx: base.ChannelContext, message: base.OutboundMessage
    ) -> base.SendResult:
        """Reply to the customer's last message through /im/send/msg/."""
        config = _config(ctx.config)
        body = _reply_body(message)
        keeper = self._keeper(ctx, config)
        limit = config.max_replies_per_window
        if limit is not None:
            quota.check(await keeper.load(), body["to_user_id"], body["msg_id"], limit)

        async def call(token: str) -> dict[str, Any]:
            return await api.send_message(ctx.http, ctx.api_base, config.open_id, token, body)

        payload, _ = await _with_token(keeper, call, "抖音拒绝发送 / Douyin refused the message")
        data = payload.get("data")
        msg_id = as_str(payload.get("msg_id")) or (
            as_str(data.get("msg_id")) if isinstance(data, dict) else ""
        )
        if limit is not None:
            state = await keeper.load()
            window = timedelta(hours=config.reply_window_hours)
            quota.record(state, body["to_user_id"], body["msg_id"], ctx.now(), window)
            await ctx.state.save(state)
        return base.SendResult(external_id=msg_id or None)

    async def fetch_media(self, ctx: base.ChannelContext, ref: base.MediaRef) -> base.MediaFile:
        """Download a URL from the event, or resolve user_local_* media first."""
        config = _config(ctx.config)
        url, headers = ref.ref, {}
        ids = parse_resource_ref(ref.ref)
        if ids is not None:

            async def call(token: str) -> dict[str, Any]:
                return await api.message_resource(
                    ctx.http, ctx.api_base, config.open_id, token, *ids
                )

            keeper = self._keeper(ctx, config)
            payload, token = await _with_token(keeper, call, "Douyin media lookup")
            data = payload.get("data")
            url = as_str(data.get("url")) if isinstance(data, dict) else ""
            # The doc warns the URL may hold a literal \u0026 for & [3p quote].
            url = url.replace("\\u0026", "&")
            # Fetching that URL needs the same token and open id as headers [3p quote].
            headers = {"Access-Token": token, "OpenID": config.open_id}
        if not _media_host_allowed(url, ctx.api_base):
            raise base.DeliveryError(f"Douyin media: host not allowed: {urlsplit(url).hostname}")
        file = await api.download(
            ctx.http,
            url,
            headers,
            max_bytes=MAX_MEDIA_BYTES,
            mime_hint=ref.mime_type,
            api_base=ctx.api_base,
            allowed_suffixes=MEDIA_HOST_SUFFIXES,
        )
        return base.MediaFile(
            content=file.content, mime_type=file.mime_type, file_name=ref.file_name
        )

    def describe(self, channel_id: int, config: BaseModel, public_url: str) -> dict[str, Any]:
        """What the admin enters in the Douyin developer console."""
        cfg = _config(config)
        return {
            "webhook_url": f"{public_url.rstrip('/')}/webhooks/douyin/{channel_id}",
            "subscribe_events": list(SUBSCRIBE_EVENTS),
            "signature": "X-Douyin-Signature = sha1(client_secret + body), checked on every push",
            "client_key": cfg.client_key,
            "open_id": cfg.open_id,
            "scopes": ["im.direct_message", "im.multimedia_message (customer photos and videos)"],
            "reply_window_hours": cfg.reply_window_hours,
        }


async def _with_token(
    keeper: TokenKeeper, call: Callable[[str], Awaitable[dict[str, Any]]], refused: str
) -> tuple[dict[str, Any], str]:
    """Call with a valid token; when Douyin rejects it, refresh once and call again.

    Retrying is safe: a rejected token means the platform did not act on the call.
    """
    token = await keeper.access_token()
    payload = await call(token)
    error = platform_error(payload)
    if error is not None and error.token_rejected:
        token = await keeper.refresh(rejected=token)
        payload = await call(token)
        error = platform_error(payload)
    if error is not None:
        raise base.DeliveryError(f"{refused}: {error}", retryable=error.transient)
    return payload, token
