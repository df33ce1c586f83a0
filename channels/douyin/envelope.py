"""One Douyin event decoded: its common fields (the envelope) and an IM message's body.

Pure: no I/O. Wire facts are from `../shared/reference/channels.md` §4.1-4.2
("the brief"); field names follow the SKIT.ByteDance event samples. `events.py`
turns these pieces into normalized messages, one handler per event.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qsl, urlencode

from channels.base import ContentType, InboundContact, MalformedPayload, MediaRef
from channels.douyin.wire import as_int, as_str

# Below this a `create_time` is in seconds (im_authorize's sample), above it in
# milliseconds (IM messages, "13位毫秒时间戳"): 10**11 s is the year 5138.
_SECONDS_CUTOFF = 10**11

# MediaRef.ref prefix for media only the resources API can resolve (user_local_*).
RESOURCE_REF_PREFIX = "im-resource:"


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

    @property
    def sent_at(self) -> datetime | None:
        """The event's `create_time`, in seconds or milliseconds, as an aware datetime."""
        stamp = as_int(self.content.get("create_time"))
        if stamp is None or stamp <= 0:
            return None
        seconds = stamp / 1000 if stamp >= _SECONDS_CUTOFF else float(stamp)
        try:
            return datetime.fromtimestamp(seconds, UTC)
        except (OverflowError, OSError, ValueError):
            return None

    @property
    def external_id(self) -> str:
        """server_message_id, else the Msg-Id header (brief §4.1), else the body's hash.

        The hash is a last resort for an event that carries neither: a retry resends
        the same bytes, so it still dedupes.
        """
        return (
            as_str(self.content.get("server_message_id"))
            or self.msg_id_header
            or f"sha256:{self.body_digest}"
        )

    def contact(self, open_id: str) -> InboundContact:
        """The customer, named from `user_infos` when it lists them."""
        infos = self.content.get("user_infos")
        for info in infos if isinstance(infos, list) else []:
            if isinstance(info, Mapping) and as_str(info.get("open_id")) == open_id:
                return InboundContact(
                    external_id=open_id,
                    name=as_str(info.get("nick_name")) or None,
                    avatar_url=as_str(info.get("avatar")) or None,
                )
        return InboundContact(external_id=open_id)

    def reply_context(self, customer: str, scene: str | None = None) -> dict[str, str]:
        """What `/im/send/msg/` needs to answer this message (brief §4.3)."""
        msg_id = as_str(self.content.get("server_message_id"))
        conversation_id = as_str(self.content.get("conversation_short_id"))
        if not msg_id or not conversation_id:
            return {}
        context = {"msg_id": msg_id, "conversation_id": conversation_id, "to_user_id": customer}
        if scene:
            context["scene"] = scene
        return context


def load_object(body: bytes) -> dict[str, Any]:
    """The request body as a JSON object, or MalformedPayload."""
    try:
        payload = json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise MalformedPayload(f"body is not JSON: {exc}") from exc
    except RecursionError as exc:  # nested thousands deep: no real event is
        raise MalformedPayload("body is nested too deep") from exc
    if not isinstance(payload, dict):
        raise MalformedPayload("body is not a JSON object")
    return payload


def decode_content(raw: Any, *, strict: bool) -> Mapping[str, Any]:
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


def message_body(env: Envelope) -> tuple[ContentType, str, tuple[MediaRef, ...], dict[str, Any]]:
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
