"""typing(): the customer-service typing indicator (custom/typing), via the fake."""

from __future__ import annotations

import json
from datetime import timedelta

import httpx
import pytest

from channels.base import (
    ChannelContext,
    Connector,
    ContentType,
    DeliveryError,
    OutboundMessage,
)
from channels.wechat import connector
from sandbox.wechat.fake import FakeWeChat
from tests.channels.wechat.test_wechat_send import FailingTransport
from tests.channels.wechat.wechat_support import OPENID, MakeCtx


def reply(text: str = "好的") -> OutboundMessage:
    return OutboundMessage(
        idempotency_key="m", recipient=OPENID, content_type=ContentType.TEXT, text=text
    )


async def test_typing_and_cancel(fake: FakeWeChat, ctx: ChannelContext) -> None:
    indicator: Connector = connector  # the protocol, checked statically
    assert indicator.capabilities.typing
    await indicator.typing(ctx, OPENID, True)
    await indicator.typing(ctx, OPENID, False)
    assert [(c["touser"], c["command"], c["errcode"]) for c in fake.typing_calls] == [
        (OPENID, "Typing", 0),
        (OPENID, "CancelTyping", 0),
    ]
    assert fake.sent == []  # nothing reaches the chat
    assert len(fake.token_requests) == 1


async def test_typing_shares_the_cached_token_with_sends(
    fake: FakeWeChat, ctx: ChannelContext
) -> None:
    await connector.send(ctx, reply())
    await connector.typing(ctx, OPENID, True)
    assert len(fake.token_requests) == 1
    assert fake.typing_calls[0]["access_token"] == fake.attempts[0]["access_token"]


async def test_typing_outside_the_window_raises(fake: FakeWeChat, ctx: ChannelContext) -> None:
    fake.customer_wrote(OPENID, at=fake.now() - timedelta(hours=48, seconds=1))
    with pytest.raises(DeliveryError) as caught:
        await connector.typing(ctx, OPENID, True)
    assert caught.value.reason.startswith("window_expired:")
    assert fake.typing_calls[0]["errcode"] == 45015


async def test_typing_to_an_unfollower_raises(fake: FakeWeChat, ctx: ChannelContext) -> None:
    fake.unfollow(OPENID)
    with pytest.raises(DeliveryError, match="45015"):
        await connector.typing(ctx, OPENID, True)


async def test_typing_uses_none_of_the_reply_quota(fake: FakeWeChat, ctx: ChannelContext) -> None:
    fake.customer_wrote(OPENID)
    for _ in range(6):
        await connector.typing(ctx, OPENID, True)
    for _ in range(5):
        await connector.send(ctx, reply())
    assert len(fake.sent) == 5


async def test_rejected_token_refreshes_and_retries_once(
    fake: FakeWeChat, ctx: ChannelContext
) -> None:
    await connector.typing(ctx, OPENID, True)
    fake.invalidate_tokens()
    await connector.typing(ctx, OPENID, False)
    assert [c["errcode"] for c in fake.typing_calls] == [0, 40001, 0]
    assert len(fake.token_requests) == 2


async def test_network_failure_raises_delivery_error(fake: FakeWeChat, make_ctx: MakeCtx) -> None:
    transport = FailingTransport(fake, "/cgi-bin/message/custom/typing", httpx.ReadTimeout)
    with pytest.raises(DeliveryError) as caught:
        await connector.typing(make_ctx(transport=transport), OPENID, True)
    assert caught.value.retryable is True


async def test_typing_body_is_the_documented_json(make_ctx: MakeCtx) -> None:
    bodies: list[dict[str, object]] = []

    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/cgi-bin/stable_token":
            return httpx.Response(200, json={"access_token": "T", "expires_in": 7200})
        assert request.url.path == "/cgi-bin/message/custom/typing"
        assert request.url.params["access_token"] == "T"
        bodies.append(json.loads(request.content))
        return httpx.Response(200, json={"errcode": 0, "errmsg": "ok"})

    ctx = make_ctx(transport=httpx.MockTransport(handler))
    await connector.typing(ctx, OPENID, True)
    await connector.typing(ctx, OPENID, False)
    assert bodies == [
        {"touser": OPENID, "command": "Typing"},
        {"touser": OPENID, "command": "CancelTyping"},
    ]
