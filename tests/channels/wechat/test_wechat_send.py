"""send(): access token caching and refresh (one refresh at a time), errcode mapping,
via the fake WeChat API."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from channels.base import (
    ChannelContext,
    ContentType,
    DeliveryError,
    OutboundMessage,
    dump_config,
)
from channels.wechat import WeChatConfig, api, connector
from channels.wechat.api import STATE_KEY
from sandbox.wechat.fake import FakeWeChat
from tests.channels.wechat.wechat_support import OPENID, MakeCtx, MemoryState


def reply(text: str = "您好，已为您查询", recipient: str = OPENID) -> OutboundMessage:
    return OutboundMessage(
        idempotency_key="msg-1", recipient=recipient, content_type=ContentType.TEXT, text=text
    )


class FailingTransport(httpx.AsyncBaseTransport):
    """Delegates to the fake, but raises `exc` for requests to `path`."""

    def __init__(self, fake: FakeWeChat, path: str, exc: type[httpx.TransportError]) -> None:
        self.inner = httpx.ASGITransport(app=fake.app)
        self.path, self.exc = path, exc

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if request.url.path == self.path:
            raise self.exc("simulated", request=request)
        return await self.inner.handle_async_request(request)


class SlowTokenTransport(httpx.AsyncBaseTransport):
    """Delegates to the fake, but the token endpoint answers late, so that concurrent
    sends really overlap while a refresh is in flight."""

    def __init__(self, fake: FakeWeChat, delay: float = 0.05) -> None:
        self.inner = httpx.ASGITransport(app=fake.app)
        self.delay = delay

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if request.url.path == "/cgi-bin/stable_token":
            await asyncio.sleep(self.delay)
        return await self.inner.handle_async_request(request)


class LockingState(MemoryState):
    """A ChannelState with the product's optional cross-process `lock(name)`."""

    def __init__(self) -> None:
        super().__init__()
        self.locked: list[str] = []

    @asynccontextmanager
    async def lock(self, name: str) -> AsyncIterator[None]:
        self.locked.append(name)
        yield


async def test_text_is_sent_with_a_cached_token(fake: FakeWeChat, ctx: ChannelContext) -> None:
    result = await connector.send(ctx, reply("第一条"))
    await connector.send(ctx, reply("second"))
    assert result.external_id is None  # the send API returns no msgid
    assert fake.sent == [
        {"touser": OPENID, "msgtype": "text", "text": {"content": "第一条"}},
        {"touser": OPENID, "msgtype": "text", "text": {"content": "second"}},
    ]
    assert len(fake.token_requests) == 1
    assert fake.token_requests[0]["endpoint"] == "stable_token"
    # Chinese goes out as UTF-8, not \\u escapes.
    assert "第一条".encode() in fake.attempts[0]["body"]
    state = ctx.state
    assert isinstance(state, MemoryState)
    assert state.data[STATE_KEY]["token"] == fake.attempts[0]["access_token"]


async def test_token_is_shared_through_channel_state(fake: FakeWeChat, make_ctx: MakeCtx) -> None:
    state = MemoryState()
    await connector.send(make_ctx(state=state), reply())
    await connector.send(make_ctx(state=state), reply())
    assert len(fake.token_requests) == 1
    assert fake.attempts[0]["access_token"] == fake.attempts[1]["access_token"]


async def test_token_is_refreshed_a_margin_before_expiry(
    fake: FakeWeChat, ctx: ChannelContext
) -> None:
    await connector.send(ctx, reply())
    fake.advance(7200 - 301)  # still more than the 300 s margin left
    await connector.send(ctx, reply())
    assert len(fake.token_requests) == 1
    fake.advance(2)  # now inside the margin
    await connector.send(ctx, reply())
    assert len(fake.token_requests) == 2
    tokens = [attempt["access_token"] for attempt in fake.attempts]
    assert tokens[0] == tokens[1] != tokens[2]
    assert [attempt["errcode"] for attempt in fake.attempts] == [0, 0, 0]


async def test_token_long_expired_is_replaced(fake: FakeWeChat, ctx: ChannelContext) -> None:
    await connector.send(ctx, reply())
    fake.advance(3 * 7200)
    await connector.send(ctx, reply())
    assert len(fake.token_requests) == 2
    assert [attempt["errcode"] for attempt in fake.attempts] == [0, 0]


async def test_expired_token_42001_refreshes_and_retries(
    fake: FakeWeChat, make_ctx: MakeCtx
) -> None:
    # The connector's clock stands still while the platform's moves on: it believes the
    # cached token is fresh and learns otherwise from errcode 42001.
    frozen = fake.now()
    ctx = make_ctx(now=lambda: frozen)
    await connector.send(ctx, reply())
    fake.advance(7300)
    await connector.send(ctx, reply())
    assert [attempt["errcode"] for attempt in fake.attempts] == [0, 42001, 0]
    assert len(fake.sent) == 2


async def test_invalid_token_40001_refreshes_and_retries_once(
    fake: FakeWeChat, ctx: ChannelContext
) -> None:
    await connector.send(ctx, reply())
    fake.invalidate_tokens()
    await connector.send(ctx, reply("after reset"))
    assert [attempt["errcode"] for attempt in fake.attempts] == [0, 40001, 0]
    assert len(fake.token_requests) == 2
    assert fake.sent[-1]["text"]["content"] == "after reset"


async def test_token_rejected_twice_gives_up_after_one_retry(
    fake: FakeWeChat, ctx: ChannelContext
) -> None:
    fake.fail_next_sends(40001, count=5)
    with pytest.raises(DeliveryError) as caught:
        await connector.send(ctx, reply())
    assert len(fake.attempts) == 2
    assert caught.value.retryable is True
    assert "40001" in caught.value.reason
    # Normal mode handed back the same token, so the refresh had to be forced.
    assert [r["force_refresh"] for r in fake.token_requests] == [False, False, True]
    assert fake.attempts[0]["access_token"] != fake.attempts[1]["access_token"]
    assert fake.sent == []


async def test_ten_concurrent_sends_share_one_refresh_after_40001(
    fake: FakeWeChat, make_ctx: MakeCtx
) -> None:
    ctx = make_ctx(transport=SlowTokenTransport(fake))
    await connector.send(ctx, reply("before"))
    fake.invalidate_tokens()
    fake.token_requests.clear()
    fake.attempts.clear()
    await asyncio.gather(*(connector.send(ctx, reply(f"m{i}")) for i in range(10)))
    assert len(fake.token_requests) == 1
    assert sorted(m["text"]["content"] for m in fake.sent[1:]) == sorted(f"m{i}" for i in range(10))
    # All ten were refused with the old token, then all ten used the one new token.
    assert [a["errcode"] for a in fake.attempts] == [40001] * 10 + [0] * 10
    assert len({a["access_token"] for a in fake.attempts[10:]}) == 1


async def test_ten_concurrent_sends_share_one_refresh_after_expiry(
    fake: FakeWeChat, make_ctx: MakeCtx
) -> None:
    ctx = make_ctx(transport=SlowTokenTransport(fake))
    await connector.send(ctx, reply("before"))
    fake.advance(7200)  # the connector sees the cached token past its refresh time
    fake.token_requests.clear()
    await asyncio.gather(*(connector.send(ctx, reply(f"m{i}")) for i in range(10)))
    assert len(fake.token_requests) == 1
    assert len(fake.sent) == 11
    assert [a["errcode"] for a in fake.attempts] == [0] * 11


async def test_concurrent_sends_on_a_stale_cached_token_fetch_one(
    fake: FakeWeChat, make_ctx: MakeCtx
) -> None:
    state = MemoryState()
    # A token the cache believes fresh but WeChat no longer knows (e.g. another server
    # reset the secret): every send learns it from errcode 40001.
    state.data = {
        STATE_KEY: {
            "token": "STALE",
            "app_id": fake.app_id,
            "refresh_at": "2999-01-01T00:00:00+00:00",
        }
    }
    ctx = make_ctx(transport=SlowTokenTransport(fake), state=state)
    await asyncio.gather(*(connector.send(ctx, reply(f"m{i}")) for i in range(10)))
    assert len(fake.token_requests) == 1
    assert fake.token_requests[0]["force_refresh"] is False
    assert len(fake.sent) == 10
    assert state.data[STATE_KEY]["token"] != "STALE"


async def test_token_refreshed_by_another_waiter_is_reused(
    fake: FakeWeChat, ctx: ChannelContext, config: WeChatConfig
) -> None:
    state = ctx.state
    assert isinstance(state, MemoryState)
    fresh = {"app_id": fake.app_id, "refresh_at": "2999-01-01T00:00:00+00:00"}
    state.data = {STATE_KEY: {**fresh, "token": "REJECTED"}}
    lock = api.refresh_lock(ctx, config)
    async with lock:  # another waiter is refreshing
        waiting = asyncio.create_task(api.access_token(ctx, config, rejected="REJECTED"))
        await asyncio.sleep(0.01)
        assert not waiting.done()  # it queued behind the refresh in progress
        state.data = {STATE_KEY: {**fresh, "token": "REFRESHED_BY_OTHER"}}
    assert await waiting == "REFRESHED_BY_OTHER"
    assert fake.token_requests == []


async def test_waiter_does_not_reuse_the_token_it_saw_rejected(
    fake: FakeWeChat, ctx: ChannelContext, config: WeChatConfig
) -> None:
    state = ctx.state
    assert isinstance(state, MemoryState)
    fresh = {"app_id": fake.app_id, "refresh_at": "2999-01-01T00:00:00+00:00"}
    state.data = {STATE_KEY: {**fresh, "token": "REJECTED"}}
    async with api.refresh_lock(ctx, config):
        waiting = asyncio.create_task(api.access_token(ctx, config, rejected="REJECTED"))
        await asyncio.sleep(0.01)
    token = await waiting
    assert token != "REJECTED"
    assert len(fake.token_requests) == 1


async def test_refresh_takes_the_states_cross_process_lock(
    fake: FakeWeChat, make_ctx: MakeCtx
) -> None:
    state = LockingState()
    ctx = make_ctx(state=state)
    await connector.send(ctx, reply())
    await connector.send(ctx, reply())  # cached: no lock needed
    assert state.locked == [api.LOCK_NAME]
    assert len(fake.token_requests) == 1


async def test_window_closed_45015_is_permanent(fake: FakeWeChat, ctx: ChannelContext) -> None:
    fake.customer_wrote(OPENID, at=fake.now() - timedelta(hours=48, seconds=1))
    with pytest.raises(DeliveryError) as caught:
        await connector.send(ctx, reply())
    error = caught.value
    assert (error.retryable, error.uncertain) == (False, False)
    assert error.reason.startswith("window_expired:")
    assert "45015" in error.reason and "48 小时" in error.reason
    assert fake.sent == []


async def test_inside_the_window_is_accepted(fake: FakeWeChat, ctx: ChannelContext) -> None:
    fake.customer_wrote(OPENID, at=fake.now() - timedelta(hours=47))
    await connector.send(ctx, reply())
    assert len(fake.sent) == 1


async def test_quota_45047_after_five_replies(fake: FakeWeChat, ctx: ChannelContext) -> None:
    fake.customer_wrote(OPENID)
    for _ in range(5):
        await connector.send(ctx, reply())
    with pytest.raises(DeliveryError) as caught:
        await connector.send(ctx, reply())
    assert caught.value.reason.startswith("quota_exceeded:")
    assert caught.value.retryable is False
    fake.customer_wrote(OPENID)  # a new customer message opens a fresh window
    await connector.send(ctx, reply())
    assert len(fake.sent) == 6


@pytest.mark.parametrize(
    ("errcode", "retryable", "word"),
    [
        (-1, True, "system_busy"),
        (45011, True, "rate_limited"),
        (45015, False, "window_expired"),
        (43004, False, "not_following"),
        (48001, False, "not_authorized"),
        (40003, False, "invalid_openid"),
        (99999, False, "platform_error"),
    ],
)
async def test_errcode_in_a_200_answer_is_mapped(
    fake: FakeWeChat, ctx: ChannelContext, errcode: int, retryable: bool, word: str
) -> None:
    fake.fail_next_sends(errcode)
    with pytest.raises(DeliveryError) as caught:
        await connector.send(ctx, reply())
    assert caught.value.retryable is retryable
    assert caught.value.reason.startswith(f"{word}:")
    assert f"errcode {errcode}" in caught.value.reason
    assert len(fake.attempts) == 1  # no blind retry inside send
    await connector.send(ctx, reply())  # the fake is healthy again
    assert len(fake.sent) == 1


@pytest.mark.parametrize(
    ("status", "retryable"), [(503, True), (500, True), (429, True), (403, False)]
)
async def test_http_errors(
    fake: FakeWeChat, ctx: ChannelContext, status: int, retryable: bool
) -> None:
    fake.fail_next_sends(-1, http_status=status)
    with pytest.raises(DeliveryError) as caught:
        await connector.send(ctx, reply())
    assert caught.value.retryable is retryable
    assert str(status) in caught.value.reason


@pytest.mark.parametrize(
    "exc",
    # A reset while writing: the request never reached WeChat whole, so it is retried.
    [httpx.ConnectError, httpx.ConnectTimeout, httpx.WriteError, httpx.WriteTimeout],
)
async def test_not_sent_errors_are_retryable(
    fake: FakeWeChat, make_ctx: MakeCtx, exc: type[httpx.TransportError]
) -> None:
    transport = FailingTransport(fake, "/cgi-bin/message/custom/send", exc)
    with pytest.raises(DeliveryError) as caught:
        await connector.send(make_ctx(transport=transport), reply())
    assert (caught.value.retryable, caught.value.uncertain) == (True, False)


@pytest.mark.parametrize("exc", [httpx.ReadTimeout, httpx.ReadError, httpx.RemoteProtocolError])
async def test_failures_after_the_request_was_written_are_uncertain(
    fake: FakeWeChat, make_ctx: MakeCtx, exc: type[httpx.TransportError]
) -> None:
    transport = FailingTransport(fake, "/cgi-bin/message/custom/send", exc)
    with pytest.raises(DeliveryError) as caught:
        await connector.send(make_ctx(transport=transport), reply())
    assert (caught.value.retryable, caught.value.uncertain) == (False, True)


async def test_read_timeout_on_token_is_retryable(fake: FakeWeChat, make_ctx: MakeCtx) -> None:
    transport = FailingTransport(fake, "/cgi-bin/stable_token", httpx.ReadTimeout)
    with pytest.raises(DeliveryError) as caught:
        await connector.send(make_ctx(transport=transport), reply())
    assert (caught.value.retryable, caught.value.uncertain) == (True, False)
    assert fake.attempts == []


async def test_unreadable_200_on_send_is_uncertain(make_ctx: MakeCtx) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/cgi-bin/stable_token":
            return httpx.Response(200, json={"access_token": "T", "expires_in": 7200})
        return httpx.Response(200, text="<html>gateway</html>")

    ctx = make_ctx(transport=httpx.MockTransport(handler))
    with pytest.raises(DeliveryError) as caught:
        await connector.send(ctx, reply())
    assert caught.value.uncertain is True


@pytest.mark.parametrize(
    ("field", "value", "word"),
    [("app_secret", "wrong", "invalid_secret"), ("app_id", "wx_wrong", "invalid_appid")],
)
async def test_bad_credentials_are_permanent(
    fake: FakeWeChat, make_ctx: MakeCtx, field: str, value: str, word: str
) -> None:
    ctx = make_ctx()
    ctx.config = WeChatConfig.model_validate({**dump_config(ctx.config), field: value})
    with pytest.raises(DeliveryError) as caught:
        await connector.send(ctx, reply())
    assert caught.value.retryable is False
    assert caught.value.reason.startswith(f"{word}:")
    assert fake.attempts == []


async def test_msgid_becomes_the_external_id(make_ctx: MakeCtx) -> None:
    fake = FakeWeChat(return_msgid=True, start=datetime(2024, 5, 1, tzinfo=UTC))
    ctx = make_ctx(transport=httpx.ASGITransport(app=fake.app), now=fake.now)
    result = await connector.send(ctx, reply())
    assert result.external_id == "1000001"


async def test_cached_token_of_another_app_is_not_used(
    fake: FakeWeChat, ctx: ChannelContext
) -> None:
    state = ctx.state
    assert isinstance(state, MemoryState)
    state.data = {
        "cursor": 5,
        STATE_KEY: {"token": "OLD", "app_id": "wx_old", "refresh_at": "2999-01-01T00:00:00+00:00"},
    }
    await connector.send(ctx, reply())
    assert fake.attempts[0]["access_token"] != "OLD"
    assert state.data["cursor"] == 5  # other state survives


async def test_non_text_is_refused_without_calling_wechat(
    fake: FakeWeChat, ctx: ChannelContext
) -> None:
    voice = OutboundMessage(
        idempotency_key="k", recipient=OPENID, content_type=ContentType.VOICE, text=""
    )
    with pytest.raises(DeliveryError, match="unsupported_type") as caught:
        await connector.send(ctx, voice)
    assert caught.value.retryable is False
    with pytest.raises(DeliveryError, match="empty_content"):
        await connector.send(ctx, reply("   "))
    assert fake.attempts == [] and fake.token_requests == []


async def test_fake_records_the_json_body_exactly(fake: FakeWeChat, ctx: ChannelContext) -> None:
    await connector.send(ctx, reply('引号 " 和 <b>'))
    assert json.loads(fake.attempts[0]["body"])["text"]["content"] == '引号 " 和 <b>'


async def test_choices_go_out_as_a_msgmenu(fake: FakeWeChat, ctx: ChannelContext) -> None:
    survey = OutboundMessage(
        idempotency_key="msg-2",
        recipient=OPENID,
        content_type=ContentType.TEXT,
        text="请为本次服务打分",
        choices=(("csat_5", "5 非常满意"), ("csat_1", "1 非常不满意")),
    )
    await connector.send(ctx, survey)
    assert fake.sent == [
        {
            "touser": OPENID,
            "msgtype": "msgmenu",
            "msgmenu": {
                "head_content": "请为本次服务打分",
                "list": [
                    {"id": "csat_5", "content": "5 非常满意"},
                    {"id": "csat_1", "content": "1 非常不满意"},
                ],
                "tail_content": "",
            },
        }
    ]
    assert connector.capabilities.menus
