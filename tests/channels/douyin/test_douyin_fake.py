"""The fake and its event builder drive the connector end to end, as the app will."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest

from channels.base import (
    BadSignature,
    ChannelContext,
    Connector,
    ContentType,
    Direction,
    OutboundMessage,
)
from channels.douyin import DouyinConfig, connector
from channels.douyin.signature import sign
from sandbox.douyin.fake import FakeDouyin, build_event, build_verify_webhook
from tests.channels.douyin.douyin_support import from_wire


def test_build_event_matches_the_wire_format() -> None:
    headers, body = build_event("s3cret", "im_receive_msg", {"text": "你好"}, "cust", "acct")
    payload = json.loads(body)
    assert payload["content"] == '{"text":"你好"}'  # a JSON string, unescaped UTF-8
    assert (payload["from_user_id"], payload["to_user_id"]) == ("cust", "acct")
    assert headers["X-Douyin-Signature"] == sign("s3cret", body)
    assert headers["Content-Type"] == "application/json"
    assert headers["Msg-Id"]
    again = build_event("s3cret", "im_receive_msg", {"text": "你好"}, "cust", "acct")
    assert again == (headers, body)  # a retry is byte-identical, same Msg-Id


def test_verify_webhook_round_trip(fake: FakeDouyin) -> None:
    config = fake.config()
    result = connector.handle_webhook(
        config, from_wire(*build_verify_webhook(fake.client_secret, 9))
    )
    assert json.loads(result.body) == {"challenge": 9}
    with pytest.raises(BadSignature):
        connector.handle_webhook(config, from_wire(*build_verify_webhook("other", 9)))


async def test_customer_message_reply_and_echo(ctx: ChannelContext, fake: FakeDouyin) -> None:
    config = fake.config()
    push = fake.customer_event("im_receive_msg", "cust-1", nickname="小王", text="在吗")
    (inbound,) = connector.handle_webhook(config, from_wire(*push)).messages
    assert (inbound.text, inbound.contact.name) == ("在吗", "小王")
    assert inbound.sent_at == fake.now()

    out = OutboundMessage(
        "k1", "cust-1", ContentType.TEXT, "在的", reply_context=inbound.reply_context
    )
    result = await connector.send(ctx, out)
    (sent,) = fake.sent
    assert sent.body["conversation_id"] == fake.conversation_id("cust-1")
    assert sent.body["msg_id"] == inbound.external_id

    (echo,) = connector.handle_webhook(config, from_wire(*fake.echo_of(sent))).messages
    assert echo.direction == Direction.OUTBOUND
    assert echo.external_id == result.external_id  # how the app recognizes its own send
    assert echo.contact.external_id == "cust-1"
    assert echo.text == "在的"


def test_enter_event_from_the_fake(fake: FakeDouyin) -> None:
    config = fake.config()
    push = fake.customer_event("im_enter_direct_msg", "cust-2")
    (event,) = connector.handle_webhook(config, from_wire(*push)).messages
    assert event.content_type == ContentType.EVENT
    assert event.reply_context["scene"] == "im_enter_direct_msg"


def test_each_customer_message_gets_a_new_id(fake: FakeDouyin) -> None:
    config = fake.config()
    ids = {
        connector.handle_webhook(
            config, from_wire(*fake.customer_event("im_receive_msg", "c", text="hi"))
        )
        .messages[0]
        .external_id
        for _ in range(3)
    }
    assert len(ids) == 3


def test_connector_shape_and_describe(fake: FakeDouyin) -> None:
    typed: Connector = connector  # mypy checks the Protocol
    assert typed.type == "douyin"
    assert typed.config_model is DouyinConfig
    assert typed.reply_window == timedelta(hours=24)
    facts = connector.describe(3, fake.config(), "https://huiliu.example/")
    assert facts["webhook_url"] == "https://huiliu.example/webhooks/douyin/3"
    assert "im_receive_msg" in facts["subscribe_events"]
    assert fake.client_secret not in json.dumps(facts)  # no secret shown
