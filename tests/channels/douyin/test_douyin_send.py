"""Replies through the fake open API: success, refusals, tokens, transport failures."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import timedelta

import httpx
import pytest

from channels.base import ChannelContext, ContentType, DeliveryError, OutboundMessage
from channels.douyin import connector
from channels.douyin.tokens import REFRESH_MARGIN
from sandbox.douyin.fake import SYSTEM_BUSY, TOKEN_EXPIRED, WINDOW_CLOSED, FakeDouyin
from tests.channels.douyin.douyin_support import MemoryState

CUSTOMER = "customer-open-id-1"
CONVERSATION = "@9Vxc1/yDU8sqaS+gN4koEc7912foPPiLPZVyrQmgKVQab=="
INBOUND_MSG = "@9Vxc1/yDU8sqaS+gN4koEc7912foPPyAPpF2rgykLFg/w=="


def reply(
    text: str = "您好，请问有什么可以帮您？", context: Mapping[str, str] | None = None
) -> OutboundMessage:
    return OutboundMessage(
        idempotency_key="out-1",
        recipient=CUSTOMER,
        content_type=ContentType.TEXT,
        text=text,
        reply_context={
            "msg_id": INBOUND_MSG,
            "conversation_id": CONVERSATION,
            "to_user_id": CUSTOMER,
        }
        if context is None
        else context,
    )


async def test_success_sends_the_documented_body(ctx: ChannelContext, fake: FakeDouyin) -> None:
    result = await connector.send(ctx, reply())
    (sent,) = fake.sent
    assert result.external_id == sent.msg_id
    assert sent.open_id == fake.open_id
    assert sent.access_token == fake.access_token
    assert sent.body == {
        "msg_id": INBOUND_MSG,
        "conversation_id": CONVERSATION,
        "to_user_id": CUSTOMER,
        "content": {"msg_type": 1, "text": {"text": "您好，请问有什么可以帮您？"}},
        "scene": "im_replay_msg",
    }


async def test_reply_to_an_enter_event_uses_its_scene(
    ctx: ChannelContext, fake: FakeDouyin
) -> None:
    context = {
        "msg_id": INBOUND_MSG,
        "conversation_id": CONVERSATION,
        "to_user_id": CUSTOMER,
        "scene": "im_enter_direct_msg",
    }
    await connector.send(ctx, reply(context=context))
    assert fake.sent[0].body["scene"] == "im_enter_direct_msg"


async def test_without_reply_context_nothing_is_sent(ctx: ChannelContext, fake: FakeDouyin) -> None:
    with pytest.raises(DeliveryError) as err:
        await connector.send(ctx, reply(context={}))
    assert not err.value.retryable
    assert "no Douyin message to reply to" in err.value.reason
    assert fake.send_attempts == 0


async def test_non_text_is_refused_locally(ctx: ChannelContext, fake: FakeDouyin) -> None:
    image = OutboundMessage(
        "out-2", CUSTOMER, ContentType.IMAGE, "", reply_context=reply().reply_context
    )
    with pytest.raises(DeliveryError) as err:
        await connector.send(ctx, image)
    assert not err.value.retryable
    assert fake.send_attempts == 0


async def test_platform_refusal_carries_description_and_logid(
    ctx: ChannelContext, fake: FakeDouyin
) -> None:
    fake.fail_next_sends(1, error=WINDOW_CLOSED, sub_error_code=7)
    with pytest.raises(DeliveryError) as err:
        await connector.send(ctx, reply())
    assert not err.value.retryable and not err.value.uncertain
    assert WINDOW_CLOSED[1] in err.value.reason
    assert f"[{WINDOW_CLOSED[0]}/7]" in err.value.reason
    assert "logid 2026" in err.value.reason
    assert fake.sent == []


async def test_platform_busy_is_retryable(ctx: ChannelContext, fake: FakeDouyin) -> None:
    fake.fail_next_sends(1, error=SYSTEM_BUSY)
    with pytest.raises(DeliveryError) as err:
        await connector.send(ctx, reply())
    assert err.value.retryable
    await connector.send(ctx, reply())  # the next attempt goes through
    assert len(fake.sent) == 1


@pytest.mark.parametrize("status", [500, 502, 503, 429])
async def test_http_5xx_and_429_are_retryable(
    ctx: ChannelContext, fake: FakeDouyin, status: int
) -> None:
    fake.fail_next_sends(1, http_status=status)
    with pytest.raises(DeliveryError) as err:
        await connector.send(ctx, reply())
    assert err.value.retryable
    assert str(status) in err.value.reason


def ctx_with(handler: httpx.MockTransport, fake: FakeDouyin) -> ChannelContext:
    return ChannelContext(
        channel_id=9,
        config=fake.config(),
        http=httpx.AsyncClient(transport=handler),
        api_base=fake.base_url,
        state=MemoryState(),
        now=fake.now,
    )


@pytest.mark.parametrize(
    ("exc", "retryable", "uncertain"),
    [
        (httpx.ConnectError("connection refused"), True, False),
        (httpx.ConnectTimeout("connect timeout"), True, False),
        (httpx.ReadTimeout("read timeout"), False, True),
        (httpx.RemoteProtocolError("peer closed"), False, True),
    ],
)
async def test_transport_failures(
    fake: FakeDouyin, exc: httpx.HTTPError, retryable: bool, uncertain: bool
) -> None:
    def fail(request: httpx.Request) -> httpx.Response:
        raise exc

    ctx = ctx_with(httpx.MockTransport(fail), fake)
    try:
        with pytest.raises(DeliveryError) as err:
            await connector.send(ctx, reply())
    finally:
        await ctx.http.aclose()
    assert (err.value.retryable, err.value.uncertain) == (retryable, uncertain)


async def test_garbage_200_after_sending_is_uncertain(fake: FakeDouyin) -> None:
    ctx = ctx_with(httpx.MockTransport(lambda r: httpx.Response(200, text="<html>")), fake)
    try:
        with pytest.raises(DeliveryError) as err:
            await connector.send(ctx, reply())
    finally:
        await ctx.http.aclose()
    assert err.value.uncertain and not err.value.retryable


async def test_expired_pasted_token_is_refreshed_and_the_send_retried(
    ctx: ChannelContext, fake: FakeDouyin, state: MemoryState
) -> None:
    pasted = fake.access_token
    fake.advance(timedelta(days=16))  # the pasted token's expiry was never told to us
    await connector.send(ctx, reply())
    assert fake.refresh_calls == 1
    assert fake.send_attempts == 2  # refused with 2190008, then sent with the new token
    assert fake.sent[0].access_token == fake.access_token != pasted
    assert state.data["access_token"] == fake.access_token
    assert state.data["refresh_token"] == fake.refresh_token  # the rotated one is kept
    assert state.data["access_expires_at"] == (fake.now() + timedelta(days=15)).isoformat()


async def test_token_is_refreshed_before_expiry_with_a_moved_clock(
    ctx: ChannelContext, fake: FakeDouyin
) -> None:
    fake.advance(timedelta(days=16))
    await connector.send(ctx, reply())  # learns the new token's lifetime (15 days)
    assert (fake.refresh_calls, fake.send_attempts) == (1, 2)

    fake.advance(timedelta(days=15) - REFRESH_MARGIN - timedelta(minutes=1))
    await connector.send(ctx, reply())  # still valid for margin + 1 min: no refresh
    assert (fake.refresh_calls, fake.send_attempts) == (1, 3)

    fake.advance(timedelta(minutes=2))  # now inside the margin, not yet expired
    await connector.send(ctx, reply())
    assert (fake.refresh_calls, fake.send_attempts) == (2, 4)  # refreshed first, no refusal
    assert fake.sent[-1].access_token == fake.access_token


async def test_refresh_failure_needs_reauthorization_and_later_sends_fail_at_once(
    ctx: ChannelContext, fake: FakeDouyin, state: MemoryState
) -> None:
    fake.advance(timedelta(days=16))
    fake.revoke_refresh_tokens()
    with pytest.raises(DeliveryError) as err:
        await connector.send(ctx, reply())
    assert not err.value.retryable
    assert err.value.reason.startswith("需要重新授权 / re-authorization needed: ")
    assert "10010" in err.value.reason and "refresh_token过期" in err.value.reason
    assert state.data["reauthorization_needed"] is True
    assert "10010" in state.data["reason"]

    calls = (fake.send_attempts, fake.refresh_calls)
    with pytest.raises(DeliveryError) as again:
        await connector.send(ctx, reply())
    assert again.value.reason == err.value.reason
    assert (fake.send_attempts, fake.refresh_calls) == calls  # nothing reached the API


async def test_new_grant_in_the_config_clears_the_flag(
    ctx: ChannelContext, fake: FakeDouyin, state: MemoryState
) -> None:
    state.data.update(reauthorization_needed=True, reason="old", grant="stale")
    await connector.send(ctx, reply())  # the config holds a grant the state has not seen
    assert "reauthorization_needed" not in state.data
    assert len(fake.sent) == 1


async def test_token_still_refused_after_refresh_is_not_retried_forever(
    ctx: ChannelContext, fake: FakeDouyin
) -> None:
    fake.fail_next_sends(2, error=TOKEN_EXPIRED)
    with pytest.raises(DeliveryError) as err:
        await connector.send(ctx, reply())
    assert "2190008" in err.value.reason
    assert (fake.refresh_calls, fake.send_attempts) == (1, 2)


async def test_refresh_network_failure_is_retryable_and_not_a_reauthorization(
    fake: FakeDouyin,
) -> None:
    async def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/oauth/refresh_token/":
            raise httpx.ConnectError("down")
        transport = httpx.ASGITransport(app=fake.app)
        return await transport.handle_async_request(request)

    ctx = ctx_with(httpx.MockTransport(handler), fake)
    fake.advance(timedelta(days=16))
    try:
        with pytest.raises(DeliveryError) as err:
            await connector.send(ctx, reply())
    finally:
        await ctx.http.aclose()
    assert err.value.retryable
    assert "reauthorization_needed" not in await ctx.state.load()


async def test_reply_limit_when_configured(fake: FakeDouyin, http: httpx.AsyncClient) -> None:
    config = fake.config(max_replies_per_window=2)
    ctx = ChannelContext(1, config, http, fake.base_url, MemoryState(), fake.now)
    await connector.send(ctx, reply())
    await connector.send(ctx, reply())
    with pytest.raises(DeliveryError) as err:
        await connector.send(ctx, reply())
    assert "reply limit reached" in err.value.reason and not err.value.retryable
    assert len(fake.sent) == 2
    # The customer writes again: a new msg_id opens a new count.
    fresh = dict(reply().reply_context, msg_id="@newer-customer-message==")
    await connector.send(ctx, reply(context=fresh))
    assert len(fake.sent) == 3


async def test_no_local_limit_by_default(ctx: ChannelContext, fake: FakeDouyin) -> None:
    for _ in range(8):
        await connector.send(ctx, reply())
    assert len(fake.sent) == 8
