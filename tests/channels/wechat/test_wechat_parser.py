"""Push XML -> InboundMessage for every message and event type (channels.md §1.2)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from channels.base import ContentType, InboundMessage, MalformedPayload, MediaRef, PlatformNotice
from channels.wechat.parser import parse_message
from channels.weixin.xmlbody import MAX_BODY_BYTES, parse_xml
from tests.channels.wechat.wechat_support import OPENID, fixture_bytes


def test_text() -> None:
    msg = parse_message(fixture_bytes("text.xml"))
    assert msg.external_id == "24368612345678901"
    assert msg.contact.external_id == OPENID
    assert msg.content_type is ContentType.TEXT
    # CDATA keeps markup-like text as it was typed.
    assert msg.text == "你好，我的订单什么时候发货？<a>"
    assert msg.sent_at == datetime(2023, 11, 14, 22, 13, 20, tzinfo=UTC)
    assert msg.sent_at.tzinfo is UTC
    assert msg.counts_as_unread is True
    assert msg.unreachable is None
    assert msg.media == ()


def test_image() -> None:
    msg = parse_message(fixture_bytes("image.xml"))
    assert msg.content_type is ContentType.IMAGE
    assert msg.external_id == "24368612345678902"
    media_id = "Y9kq1oBx0Z5nPq2gNbBqCsx3rKoh2xr4fDZP6X8JYbRqQ1zK9_m7iJtM"
    assert msg.media == (MediaRef(ContentType.IMAGE, media_id),)
    assert msg.extra["pic_url"] == "http://mmbiz.qpic.cn/mmbiz_jpg/abc123/0"


def test_voice_with_recognition() -> None:
    msg = parse_message(fixture_bytes("voice.xml"))
    assert msg.content_type is ContentType.VOICE
    assert msg.text == "我想退货。"
    assert msg.media == (MediaRef(ContentType.VOICE, "voice_media_9f8e7d", "audio/amr"),)
    assert msg.extra["format"] == "amr"


@pytest.mark.parametrize(
    ("name", "media_id", "thumb", "msg_type"),
    [
        ("video.xml", "video_media_1a2b3c", "video_thumb_4d5e6f", "video"),
        ("shortvideo.xml", "short_media_7g8h9i", "short_thumb_0j1k2l", "shortvideo"),
    ],
)
def test_video_and_shortvideo(name: str, media_id: str, thumb: str, msg_type: str) -> None:
    msg = parse_message(fixture_bytes(name))
    assert msg.content_type is ContentType.VIDEO
    assert msg.media == (MediaRef(ContentType.VIDEO, media_id),)
    assert msg.extra == {"thumb_media_id": thumb, "msg_type": msg_type}


def test_location() -> None:
    msg = parse_message(fixture_bytes("location.xml"))
    assert msg.content_type is ContentType.LOCATION
    assert msg.extra == {
        "latitude": 23.134521,
        "longitude": 113.358803,
        "scale": 20.0,
        "label": "广州市天河区天河路385号",
    }
    assert msg.text == "广州市天河区天河路385号"


def test_link() -> None:
    msg = parse_message(fixture_bytes("link.xml"))
    assert msg.content_type is ContentType.LINK
    assert msg.text == "商品详情"
    assert msg.extra == {
        "title": "商品详情",
        "description": "这件外套还有 L 码吗？",
        "url": "https://shop.example.com/item/42?from=wechat&x=1",
    }


def test_unknown_message_type_is_kept_as_unsupported() -> None:
    msg = parse_message(fixture_bytes("miniprogrampage.xml"))
    assert msg.content_type is ContentType.UNSUPPORTED
    assert msg.external_id == "24368612345678908"
    assert msg.extra["platform_type"] == "miniprogrampage"
    assert msg.extra["raw"]["PagePath"] == "pages/order/index?id=42"
    assert msg.counts_as_unread is True
    assert "miniprogrampage" in msg.text


def test_subscribe() -> None:
    msg = parse_message(fixture_bytes("event_subscribe.xml"))
    assert msg.content_type is ContentType.EVENT
    assert msg.text == "关注了公众号"
    assert msg.external_id == f"{OPENID}:1700000100:subscribe"
    assert msg.unreachable is False
    assert msg.counts_as_unread is False
    assert msg.extra == {"event": "subscribe"}


def test_subscribe_from_parametric_qr_code() -> None:
    msg = parse_message(fixture_bytes("event_subscribe_qrscene.xml"))
    assert msg.content_type is ContentType.EVENT
    assert msg.unreachable is False
    assert msg.extra["scene"] == "store_shanghai_01"
    assert msg.extra["ticket"].startswith("gQHi8DoAAAAAAAAAASxodHRw")
    assert "store_shanghai_01" in msg.text


def test_unsubscribe() -> None:
    msg = parse_message(fixture_bytes("event_unsubscribe.xml"))
    assert msg.content_type is ContentType.EVENT
    assert msg.text == "取消关注"
    assert msg.unreachable is True
    assert msg.counts_as_unread is False
    assert msg.external_id == f"{OPENID}:1700000102:unsubscribe"


def test_scan() -> None:
    msg = parse_message(fixture_bytes("event_scan.xml"))
    assert msg.content_type is ContentType.EVENT
    assert msg.external_id == f"{OPENID}:1700000103:SCAN"
    assert msg.extra["scene"] == "123123"
    assert msg.extra["event"] == "SCAN"
    assert msg.unreachable is None
    assert msg.counts_as_unread is False


def test_location_event() -> None:
    msg = parse_message(fixture_bytes("event_location.xml"))
    assert msg.content_type is ContentType.EVENT
    assert msg.extra == {
        "event": "LOCATION",
        "latitude": 31.230416,
        "longitude": 121.473701,
        "precision": 65.0,
    }
    assert msg.counts_as_unread is False


def test_click() -> None:
    msg = parse_message(fixture_bytes("event_click.xml"))
    assert msg.content_type is ContentType.EVENT
    assert msg.extra == {"event": "CLICK", "event_key": "MENU_CONTACT_SUPPORT"}
    assert "MENU_CONTACT_SUPPORT" in msg.text


def test_view() -> None:
    msg = parse_message(fixture_bytes("event_view.xml"))
    assert msg.content_type is ContentType.EVENT
    assert msg.extra == {
        "event": "VIEW",
        "url": "https://shop.example.com/orders",
        "menu_id": "414141414",
    }


def test_template_job_result_is_a_channel_notice_not_a_message() -> None:
    notice = parse_message(fixture_bytes("event_templatesendjobfinish.xml"))
    assert isinstance(notice, PlatformNotice)
    assert notice.event == "TEMPLATESENDJOBFINISH"
    assert notice.text.startswith("模板消息发送完成")


def test_menu_scan_is_a_described_event() -> None:
    msg = parse_message(fixture_bytes("event_scancode_push.xml"))
    assert isinstance(msg, InboundMessage)
    assert msg.content_type is ContentType.EVENT
    assert msg.counts_as_unread is False
    assert msg.external_id.endswith(":scancode_push")
    assert msg.text.startswith("通过菜单扫码") and " / scanned a code from the menu" in msg.text


def test_unknown_event_is_still_an_event_kept_raw() -> None:
    body = (
        "<xml><FromUserName><![CDATA[oX]]></FromUserName><CreateTime>5</CreateTime>"
        "<MsgType><![CDATA[event]]></MsgType><Event><![CDATA[brand_new]]></Event>"
        "<Foo><![CDATA[bar]]></Foo></xml>"
    )
    msg = parse_message(body.encode())
    assert isinstance(msg, InboundMessage)
    assert msg.content_type is ContentType.EVENT
    assert msg.extra["platform_type"] == "event:brand_new"
    assert msg.extra["raw"]["Foo"] == "bar"
    assert msg.counts_as_unread is False


def test_nested_structures_stay_nested() -> None:
    fields = parse_xml(fixture_bytes("event_scancode_push.xml"))
    assert fields["ScanCodeInfo"] == {"ScanType": "qrcode", "ScanResult": "1"}


def test_events_in_the_same_second_get_distinct_keys() -> None:
    template = (
        "<xml><FromUserName>u</FromUserName><CreateTime>1700000000</CreateTime>"
        "<MsgType>event</MsgType><Event>{}</Event></xml>"
    )
    keys = {parse_message(template.format(e).encode()).external_id for e in ("subscribe", "SCAN")}
    assert keys == {"u:1700000000:subscribe", "u:1700000000:SCAN"}


@pytest.mark.parametrize("name", ["billion_laughs.xml", "xxe.xml"])
def test_dtd_and_entities_are_refused(name: str) -> None:
    with pytest.raises(MalformedPayload):
        parse_message(fixture_bytes(name))


def test_bare_doctype_is_refused() -> None:
    body = b'<?xml version="1.0"?><!DOCTYPE xml><xml><MsgType>text</MsgType></xml>'
    with pytest.raises(MalformedPayload):
        parse_xml(body)


@pytest.mark.parametrize(
    "body",
    [
        b"",
        b"<xml><ToUserName>",
        b"not xml at all",
        b"<notxml><MsgType>text</MsgType></notxml>",
        # Required fields missing or wrong.
        b"<xml><MsgType>text</MsgType><CreateTime>1</CreateTime></xml>",
        b"<xml><FromUserName>u</FromUserName><CreateTime>1</CreateTime></xml>",
        b"<xml><FromUserName>u</FromUserName><MsgType>text</MsgType></xml>",
        b"<xml><FromUserName>u</FromUserName><MsgType>text</MsgType><CreateTime>x</CreateTime></xml>",
        # A repeated top-level tag is never sent by WeChat.
        b"<xml><FromUserName>a</FromUserName><FromUserName>b</FromUserName></xml>",
    ],
)
def test_malformed_bodies_are_refused(body: bytes) -> None:
    with pytest.raises(MalformedPayload) as caught:
        parse_message(body)
    assert caught.value.status == 400


def test_oversized_body_is_refused_before_parsing() -> None:
    body = b"<xml><Content>" + b"a" * MAX_BODY_BYTES + b"</Content></xml>"
    with pytest.raises(MalformedPayload, match="too large"):
        parse_xml(body)


def test_missing_msgid_falls_back_to_a_stable_key() -> None:
    body = (
        b"<xml><FromUserName>u</FromUserName><CreateTime>5</CreateTime>"
        b"<MsgType>text</MsgType><Content>hi</Content></xml>"
    )
    assert parse_message(body).external_id == "u:5:text"
