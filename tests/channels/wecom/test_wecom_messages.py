"""sync_msg items -> normalized messages, on the documented item shapes."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from channels.base import (
    ContentType,
    DeliveryReport,
    Direction,
    InboundMessage,
    PlatformNotice,
)
from channels.wecom.messages import fail_reason, parse_item

PAGE = json.loads((Path(__file__).parent / "fixtures" / "sync_msg_page.json").read_text())
ITEMS = {item["msgid"]: item for item in PAGE["msg_list"]}
CUSTOMER = "wmAJ2GCAAAme1XQRC-NI-q0_ZM9ukoAw"
KFID = "wkAJ2GCAAASSm4_FhToWMFea0xAFfd3Q"


def message(msgid: str) -> InboundMessage:
    parsed = parse_item(ITEMS[msgid])
    assert isinstance(parsed, InboundMessage)
    assert parsed.external_id == msgid
    assert parsed.contact.external_id == CUSTOMER
    return parsed


def test_customer_text_is_inbound_with_its_account_for_replies() -> None:
    m = message("from_msgid_4622416642169452483")
    assert m.content_type == ContentType.TEXT
    assert m.text == "你好，我的订单还没到"
    assert m.direction == Direction.INBOUND
    assert m.reply_context == {"open_kfid": KFID}
    assert m.extra["menu_id"] == "101"
    assert m.sent_at == datetime.fromtimestamp(1615478585, UTC)
    assert m.counts_as_unread


def test_media_messages_carry_their_media_id_for_later_download() -> None:
    for msgid, kind, media_id in [
        ("img_1", ContentType.IMAGE, "2iSLeVyqzk4eX0IB5kTi9Ljfa2rt9dwfq5WKRQ4Nvvgw"),
        ("voice_1", ContentType.VOICE, "voice_media"),
        ("video_1", ContentType.VIDEO, "video_media"),
        ("file_1", ContentType.FILE, "file_media"),
    ]:
        m = message(msgid)
        assert m.content_type == kind
        assert [(r.kind, r.ref) for r in m.media] == [(kind, media_id)]


def test_location_link_card_and_miniprogram() -> None:
    loc = message("loc_1")
    assert loc.content_type == ContentType.LOCATION
    assert loc.extra["label"] == "广州国际媒体港(广州市海珠区)"
    assert abs(loc.extra["latitude"] - 23.106) < 0.001
    assert "滨江东路" in loc.text
    link = message("link_1")
    assert (link.content_type, link.extra["url"], link.text) == (ContentType.LINK, "URL", "TITLE")
    card = message("card_1")
    assert card.content_type == ContentType.TEXT and "USERID" in card.text
    mini = message("mini_1")
    assert mini.content_type == ContentType.LINK
    assert (mini.extra["appid"], mini.extra["pagepath"]) == ("APPID", "PAGE_PATH")


def test_servicer_messages_from_the_wecom_client_are_outbound() -> None:
    menu = message("menu_1")
    assert menu.direction == Direction.OUTBOUND
    assert menu.text.splitlines() == [
        "您对本次服务是否满意呢? ",
        "· 满意",
        "· 不满意",
        "· 点击跳转到自助查询页面",
        "欢迎再次光临",
    ]
    text = message("servicer_text_1")
    assert (text.direction, text.text) == (Direction.OUTBOUND, "已为您催单")
    assert text.extra["servicer_userid"] == "zhangsan"
    assert text.reply_context == {}  # only customers' messages say where to reply


def test_enter_session_is_a_quiet_event_keeping_the_welcome_code() -> None:
    m = message("event_enter")
    assert m.content_type == ContentType.EVENT
    assert not m.counts_as_unread
    assert m.extra["event"] == "enter_session"
    assert m.extra["welcome_code"] == "aaaaaa"
    assert m.extra["scene"] == "123"
    assert "进入了会话" in m.text and "entered" in m.text
    assert m.reply_context == {"open_kfid": KFID}


def test_session_change_and_recall_are_readable_events() -> None:
    ended = message("event_session")
    assert ended.content_type == ContentType.EVENT
    assert ended.text == "会话已结束 / session ended"
    assert ended.extra["msg_code"] == "MSG_CODE"
    recall = message("event_recall")
    assert recall.extra["recall_msgid"] == "from_msgid_4622416642169452483"
    assert "撤回" in recall.text


def test_msg_send_fail_names_our_message_and_the_reason() -> None:
    parsed = parse_item(ITEMS["event_fail"])
    assert parsed == DeliveryReport("FAIL_MSGID", fail_reason(4))
    assert parsed.reason.startswith("window_expired: ")
    assert fail_reason(6).startswith("quota_exceeded: ")
    assert fail_reason(99).startswith("platform_error: ")


def test_servicer_status_is_a_channel_log_line_not_a_conversation() -> None:
    parsed = parse_item(ITEMS["event_servicer"])
    assert isinstance(parsed, PlatformNotice)
    assert parsed.event == "servicer_status_change"
    assert "zhangsan" in parsed.text


def test_unknown_types_are_kept_as_unsupported() -> None:
    m = message("channels_shop_1")
    assert m.content_type == ContentType.UNSUPPORTED
    assert m.extra["platform_type"] == "channels_shop_product"


def test_items_without_id_or_customer_are_skipped() -> None:
    broken: list[dict[str, Any]] = [
        {},
        {"msgid": "x"},
        {"msgid": "x", "msgtype": "text", "text": {"content": "no customer"}},
        {"msgid": "e", "msgtype": "event", "event": {"event_type": "msg_send_fail"}},
    ]
    assert [parse_item(item) for item in broken] == [None, None, None, None]
    odd = parse_item({"msgid": "y", "msgtype": "text", "external_userid": "wm1", "send_time": "x"})
    assert isinstance(odd, InboundMessage) and odd.sent_at is None
