"""`WeComConnector`: WeCom 微信客服 (kf) as a Huiliu channel.

Glue over the modules that do the work: `webhook` (verify, decrypt, read the notice),
`pull` (sync_msg pages), `messages` (item mapping), `api` (token, calls, media).
Replies go through kf/send_msg with the message's idempotency key as `msgid`, the
platform's own idempotency key (channels.md §3 "Send"), after making sure the session
is in a state where the API may answer (0 new or 2 queued -> 1, handled by API).
"""

from __future__ import annotations

import builtins
from datetime import timedelta
from typing import Any, ClassVar

import httpx
from pydantic import BaseModel

from channels.base import (
    BaseConnector,
    Capabilities,
    ChannelContext,
    ContentType,
    DeliveryError,
    MediaFile,
    MediaRef,
    OutboundMedia,
    OutboundMessage,
    PullPage,
    PullRequest,
    SendResult,
    WebhookRequest,
    WebhookResult,
)
from channels.transport import typed_config
from channels.wecom import api, errors, pull, webhook
from channels.wecom.config import WeComConfig
from channels.weixin.config import hint

SEND_PATH = "/cgi-bin/kf/send_msg"
UPLOAD_PATH = "/cgi-bin/media/upload"
STATE_GET_PATH = "/cgi-bin/kf/service_state/get"
STATE_TRANS_PATH = "/cgi-bin/kf/service_state/trans"
# Session states (§3 table): 0 new, 1 handled by API/bot, 2 queued, 3 human, 4 ended.
# The API may answer in 0 and 1; Huiliu moves 0 and 2 to 1 before replying.
STATE_API = 1
MOVE_TO_API = frozenset({0, 2})
# send_msg's msgid: at most 32 bytes of [0-9a-zA-Z_-] (§3 "Send").
MSGID_MAX = 32
# Temporary media limits on WeCom: image 10 MB, file 20 MB [doc 90253].
MAX_UPLOAD = {ContentType.IMAGE: 10 * 1024 * 1024, ContentType.FILE: 20 * 1024 * 1024}


def _config(config: BaseModel) -> WeComConfig:
    return typed_config(config, WeComConfig)


def _open_kfid(config: WeComConfig, message: OutboundMessage) -> str:
    open_kfid = str(message.reply_context.get("open_kfid") or "")
    if not open_kfid and len(config.open_kfid) == 1:
        open_kfid = config.open_kfid[0]
    if not open_kfid:
        raise DeliveryError(
            "no_account: 不知道该客户联系的是哪个客服账号，请等待客户发消息 / "
            "no kf account known for this customer yet; wait for them to write"
        )
    return open_kfid


def _msgid(key: str) -> str:
    cleaned = "".join(c for c in key if c.isascii() and (c.isalnum() or c in "_-"))
    return cleaned[:MSGID_MAX]


async def _upload(ctx: ChannelContext, config: WeComConfig, item: OutboundMedia) -> str:
    """Upload a reply's file as temporary media; its media_id."""
    kind = ContentType.IMAGE if item.kind == ContentType.IMAGE else ContentType.FILE
    if len(item.content) > MAX_UPLOAD[kind]:
        raise DeliveryError("too_large: 文件超过企业微信的大小限制 / file over WeCom's size limit")
    name = (item.file_name or f"reply.{item.mime_type.rsplit('/', 1)[-1]}").replace('"', "")

    async def call(token: str) -> str:
        try:
            response = await ctx.http.post(
                api.url(ctx, UPLOAD_PATH),
                params={"access_token": token, "type": str(kind)},
                files={"media": (name, item.content, item.mime_type)},
            )
        except httpx.TransportError as exc:
            raise errors.PLATFORM.transport_error(exc, request_may_have_landed=False) from exc
        data = api.check_answer(response)
        media_id = data.get("media_id")
        if not isinstance(media_id, str) or not media_id:
            raise DeliveryError("bad_response: 企业微信未返回 media_id / no media_id")
        return media_id

    return await api.tokens(ctx, config).with_token(call)


async def _ensure_api_state(
    ctx: ChannelContext, config: WeComConfig, open_kfid: str, customer: str
) -> None:
    ids = {"open_kfid": open_kfid, "external_userid": customer}
    data = await api.post_json(ctx, config, STATE_GET_PATH, ids)
    if data.get("service_state") in MOVE_TO_API:
        await api.post_json(ctx, config, STATE_TRANS_PATH, {**ids, "service_state": STATE_API})


class WeComConnector(BaseConnector):
    """WeCom 微信客服: encrypted notices, pulled messages, kf/send_msg replies."""

    config_model: ClassVar[builtins.type[BaseModel]] = WeComConfig
    type: ClassVar[str] = "wecom"
    # Replies are accepted within 48 hours of the customer's last message, 5 at most
    # (§3 table); the platform counts the 5 and answers 95001 / msg_send_fail 6.
    reply_window: ClassVar[timedelta | None] = timedelta(hours=48)
    capabilities: ClassVar[Capabilities] = Capabilities(
        media_replies=frozenset({ContentType.IMAGE, ContentType.FILE}), pull=True, menus=True
    )
    default_api_base: ClassVar[str] = "https://qyapi.weixin.qq.com"

    def handle_webhook(self, config: BaseModel, request: WebhookRequest) -> WebhookResult:
        """GET: answer the decrypted echostr. POST: check the notice, answer success and
        ask for a pull of its account (none for an account this channel does not serve).
        Pure: no I/O."""
        cfg = _config(config)
        method = request.method.upper()
        if method == "GET":
            return WebhookResult(body=webhook.verify_url(cfg, request.query))
        if method != "POST":
            raise webhook.MalformedPayload(f"method {method} not allowed")
        notice = webhook.read_notice(cfg, request)
        if not cfg.serves(notice.open_kfid):
            return WebhookResult(body=b"success")
        return WebhookResult(
            body=b"success", pull=PullRequest(key=notice.open_kfid, token=notice.token)
        )

    async def pull(self, ctx: ChannelContext, request: PullRequest, cursor: str | None) -> PullPage:
        """One sync_msg page after `cursor` (channels.wecom.pull). Raises DeliveryError."""
        return await pull.pull_page(ctx, _config(ctx.config), request, cursor)

    async def send(self, ctx: ChannelContext, message: OutboundMessage) -> SendResult:
        """Send one text, image or file reply through kf/send_msg. Raises DeliveryError."""
        config = _config(ctx.config)
        open_kfid = _open_kfid(config, message)
        body: dict[str, Any] = {
            "touser": message.recipient,
            "open_kfid": open_kfid,
            "msgid": _msgid(message.idempotency_key),
        }
        if message.content_type == ContentType.TEXT:
            if message.media or message.attachments:
                raise DeliveryError(
                    "unsupported_type: 文字消息不能带附件 / text cannot carry files"
                )
            if not message.text.strip():
                raise DeliveryError("empty_content: 消息内容为空 / empty content")
            if message.choices:  # a menu (the survey): the text above, one line per choice
                body.update(msgtype="msgmenu", msgmenu=_menu(message))
            else:
                body.update(msgtype="text", text={"content": message.text})
        elif message.content_type in self.capabilities.media_replies and len(message.media) == 1:
            kind = "image" if message.content_type == ContentType.IMAGE else "file"
            media_id = await _upload(ctx, config, message.media[0])
            body.update(msgtype=kind, **{kind: {"media_id": media_id}})
        else:
            raise DeliveryError(
                "unsupported_type: 微信客服只能发送文字、一张图片或一个文件 / "
                f"WeCom replies are text, one image or one file (got {message.content_type})"
            )
        await _ensure_api_state(ctx, config, open_kfid, message.recipient)
        data = await api.post_json(ctx, config, SEND_PATH, body)
        if message.media and message.text.strip():
            # An image or file has no caption on WeCom: the caption follows as text.
            caption = {**body, "msgid": _msgid(f"{body['msgid'][:28]}_cap")}
            caption.pop("image", None)
            caption.pop("file", None)
            caption.update(msgtype="text", text={"content": message.text})
            await api.post_json(ctx, config, SEND_PATH, caption)
        msgid = data.get("msgid")
        return SendResult(external_id=msgid if isinstance(msgid, str) and msgid else body["msgid"])

    async def fetch_media(self, ctx: ChannelContext, ref: MediaRef) -> MediaFile:
        """Download inbound media (a kf media_id) after the acknowledgement."""
        media = await api.get_media(ctx, _config(ctx.config), ref.ref)
        if ref.mime_type and media.mime_type == "application/octet-stream":
            return MediaFile(media.content, ref.mime_type, media.file_name or ref.file_name)
        return media

    def describe(self, channel_id: int, config: BaseModel, public_url: str) -> dict[str, Any]:
        """What the admin enters in 微信客服 → API → 回调配置 (接收事件服务器)."""
        cfg = _config(config)
        return {
            "corp_id": cfg.corp_id,
            "open_kfid": list(cfg.open_kfid),
            "token_hint": hint(cfg.token),
            "aes_key_hint": hint(cfg.aes_key),
            "api_host": "qyapi.weixin.qq.com",
        }


def _menu(message: OutboundMessage) -> dict[str, Any]:
    """kf/send_msg `msgmenu` (channels.md §3): a tap comes back as text with `menu_id`."""
    return {
        "head_content": message.text,
        "list": [{"id": choice_id, "content": label} for choice_id, label in message.choices],
        "tail_content": "",
    }
