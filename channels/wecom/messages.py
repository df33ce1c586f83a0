"""One `kf/sync_msg` item -> an `InboundMessage`, or a delivery failure to record.

The item shapes are channels.md §3 "Pull" (doc 94670; silenceper/wechat
work/kf/syncmsg/message.go). `origin` 3 is the customer, 5 a servicer writing
from the WeCom client (stored as outbound), 4 a system event. Pure: no I/O.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any

from channels.base import (
    ContentType,
    DeliveryReport,
    Direction,
    InboundContact,
    InboundMessage,
    MediaRef,
    PlatformNotice,
)
from channels.weixin import content

ORIGIN_CUSTOMER = 3
ORIGIN_EVENT = 4
ORIGIN_SERVICER = 5

# msg_send_fail fail_type -> (machine word, Chinese, English) (§3 "Events").
FAIL_TYPES: dict[int, tuple[str, str, str]] = {
    0: ("unknown", "未知原因", "unknown reason"),
    1: ("account_deleted", "客服账号已删除", "the kf account was deleted"),
    2: ("app_closed", "应用已关闭", "the app is closed"),
    4: ("window_expired", "会话已过期（超过 48 小时）", "session expired (over 48 hours)"),
    5: ("session_closed", "会话已关闭", "the session is closed"),
    6: ("quota_exceeded", "超过 5 条消息的限制", "over the 5-message limit"),
    7: ("no_channels_account", "未绑定视频号", "no WeChat Channels account bound"),
    8: ("unverified", "主体未验证", "the business entity is not verified"),
    9: ("unverified", "未绑定视频号且主体未验证", "no Channels account and not verified"),
    10: ("user_refused", "用户拒收", "the user refuses messages"),
}

# session_status_change change_type (§3 "Events"; 4 is in the current doc [U]).
SESSION_CHANGES = {
    1: ("从接待池接入了会话", "taken from the queue"),
    2: ("会话被转接", "transferred"),
    3: ("会话已结束", "ended"),
    4: ("会话被重新接入", "re-opened"),
}


Parsed = InboundMessage | DeliveryReport | PlatformNotice | None


def fail_reason(fail_type: int) -> str:
    word, zh, en = FAIL_TYPES.get(fail_type, ("platform_error", "发送失败", "not delivered"))
    return f"{word}: {zh} / {en} (fail_type {fail_type})"


def _str(d: Mapping[str, Any], key: str) -> str:
    value = d.get(key)
    return value if isinstance(value, str) else str(value) if isinstance(value, int) else ""


def _obj(d: Mapping[str, Any], key: str) -> Mapping[str, Any]:
    value = d.get(key)
    return value if isinstance(value, dict) else {}


def _float(d: Mapping[str, Any], key: str) -> float | None:
    value = d.get(key)
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def _time(item: Mapping[str, Any]) -> datetime | None:
    value = item.get("send_time")
    if isinstance(value, int) and not isinstance(value, bool):
        try:
            return datetime.fromtimestamp(value, UTC)
        except (OverflowError, OSError, ValueError):
            return None
    return None


def parse_item(item: Mapping[str, Any]) -> Parsed:
    """Map one sync_msg item; None for an item without msgid or customer (skipped)."""
    msgid = _str(item, "msgid")
    msgtype = _str(item, "msgtype")
    if not msgid or not msgtype:
        return None
    if msgtype == "event":
        return _event(msgid, item)
    customer = _str(item, "external_userid")
    if not customer:
        return None
    origin = item.get("origin")
    outbound = origin == ORIGIN_SERVICER
    build = _MESSAGES.get(msgtype, _unsupported)
    built = build(item)
    extra = {**built.pop("extra", {}), "msgtype": msgtype}
    servicer = _str(item, "servicer_userid")
    if servicer:
        extra["servicer_userid"] = servicer
    open_kfid = _str(item, "open_kfid")
    return InboundMessage(
        external_id=msgid,
        contact=InboundContact(external_id=customer),
        sent_at=_time(item),
        direction=Direction.OUTBOUND if outbound else Direction.INBOUND,
        # A reply goes to the same 客服账号 the customer wrote to.
        reply_context={"open_kfid": open_kfid} if open_kfid and not outbound else {},
        extra=extra,
        **built,
    )


Builder = Callable[[Mapping[str, Any]], dict[str, Any]]


def _media(kind: ContentType, key: str) -> Builder:
    def build(item: Mapping[str, Any]) -> dict[str, Any]:
        media_id = _str(_obj(item, key), "media_id")
        media = (MediaRef(kind, media_id),) if media_id else ()
        return {"content_type": kind, "media": media}

    return build


def _text(item: Mapping[str, Any]) -> dict[str, Any]:
    body = _obj(item, "text")
    menu_id = _str(body, "menu_id")
    # A tap on a msgmenu option comes back as text carrying the option's id.
    extra = {"menu_id": menu_id} if menu_id else {}
    return {"content_type": ContentType.TEXT, "text": _str(body, "content"), "extra": extra}


def _location(item: Mapping[str, Any]) -> dict[str, Any]:
    body = _obj(item, "location")
    name, address = _str(body, "name"), _str(body, "address")
    extra = {
        "latitude": _float(body, "latitude"),
        "longitude": _float(body, "longitude"),
        "label": name,
        "address": address,
    }
    text = " ".join(p for p in (name, address) if p)
    return {"content_type": ContentType.LOCATION, "text": text, "extra": extra}


def _link(item: Mapping[str, Any]) -> dict[str, Any]:
    body = _obj(item, "link")
    return content.link(
        _str(body, "title"), _str(body, "desc"), _str(body, "url"), pic_url=_str(body, "pic_url")
    )


def _business_card(item: Mapping[str, Any]) -> dict[str, Any]:
    userid = _str(_obj(item, "business_card"), "userid")
    return {
        "content_type": ContentType.TEXT,
        "text": f"[名片 / business card] {userid}",
        "extra": {"card_userid": userid},
    }


def _miniprogram(item: Mapping[str, Any]) -> dict[str, Any]:
    body = _obj(item, "miniprogram")
    title = _str(body, "title")
    extra = {
        "title": title,
        "appid": _str(body, "appid"),
        "pagepath": _str(body, "pagepath"),
        "thumb_media_id": _str(body, "thumb_media_id"),
    }
    return {
        "content_type": ContentType.LINK,
        "text": f"[小程序 / mini program] {title}",
        "extra": extra,
    }


def _msgmenu(item: Mapping[str, Any]) -> dict[str, Any]:
    body = _obj(item, "msgmenu")
    options = []
    for entry in body.get("list") or []:
        if isinstance(entry, dict):
            kind = _str(entry, "type")
            options.append(_str(_obj(entry, kind), "content"))
    lines = [_str(body, "head_content"), *(f"· {o}" for o in options if o)]
    lines.append(_str(body, "tail_content"))
    text = "\n".join(line for line in lines if line)
    return {"content_type": ContentType.TEXT, "text": text, "extra": {"menu": dict(body)}}


def _unsupported(item: Mapping[str, Any]) -> dict[str, Any]:
    return content.unsupported(_str(item, "msgtype"), item)


_MESSAGES: dict[str, Builder] = {
    "text": _text,
    "image": _media(ContentType.IMAGE, "image"),
    "voice": _media(ContentType.VOICE, "voice"),
    "video": _media(ContentType.VIDEO, "video"),
    "file": _media(ContentType.FILE, "file"),
    "location": _location,
    "link": _link,
    "business_card": _business_card,
    "miniprogram": _miniprogram,
    "msgmenu": _msgmenu,
}


# --- events ---------------------------------------------------------------------------


def _event(msgid: str, item: Mapping[str, Any]) -> Parsed:
    event = _obj(item, "event")
    event_type = _str(event, "event_type")
    if event_type == "msg_send_fail":
        fail_msgid = _str(event, "fail_msgid")
        fail_type = event.get("fail_type")
        code = fail_type if isinstance(fail_type, int) else 0
        return DeliveryReport(fail_msgid, fail_reason(code)) if fail_msgid else None
    if event_type == "servicer_status_change":
        status = event.get("status")
        state = {1: "接待中 / receiving", 2: "停止接待 / stopped receiving"}.get(
            status if isinstance(status, int) else 0, f"status {status}"
        )
        servicer = _str(event, "servicer_userid")
        return PlatformNotice(event_type, f"接待人员 {servicer}：{state}", _notice_detail(item))
    customer = _str(event, "external_userid") or _str(item, "external_userid")
    if not customer:
        text = f"事件 / event {event_type}"
        return PlatformNotice(event_type or "event", text, _notice_detail(item))
    text, extra = _describe(event_type, event)
    open_kfid = _str(event, "open_kfid") or _str(item, "open_kfid")
    return InboundMessage(
        external_id=msgid,
        contact=InboundContact(external_id=customer),
        content_type=ContentType.EVENT,
        text=text,
        sent_at=_time(item),
        extra={"event": event_type, "msgtype": "event", **extra},
        reply_context={"open_kfid": open_kfid} if open_kfid else {},
        counts_as_unread=False,
    )


def _notice_detail(item: Mapping[str, Any]) -> dict[str, Any]:
    at = _time(item)
    return {
        **_obj(item, "event"),
        "msgid": _str(item, "msgid"),
        "at": at.isoformat() if at else None,
    }


def _describe(event_type: str, event: Mapping[str, Any]) -> tuple[str, dict[str, Any]]:
    """A short readable line for the history, and the event's facts."""
    if event_type == "enter_session":
        scene = _str(event, "scene")
        extra: dict[str, Any] = {"scene": scene, "scene_param": _str(event, "scene_param")}
        if _str(event, "welcome_code"):
            extra["welcome_code"] = _str(event, "welcome_code")
        where = f"（场景 {scene}）" if scene else ""
        return f"进入了会话{where} / entered the chat", extra
    if event_type == "session_status_change":
        change = event.get("change_type")
        zh, en = SESSION_CHANGES.get(
            change if isinstance(change, int) else 0, ("会话状态变更", "session changed")
        )
        extra = {
            "change_type": change,
            "old_servicer_userid": _str(event, "old_servicer_userid"),
            "new_servicer_userid": _str(event, "new_servicer_userid"),
            "msg_code": _str(event, "msg_code"),
        }
        return f"{zh} / session {en}", extra
    if event_type in ("user_recall_msg", "servicer_recall_msg"):
        who = "客户" if event_type == "user_recall_msg" else "接待人员"
        who_en = "the customer" if event_type == "user_recall_msg" else "the servicer"
        recalled = _str(event, "recall_msgid")
        return f"{who}撤回了一条消息 / {who_en} recalled a message", {"recall_msgid": recalled}
    return f"事件 / event: {event_type}", {"raw": dict(event)}
