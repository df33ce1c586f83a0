"""Webhook edge: verify, then turn one Douyin event into normalized messages.

Pure: no I/O. Wire facts are from `../shared/reference/channels.md` §4.1-4.2
("the brief"); field names follow the SKIT.ByteDance event samples.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qsl, urlencode

from channels.base import (
    BadSignature,
    ContentType,
    Direction,
    InboundContact,
    InboundMessage,
    MalformedPayload,
    MediaRef,
    PlatformNotice,
    WebhookRequest,
    WebhookResult,
)
from channels.douyin.config import DouyinConfig
from channels.douyin.signature import is_valid
from channels.douyin.wire import as_int, as_str

# Text events are small; the ingestion contract caps Douyin bodies at 64 KiB
# (perf-reliability.md §4.1, "Ingestion contract" step 1).
MAX_BODY_BYTES = 64 * 1024

# Below this a `create_time` is in seconds (im_authorize's sample), above it in
# milliseconds (IM messages, "13位毫秒时间戳"): 10**11 s is the year 5138.
_SECONDS_CUTOFF = 10**11

# MediaRef.ref prefix for media only the resources API can resolve (user_local_*).
RESOURCE_REF_PREFIX = "im-resource:"

SCENE_REPLY = "im_replay_msg"  # (sic) the platform's spelling, brief §4.3
SCENE_ENTER = "im_enter_direct_msg"

ENTER_TEXT = "进入了私信会话"
# `unauthorize` (the user withdrew the grant to the app): the retention rules' hard churn
# event (CONTRACT §11). The message carries this code in `extra["churn"]`.
HARD_CHURN = "hard"
UNAUTHORIZE_TEXT = "撤销了对本应用的授权 / withdrew the grant to this app"


@dataclass(frozen=True)
class Envelope:
    """The common fields of every event (brief §4.1), `content` decoded."""

    event: str
    from_user_id: str
    to_user_id: str
    content: Mapping[str, Any]
    msg_id_header: str
    body_digest: str
    account_open_id: str


def parse_webhook(config: DouyinConfig, request: WebhookRequest) -> WebhookResult:
    """Check method, size and signature, then answer the challenge or parse the event."""
    if request.method.upper() != "POST":
        raise MalformedPayload("Douyin webhooks are POST only")
    if len(request.body) > MAX_BODY_BYTES:
        raise MalformedPayload(f"body exceeds {MAX_BODY_BYTES} bytes")
    headers = {k.lower(): v for k, v in request.headers.items()}
    # Every request is signed, verify_webhook included (brief §4.1, the doc's example).
    secret = config.client_secret.get_secret_value()
    if not is_valid(secret, request.body, headers.get("x-douyin-signature")):
        raise BadSignature("X-Douyin-Signature missing or wrong")
    payload = _load_object(request.body)
    event = payload.get("event")
    if not isinstance(event, str) or not event:
        raise MalformedPayload("no event name")
    if event == "verify_webhook":
        return _challenge_answer(payload)
    handler = _HANDLERS.get(event)
    env = Envelope(
        event=event,
        from_user_id=as_str(payload.get("from_user_id")),
        to_user_id=as_str(payload.get("to_user_id")),
        content=_content(payload.get("content"), strict=handler is not None),
        msg_id_header=headers.get("msg-id", "").strip(),
        body_digest=hashlib.sha256(request.body).hexdigest(),
        account_open_id=config.open_id,
    )
    message = (handler or _unknown)(env)
    # Douyin only needs a 200 within 5 s (perf-reliability.md §4.1 step 6); the body
    # is not read, so the default `success` is kept.
    if isinstance(message, PlatformNotice):
        return WebhookResult(notices=[message])
    return WebhookResult(messages=[message] if message else [])


def resource_ref(conversation_id: str, message_id: str) -> str:
    """A MediaRef.ref naming a message whose media the resources API serves."""
    return RESOURCE_REF_PREFIX + urlencode(
        {"conversation_id": conversation_id, "message_id": message_id}
    )


def parse_resource_ref(ref: str) -> tuple[str, str] | None:
    """(conversation_id, message_id) from `resource_ref`, or None for a plain URL."""
    if not ref.startswith(RESOURCE_REF_PREFIX):
        return None
    fields = dict(parse_qsl(ref[len(RESOURCE_REF_PREFIX) :]))
    conversation_id, message_id = fields.get("conversation_id"), fields.get("message_id")
    if not conversation_id or not message_id:
        return None
    return conversation_id, message_id


# --- decoding ------------------------------------------------------------------------


def _load_object(body: bytes) -> dict[str, Any]:
    try:
        payload = json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise MalformedPayload(f"body is not JSON: {exc}") from exc
    except RecursionError as exc:  # nested thousands deep: no real event is
        raise MalformedPayload("body is nested too deep") from exc
    if not isinstance(payload, dict):
        raise MalformedPayload("body is not a JSON object")
    return payload


def _content(raw: Any, *, strict: bool) -> Mapping[str, Any]:
    """`content` is a JSON string in most events and an object in others (brief §4.2)."""
    if isinstance(raw, Mapping):
        return raw
    if raw is None or raw == "":
        return {}
    if isinstance(raw, str):
        try:
            decoded = json.loads(raw)
        except (json.JSONDecodeError, RecursionError) as exc:
            if strict:
                raise MalformedPayload("content is not JSON (or nested too deep)") from exc
            return {"raw": raw[:1000]}
        if isinstance(decoded, Mapping):
            return decoded
    if strict:
        raise MalformedPayload("content is not a JSON object")
    return {"raw": raw}


def _challenge_answer(payload: Mapping[str, Any]) -> WebhookResult:
    """Echo the challenge as JSON, keeping its type (a number in the doc)."""
    challenge = _content(payload.get("content"), strict=True).get("challenge")
    if challenge is None or isinstance(challenge, (dict, list, bool)):
        raise MalformedPayload("verify_webhook without a challenge")
    body = json.dumps({"challenge": challenge}).encode()
    return WebhookResult(body=body, media_type="application/json")


def _sent_at(value: Any) -> datetime | None:
    stamp = as_int(value)
    if stamp is None or stamp <= 0:
        return None
    seconds = stamp / 1000 if stamp >= _SECONDS_CUTOFF else float(stamp)
    try:
        return datetime.fromtimestamp(seconds, UTC)
    except (OverflowError, OSError, ValueError):
        return None


def _contact(env: Envelope, open_id: str) -> InboundContact:
    """The customer, named from `user_infos` when it lists them."""
    infos = env.content.get("user_infos")
    for info in infos if isinstance(infos, list) else []:
        if isinstance(info, Mapping) and as_str(info.get("open_id")) == open_id:
            return InboundContact(
                external_id=open_id,
                name=as_str(info.get("nick_name")) or None,
                avatar_url=as_str(info.get("avatar")) or None,
            )
    return InboundContact(external_id=open_id)


def _external_id(env: Envelope) -> str:
    """server_message_id, else the Msg-Id header (brief §4.1), else the body's hash.

    The hash is a last resort for an event that carries neither: a retry resends
    the same bytes, so it still dedupes.
    """
    return (
        as_str(env.content.get("server_message_id"))
        or env.msg_id_header
        or f"sha256:{env.body_digest}"
    )


def _reply_context(env: Envelope, customer: str, scene: str | None = None) -> dict[str, str]:
    """What `/im/send/msg/` needs to answer this message (brief §4.3)."""
    msg_id = as_str(env.content.get("server_message_id"))
    conversation_id = as_str(env.content.get("conversation_short_id"))
    if not msg_id or not conversation_id:
        return {}
    context = {"msg_id": msg_id, "conversation_id": conversation_id, "to_user_id": customer}
    if scene:
        context["scene"] = scene
    return context


# --- message bodies ------------------------------------------------------------------


def _media(env: Envelope, kind: ContentType, *, local: bool) -> tuple[MediaRef, ...]:
    """A direct `resource_url`, or for user_local_* a ref the resources API resolves."""
    url = as_str(env.content.get("resource_url"))
    if url:
        return (MediaRef(kind=kind, ref=url),)
    if local:
        conversation_id = as_str(env.content.get("conversation_short_id"))
        message_id = as_str(env.content.get("server_message_id"))
        if conversation_id and message_id:
            return (MediaRef(kind=kind, ref=resource_ref(conversation_id, message_id)),)
    return ()


def _card_text(content: Mapping[str, Any]) -> str:
    """A retain-consult (留资) card as readable lines: label：value."""
    lines = ["[留资卡片]"]
    data = content.get("card_data")
    for item in data if isinstance(data, list) else []:
        if isinstance(item, Mapping):
            lines.append(f"{as_str(item.get('label'))}：{as_str(item.get('value'))}")
    return "\n".join(lines)


def _body(env: Envelope) -> tuple[ContentType, str, tuple[MediaRef, ...], dict[str, Any]]:
    """Content type, text, media and extra for one IM message.

    message_type values: text, image, user_local_image, emoji, video,
    user_local_video, retain_consult_card, other (official list as quoted by an
    integrator [3p]; SKIT has the same fields).
    """
    c = env.content
    kind = as_str(c.get("message_type"))
    extra: dict[str, Any] = {"message_type": kind}
    for key in ("resource_width", "resource_height", "item_id"):
        if c.get(key) not in (None, ""):
            extra[key] = c[key]
    if kind == "text":
        return ContentType.TEXT, as_str(c.get("text")), (), extra
    if kind in ("image", "emoji", "user_local_image"):
        media = _media(env, ContentType.IMAGE, local=kind == "user_local_image")
        return ContentType.IMAGE, "", media, extra
    if kind in ("video", "user_local_video"):
        # `video` is a shared Douyin video (an encrypted item_id), not a file.
        media = _media(env, ContentType.VIDEO, local=kind == "user_local_video")
        return ContentType.VIDEO, "", media, extra
    if kind == "retain_consult_card":
        extra.update(
            card_id=as_str(c.get("card_id")),
            card_status=as_int(c.get("card_status")),
            card_data=[dict(i) for i in c.get("card_data") or [] if isinstance(i, Mapping)],
        )
        return ContentType.TEXT, _card_text(c), (), extra
    extra["platform_type"] = kind or "unknown"
    return ContentType.UNSUPPORTED, as_str(c.get("text")), (), extra


# --- events --------------------------------------------------------------------------


def _customer_or_fail(open_id: str, event: str) -> str:
    if not open_id:
        raise MalformedPayload(f"{event} without the customer's open_id")
    return open_id


def _message(env: Envelope, customer: str, **fields: Any) -> InboundMessage:
    """A message event's common part (content, ids, time); `fields` add the rest."""
    content_type, text, media, extra = _body(env)
    return InboundMessage(
        external_id=_external_id(env),
        contact=_contact(env, customer),
        content_type=content_type,
        text=text,
        media=media,
        extra=extra,
        sent_at=_sent_at(env.content.get("create_time")),
        **fields,
    )


def _received(env: Envelope) -> InboundMessage:
    """im_receive_msg: the customer wrote to the business account."""
    customer = _customer_or_fail(env.from_user_id, env.event)
    return _message(env, customer, reply_context=_reply_context(env, customer))


def _sent_echo(env: Envelope) -> InboundMessage:
    """im_send_msg: the account sent a message (our API send echoed, or staff in the app).

    Its server_message_id is what the app matches against its own outbound
    message, so it is stored once. No reply_context: replies keep answering the
    customer's last message.
    """
    customer = _customer_or_fail(env.to_user_id, env.event)
    return _message(env, customer, direction=Direction.OUTBOUND, counts_as_unread=False)


def _entered(env: Envelope) -> InboundMessage:
    """im_enter_direct_msg: the customer opened the chat; a reply may answer it."""
    customer = _customer_or_fail(env.from_user_id, env.event)
    extra: dict[str, Any] = {"event": env.event, "scene": SCENE_ENTER}
    if env.content.get("scene_type") is not None:
        extra["scene_type"] = env.content["scene_type"]
    return InboundMessage(
        external_id=_external_id(env),
        contact=_contact(env, customer),
        content_type=ContentType.EVENT,
        text=ENTER_TEXT,
        extra=extra,
        sent_at=_sent_at(env.content.get("create_time")),
        reply_context=_reply_context(env, customer, scene=SCENE_ENTER),
        counts_as_unread=False,
    )


def _authorized(env: Envelope) -> InboundMessage | None:
    """im_authorize: the user granted (1) or refused (2) 主动私信 (brief §4.2)."""
    customer = env.from_user_id or (env.to_user_id if env.to_user_id != env.account_open_id else "")
    if not customer:
        return None  # the SKIT sample has empty user ids: nobody to file it under
    status = as_int(env.content.get("auth_status"))
    return InboundMessage(
        external_id=_external_id(env),
        contact=_contact(env, customer),
        content_type=ContentType.EVENT,
        text="授权了主动私信" if status == 1 else "未授权主动私信",
        extra={
            "event": env.event,
            "auth_status": status,
            "operation_type": as_int(env.content.get("operation_type")),
            "source": as_str(env.content.get("source")),
            "expire_time": as_int(env.content.get("expire_time")),
        },
        sent_at=_sent_at(env.content.get("create_time")),
        counts_as_unread=False,
    )


def _scopes(env: Envelope) -> list[str]:
    scopes = env.content.get("scopes")
    return [as_str(s) for s in scopes if as_str(s)] if isinstance(scopes, list) else []


def _unauthorized(env: Envelope) -> InboundMessage | PlatformNotice | None:
    """unauthorize: a user withdrew the grant to the app (SKIT `UnauthorizeEvent`, doc
    "webhooks/event-list"; `content.scopes` lists what was withdrawn).

    A customer doing so is a hard churn event (CONTRACT §11): an `event` message with
    `extra["churn"] == "hard"`. The business account itself doing so is about the channel,
    not a conversation: a notice in the channel's log (replies will fail until it
    authorizes again, which the token refresh reports as re-authorization needed)."""
    scopes = _scopes(env)
    if env.from_user_id and env.from_user_id == env.account_open_id:
        return PlatformNotice(
            env.event,
            "抖音账号撤销了对本应用的授权，需要重新授权 / "
            "the Douyin account withdrew its grant; re-authorization needed",
            {"scopes": scopes, "key": _external_id(env)},
        )
    if not env.from_user_id:
        return None  # nobody to file it under (SKIT's sample has an empty user id)
    return InboundMessage(
        external_id=_external_id(env),
        contact=_contact(env, env.from_user_id),
        content_type=ContentType.EVENT,
        text=UNAUTHORIZE_TEXT,
        extra={"event": env.event, "churn": HARD_CHURN, "scopes": scopes},
        sent_at=_sent_at(env.content.get("create_time")),
        counts_as_unread=False,
    )


def _app_authorized(env: Envelope) -> InboundMessage | None:
    """authorize: a user granted the app (again); the counterpart of `unauthorize`."""
    if not env.from_user_id or env.from_user_id == env.account_open_id:
        return None
    return InboundMessage(
        external_id=_external_id(env),
        contact=_contact(env, env.from_user_id),
        content_type=ContentType.EVENT,
        text="授权了本应用 / granted this app",
        extra={"event": env.event, "scopes": _scopes(env)},
        sent_at=_sent_at(env.content.get("create_time")),
        counts_as_unread=False,
    )


def _unknown(env: Envelope) -> InboundMessage | None:
    """Any other event: stored as unsupported on the user's side, and acknowledged."""
    if env.from_user_id and env.from_user_id != env.account_open_id:
        customer = env.from_user_id
    else:
        customer = env.to_user_id if env.to_user_id != env.account_open_id else ""
    if not customer:
        return None  # an app-level event with no user: acknowledged, nothing to file
    return InboundMessage(
        external_id=_external_id(env),
        contact=_contact(env, customer),
        content_type=ContentType.UNSUPPORTED,
        extra={"platform_type": env.event},
        sent_at=_sent_at(env.content.get("create_time")),
        counts_as_unread=False,
    )


_HANDLERS: dict[str, Callable[[Envelope], InboundMessage | PlatformNotice | None]] = {
    "im_receive_msg": _received,
    "im_send_msg": _sent_echo,
    "im_enter_direct_msg": _entered,
    "im_authorize": _authorized,
    "unauthorize": _unauthorized,
    "authorize": _app_authorized,
}
