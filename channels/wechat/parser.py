"""WeChat push XML -> one `InboundMessage`.

The mapping of every ordinary message type and the common events (§1.2) to Huiliu's
values. Unknown types become `UNSUPPORTED` messages: stored, never dropped. The XML
is read by the family's safe parser (`channels.weixin.xmlbody`; `channels.md` §5.3).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any

from channels.base import (
    ContentType,
    InboundContact,
    InboundMessage,
    MalformedPayload,
    MediaRef,
    PlatformNotice,
)
from channels.wechat.events import CONVERSATION_EVENTS, NOTICE_EVENTS
from channels.weixin import content
from channels.weixin.xmlbody import parse_xml

# A parametric-QR follow carries EventKey "qrscene_<scene>" (§1.2, events table).
QRSCENE_PREFIX = "qrscene_"

VOICE_MIME = {"amr": "audio/amr", "speex": "audio/speex", "mp3": "audio/mpeg"}


def parse_message(body: bytes) -> InboundMessage | PlatformNotice:
    """Parse one decrypted push body into a normalized message or event, or a notice
    about the account for the channel's log (events.py)."""
    return to_inbound(parse_xml(body))


def to_inbound(fields: Mapping[str, Any]) -> InboundMessage | PlatformNotice:
    """Map parsed push fields to an `InboundMessage` (or a `PlatformNotice`)."""
    openid = _text(fields, "FromUserName")
    msg_type = _text(fields, "MsgType")
    if not openid or not msg_type:
        raise MalformedPayload("FromUserName and MsgType are required")
    create_time = _text(fields, "CreateTime")
    try:
        sent_at = datetime.fromtimestamp(int(create_time), UTC)
    except (ValueError, OverflowError, OSError) as exc:
        raise MalformedPayload("CreateTime is not a unix time") from exc
    base: dict[str, Any] = {
        "contact": InboundContact(external_id=openid),
        "sent_at": sent_at,
    }
    if msg_type == "event":
        event = _text(fields, "Event")
        # Events have no MsgId; dedupe by sender, second and event name (§1.3).
        base["external_id"] = f"{openid}:{create_time}:{event}"
        base["counts_as_unread"] = False
        notice = NOTICE_EVENTS.get(event.lower())
        if notice is not None:
            zh, en, detail = notice(fields)
            key = base["external_id"]
            return PlatformNotice(event, f"{zh} / {en}", {**detail, "key": key, "openid": openid})
        build = _EVENTS.get(event.lower(), _described_event)
        return InboundMessage(**base, **build(fields))
    # Every ordinary message has a MsgId (§1.2); the fallback only guards a broken push
    # so it is still stored once rather than refused.
    base["external_id"] = _text(fields, "MsgId") or f"{openid}:{create_time}:{msg_type}"
    build = _MESSAGES.get(msg_type, _unsupported_message)
    return InboundMessage(**base, **build(fields))


def _text(fields: Mapping[str, Any], tag: str) -> str:
    value = fields.get(tag, "")
    return value if isinstance(value, str) else ""


def _float(fields: Mapping[str, Any], tag: str) -> float | None:
    try:
        return float(_text(fields, tag))
    except ValueError:
        return None


Builder = Callable[[Mapping[str, Any]], dict[str, Any]]


# --- ordinary messages ----------------------------------------------------------------


def _text_message(f: Mapping[str, Any]) -> dict[str, Any]:
    extra = {"menu_id": _text(f, "bizmsgmenuid")} if _text(f, "bizmsgmenuid") else {}
    return {"content_type": ContentType.TEXT, "text": _text(f, "Content"), "extra": extra}


def _image(f: Mapping[str, Any]) -> dict[str, Any]:
    # The MediaId goes through the fixed API host; PicUrl is kept for reference only,
    # because a plain-mode body is not covered by the signature (§1.1) and fetching a
    # URL from it would let a replayed push aim our server at any address.
    return {
        "content_type": ContentType.IMAGE,
        "media": (MediaRef(ContentType.IMAGE, _text(f, "MediaId")),),
        "extra": {"pic_url": _text(f, "PicUrl")},
    }


def _voice(f: Mapping[str, Any]) -> dict[str, Any]:
    fmt = _text(f, "Format").lower()
    return {
        "content_type": ContentType.VOICE,
        "text": _text(f, "Recognition"),
        "media": (MediaRef(ContentType.VOICE, _text(f, "MediaId"), VOICE_MIME.get(fmt)),),
        "extra": {"format": fmt},
    }


def _video(f: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "content_type": ContentType.VIDEO,
        "media": (MediaRef(ContentType.VIDEO, _text(f, "MediaId")),),
        "extra": {"thumb_media_id": _text(f, "ThumbMediaId"), "msg_type": _text(f, "MsgType")},
    }


def _location(f: Mapping[str, Any]) -> dict[str, Any]:
    label = _text(f, "Label")
    extra = {
        "latitude": _float(f, "Location_X"),
        "longitude": _float(f, "Location_Y"),
        "scale": _float(f, "Scale"),
        "label": label,
    }
    return {"content_type": ContentType.LOCATION, "text": label, "extra": extra}


def _link(f: Mapping[str, Any]) -> dict[str, Any]:
    return content.link(_text(f, "Title"), _text(f, "Description"), _text(f, "Url"))


def _unsupported_message(f: Mapping[str, Any]) -> dict[str, Any]:
    return content.unsupported(_text(f, "MsgType"), f)


_MESSAGES: dict[str, Builder] = {
    "text": _text_message,
    "image": _image,
    "voice": _voice,
    "video": _video,
    "shortvideo": _video,
    "location": _location,
    "link": _link,
}


# --- events ---------------------------------------------------------------------------


def _event(text: str, f: Mapping[str, Any], **extra: Any) -> dict[str, Any]:
    return {
        "content_type": ContentType.EVENT,
        "text": text,
        "extra": {"event": _text(f, "Event"), **extra},
    }


def _subscribe(f: Mapping[str, Any]) -> dict[str, Any]:
    key = _text(f, "EventKey")
    if key.startswith(QRSCENE_PREFIX):
        scene = key[len(QRSCENE_PREFIX) :]
        ticket = _text(f, "Ticket")
        built = _event(f"扫码关注了公众号（场景 {scene}）", f, scene=scene, ticket=ticket)
    else:
        built = _event("关注了公众号", f)
    return {**built, "unreachable": False}


def _unsubscribe(f: Mapping[str, Any]) -> dict[str, Any]:
    return {**_event("取消关注", f), "unreachable": True}


def _scan(f: Mapping[str, Any]) -> dict[str, Any]:
    scene = _text(f, "EventKey")
    return _event(f"扫描了二维码（场景 {scene}）", f, scene=scene, ticket=_text(f, "Ticket"))


def _location_event(f: Mapping[str, Any]) -> dict[str, Any]:
    return _event(
        "上报了地理位置",
        f,
        latitude=_float(f, "Latitude"),
        longitude=_float(f, "Longitude"),
        precision=_float(f, "Precision"),
    )


def _click(f: Mapping[str, Any]) -> dict[str, Any]:
    key = _text(f, "EventKey")
    return _event(f"点击了菜单（{key}）", f, event_key=key)


def _view(f: Mapping[str, Any]) -> dict[str, Any]:
    url = _text(f, "EventKey")
    return _event(f"点击菜单打开了链接 {url}", f, url=url, menu_id=_text(f, "MenuId"))


def _described_event(f: Mapping[str, Any]) -> dict[str, Any]:
    """A documented event of events.py, or an unknown one (still an `event`, kept raw)."""
    event = _text(f, "Event")
    describe = CONVERSATION_EVENTS.get(event.lower())
    if describe is None:
        return {
            "content_type": ContentType.EVENT,
            "text": f"[未知事件：{event}] / unknown event {event}",
            "extra": {"platform_type": f"event:{event}", "event": event, "raw": dict(f)},
        }
    zh, en, extra = describe(f)
    return _event(f"{zh} / {en}", f, **extra)


# Keys are lower-cased: WeChat spells some events in capitals (SCAN, LOCATION, CLICK, VIEW).
_EVENTS: dict[str, Builder] = {
    "subscribe": _subscribe,
    "unsubscribe": _unsubscribe,
    "scan": _scan,
    "location": _location_event,
    "click": _click,
    "view": _view,
}
