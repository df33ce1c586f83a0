"""Parsing every Douyin IM event, on captured and derived payloads (fixtures/README.md)."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from channels.base import ContentType, Direction, InboundMessage
from channels.douyin import connector
from channels.douyin.envelope import parse_resource_ref
from channels.douyin.events import ENTER_TEXT
from tests.channels.douyin.douyin_support import (
    ACCOUNT,
    CONVERSATION,
    CUSTOMER,
    config,
    fixture,
    signed,
)

TEXT_MSG_ID = (
    "@9Vxc1/yDU8sqaS+gN4koEc7912foPPyAPpF2rgykLFgbafb560zdRmYqig357zEBmWXVPshhwyd/y/7BQpXy/w=="
)


def parse(name: str, msg_id: str | None = "msg-id-header-1") -> list[InboundMessage]:
    return connector.handle_webhook(config(), signed(fixture(name), msg_id=msg_id)).messages


def only(name: str) -> InboundMessage:
    messages = parse(name)
    assert len(messages) == 1
    return messages[0]


@pytest.mark.parametrize(
    "name", ["im_receive_msg_text_object.json", "im_receive_msg_text_string.json"]
)
def test_text_message_with_content_as_object_or_string(name: str) -> None:
    message = only(name)
    assert message.content_type == ContentType.TEXT
    assert message.text == "捷途70"
    assert message.direction == Direction.INBOUND
    assert message.counts_as_unread is True
    assert message.external_id == TEXT_MSG_ID
    # create_time is in milliseconds: 1681303285997 -> 2023-04-12 12:41:25.997 UTC
    assert message.sent_at == datetime(2023, 4, 12, 12, 41, 25, 997000, tzinfo=UTC)
    assert message.contact.external_id == CUSTOMER
    assert message.contact.name == "刘东"
    assert message.contact.avatar_url is not None
    assert message.contact.avatar_url.startswith("https://p3.douyinpic.com/")
    assert message.reply_context == {
        "msg_id": TEXT_MSG_ID,
        "conversation_id": CONVERSATION,
        "to_user_id": CUSTOMER,
    }


def test_both_content_shapes_parse_identically() -> None:
    assert only("im_receive_msg_text_object.json") == only("im_receive_msg_text_string.json")


def test_external_id_falls_back_to_msg_id_header() -> None:
    payload = json.loads(fixture("im_receive_msg_text_object.json"))
    del payload["content"]["server_message_id"]
    body = json.dumps(payload, ensure_ascii=False).encode()
    message = connector.handle_webhook(config(), signed(body, msg_id="hdr-42")).messages[0]
    assert message.external_id == "hdr-42"
    assert message.reply_context == {}  # nothing to reply to without a msg_id


def test_external_id_falls_back_to_body_hash_and_is_stable() -> None:
    payload = json.loads(fixture("im_receive_msg_text_object.json"))
    del payload["content"]["server_message_id"]
    body = json.dumps(payload, ensure_ascii=False).encode()
    first = connector.handle_webhook(config(), signed(body, msg_id=None)).messages[0]
    again = connector.handle_webhook(config(), signed(body, msg_id=None)).messages[0]
    assert first.external_id.startswith("sha256:")
    assert first.external_id == again.external_id


def test_emoji_carries_its_url() -> None:
    message = only("im_receive_msg_emoji.json")
    assert message.content_type == ContentType.IMAGE
    assert len(message.media) == 1
    assert message.media[0].kind == ContentType.IMAGE
    assert message.media[0].ref == "https://p3.douyinpic.com/obj/im-resource/emoji_1681303301.gif"
    assert message.extra["message_type"] == "emoji"
    assert message.extra["resource_width"] == 240


@pytest.mark.parametrize(
    ("name", "kind"),
    [
        ("im_receive_msg_user_local_image.json", ContentType.IMAGE),
        ("im_receive_msg_user_local_video.json", ContentType.VIDEO),
    ],
)
def test_local_media_points_at_the_resources_api(name: str, kind: ContentType) -> None:
    message = only(name)
    assert message.content_type == kind
    (media,) = message.media
    assert media.kind == kind
    assert parse_resource_ref(media.ref) == (CONVERSATION, message.external_id)


def test_shared_video_keeps_item_id_and_has_no_file() -> None:
    message = only("im_receive_msg_video.json")
    assert message.content_type == ContentType.VIDEO
    assert message.media == ()
    assert message.extra["item_id"].startswith("@8hxdhauTCMppanGnM4ltGM780mDqPP")


def test_retain_consult_card_is_readable_and_structured() -> None:
    message = only("im_receive_msg_retain_consult_card.json")
    assert message.content_type == ContentType.TEXT
    assert message.text == "[留资卡片]\n姓名：刘先生\n手机号：138****5678\n城市：毕节"
    assert message.extra["card_status"] == 2
    assert message.extra["card_data"][1] == {"label": "手机号", "value": "138****5678"}
    assert message.extra["card_id"].startswith("@9VwNxuKKBZ03")
    assert message.counts_as_unread is True


def test_unknown_message_type_is_unsupported_not_dropped() -> None:
    message = only("im_receive_msg_other.json")
    assert message.content_type == ContentType.UNSUPPORTED
    assert message.extra["platform_type"] == "other"
    assert message.counts_as_unread is True
    assert message.reply_context["to_user_id"] == CUSTOMER


def test_send_echo_is_outbound_for_the_customer() -> None:
    message = only("im_send_msg.json")
    assert message.direction == Direction.OUTBOUND
    assert message.external_id == "@c29bfc000+MNggFhRkwGuX1ntuc0RPc0VHKefj/yWEJ8DtjU=="
    assert message.contact.external_id == CUSTOMER  # the to_user, not the account
    assert message.contact.name == "刘东"
    assert message.text == "您好，请问有什么可以帮您？"
    assert message.counts_as_unread is False
    assert message.reply_context == {}


def test_enter_event_allows_an_enter_scene_reply() -> None:
    message = only("im_enter_direct_msg.json")
    assert message.content_type == ContentType.EVENT
    assert message.text == ENTER_TEXT == "进入了私信会话"
    assert message.counts_as_unread is False
    assert message.contact.external_id == "aaa-8a0b-4c0f-b04f-feba0e909113"
    assert message.contact.name == "Hs姝羽"
    assert message.extra == {
        "event": "im_enter_direct_msg",
        "scene": "im_enter_direct_msg",
        "scene_type": 4,
    }
    assert message.reply_context["scene"] == "im_enter_direct_msg"
    assert message.reply_context["msg_id"] == message.external_id
    assert message.reply_context["conversation_id"].startswith(
        "@9Vxc1/yDU8sqaS+gN4koEc7912foPPyAOJ"
    )
    assert message.sent_at == datetime(2023, 4, 12, 12, 41, 26, 88000, tzinfo=UTC)


def test_authorize_event_is_an_event_with_seconds_timestamps() -> None:
    message = only("im_authorize.json")
    assert message.content_type == ContentType.EVENT
    assert message.text == "授权了主动私信"
    assert message.counts_as_unread is False
    assert message.extra["auth_status"] == 1
    assert message.extra["source"] == "im.direct_message.bind"
    # create_time 1670229453 is in seconds in this event
    assert message.sent_at == datetime(2022, 12, 5, 8, 37, 33, tzinfo=UTC)
    assert message.external_id == "msg-id-header-1"  # no server_message_id: the header


def test_authorize_event_without_any_user_is_acknowledged_but_not_filed() -> None:
    result = connector.handle_webhook(config(), signed(fixture("im_authorize_no_user.json")))
    assert result.status == 200
    assert result.messages == []


def test_unknown_event_is_stored_as_unsupported() -> None:
    message = only("new_follow_action.json")
    assert message.content_type == ContentType.UNSUPPORTED
    assert message.extra == {"platform_type": "new_follow_action"}
    assert message.contact.external_id == "5bfa0218-477c-4d51-865c-64f0588794a6"
    assert message.counts_as_unread is False
    assert message.external_id == "msg-id-header-1"


def test_unknown_event_from_the_account_is_filed_under_the_other_user() -> None:
    body = json.dumps(
        {
            "event": "im_recall_msg",
            "from_user_id": ACCOUNT,
            "to_user_id": CUSTOMER,
            "content": "not json at all",
        }
    ).encode()
    (message,) = connector.handle_webhook(config(), signed(body)).messages
    assert message.contact.external_id == CUSTOMER
    assert message.extra == {"platform_type": "im_recall_msg"}


def test_numbers_as_strings_are_accepted() -> None:
    payload = json.loads(fixture("im_receive_msg_text_object.json"))
    payload["content"]["create_time"] = "1681303285997"
    body = json.dumps(payload, ensure_ascii=False).encode()
    (message,) = connector.handle_webhook(config(), signed(body)).messages
    assert message.sent_at == datetime(2023, 4, 12, 12, 41, 25, 997000, tzinfo=UTC)


def test_missing_user_infos_leave_the_contact_unnamed() -> None:
    payload = json.loads(fixture("im_receive_msg_text_object.json"))
    del payload["content"]["user_infos"]
    payload["content"]["create_time"] = "soon"
    body = json.dumps(payload, ensure_ascii=False).encode()
    (message,) = connector.handle_webhook(config(), signed(body)).messages
    assert message.contact.external_id == CUSTOMER
    assert message.contact.name is None
    assert message.sent_at is None
