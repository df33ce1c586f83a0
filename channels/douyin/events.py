"""Webhook edge: verify, then turn one Douyin event into normalized messages.

Pure: no I/O. Wire facts are from `../shared/reference/channels.md` §4.1-4.2
("the brief"); field names follow the SKIT.ByteDance event samples. Decoding the
envelope and a message's body lives in `envelope.py`; here, one handler per event.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Mapping
from typing import Any

from channels.base import (
    BadSignature,
    ContentType,
    Direction,
    InboundMessage,
    MalformedPayload,
    PlatformNotice,
    WebhookRequest,
    WebhookResult,
)
from channels.douyin.config import DouyinConfig
from channels.douyin.envelope import Envelope, decode_content, load_object, message_body
from channels.douyin.signature import is_valid
from channels.douyin.wire import as_int, as_str

# Text events are small; the ingestion contract caps Douyin bodies at 64 KiB
# (perf-reliability.md §4.1, "Ingestion contract" step 1).
MAX_BODY_BYTES = 64 * 1024

SCENE_REPLY = "im_replay_msg"  # (sic) the platform's spelling, brief §4.3
SCENE_ENTER = "im_enter_direct_msg"

ENTER_TEXT = "进入了私信会话"
# `unauthorize` (the user withdrew the grant to the app): the retention rules' hard churn
# event (CONTRACT §11). The message carries this code in `extra["churn"]`.
HARD_CHURN = "hard"
UNAUTHORIZE_TEXT = "撤销了对本应用的授权 / withdrew the grant to this app"


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
    payload = load_object(request.body)
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
        content=decode_content(payload.get("content"), strict=handler is not None),
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


def _challenge_answer(payload: Mapping[str, Any]) -> WebhookResult:
    """Echo the challenge as JSON, keeping its type (a number in the doc)."""
    challenge = decode_content(payload.get("content"), strict=True).get("challenge")
    if challenge is None or isinstance(challenge, (dict, list, bool)):
        raise MalformedPayload("verify_webhook without a challenge")
    body = json.dumps({"challenge": challenge}).encode()
    return WebhookResult(body=body, media_type="application/json")


# --- events --------------------------------------------------------------------------


def _customer_or_fail(open_id: str, event: str) -> str:
    if not open_id:
        raise MalformedPayload(f"{event} without the customer's open_id")
    return open_id


def _inbound(
    env: Envelope,
    customer: str,
    content_type: ContentType,
    text: str,
    extra: dict[str, Any],
    **fields: Any,
) -> InboundMessage:
    """What every event filed under a customer carries: its id, who, what, when."""
    return InboundMessage(
        external_id=env.external_id,
        contact=env.contact(customer),
        content_type=content_type,
        text=text,
        extra=extra,
        sent_at=env.sent_at,
        **fields,
    )


def _message(env: Envelope, customer: str, **fields: Any) -> InboundMessage:
    """An IM message: its body decoded; `fields` add the direction, reply context, ..."""
    content_type, text, media, extra = message_body(env)
    return _inbound(env, customer, content_type, text, extra, media=media, **fields)


def _notice(
    env: Envelope,
    customer: str,
    text: str,
    extra: dict[str, Any],
    *,
    content_type: ContentType = ContentType.EVENT,
    **fields: Any,
) -> InboundMessage:
    """A platform event filed in the customer's conversation; it is never unread."""
    return _inbound(env, customer, content_type, text, extra, counts_as_unread=False, **fields)


def _received(env: Envelope) -> InboundMessage:
    """im_receive_msg: the customer wrote to the business account."""
    customer = _customer_or_fail(env.from_user_id, env.event)
    return _message(env, customer, reply_context=env.reply_context(customer))


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
    context = env.reply_context(customer, scene=SCENE_ENTER)
    return _notice(env, customer, ENTER_TEXT, extra, reply_context=context)


def _authorized(env: Envelope) -> InboundMessage | None:
    """im_authorize: the user granted (1) or refused (2) 主动私信 (brief §4.2)."""
    customer = env.from_user_id or (env.to_user_id if env.to_user_id != env.account_open_id else "")
    if not customer:
        return None  # the SKIT sample has empty user ids: nobody to file it under
    status = as_int(env.content.get("auth_status"))
    extra = {
        "event": env.event,
        "auth_status": status,
        "operation_type": as_int(env.content.get("operation_type")),
        "source": as_str(env.content.get("source")),
        "expire_time": as_int(env.content.get("expire_time")),
    }
    return _notice(env, customer, "授权了主动私信" if status == 1 else "未授权主动私信", extra)


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
            {"scopes": scopes, "key": env.external_id},
        )
    if not env.from_user_id:
        return None  # nobody to file it under (SKIT's sample has an empty user id)
    extra = {"event": env.event, "churn": HARD_CHURN, "scopes": scopes}
    return _notice(env, env.from_user_id, UNAUTHORIZE_TEXT, extra)


def _app_authorized(env: Envelope) -> InboundMessage | None:
    """authorize: a user granted the app (again); the counterpart of `unauthorize`."""
    if not env.from_user_id or env.from_user_id == env.account_open_id:
        return None
    extra = {"event": env.event, "scopes": _scopes(env)}
    return _notice(env, env.from_user_id, "授权了本应用 / granted this app", extra)


def _unknown(env: Envelope) -> InboundMessage | None:
    """Any other event: stored as unsupported on the user's side, and acknowledged."""
    if env.from_user_id and env.from_user_id != env.account_open_id:
        customer = env.from_user_id
    else:
        customer = env.to_user_id if env.to_user_id != env.account_open_id else ""
    if not customer:
        return None  # an app-level event with no user: acknowledged, nothing to file
    extra = {"platform_type": env.event}
    return _notice(env, customer, "", extra, content_type=ContentType.UNSUPPORTED)


_HANDLERS: dict[str, Callable[[Envelope], InboundMessage | PlatformNotice | None]] = {
    "im_receive_msg": _received,
    "im_send_msg": _sent_echo,
    "im_enter_direct_msg": _entered,
    "im_authorize": _authorized,
    "unauthorize": _unauthorized,
    "authorize": _app_authorized,
}
