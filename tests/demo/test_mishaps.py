"""The demo's occasional platform errors: each one fails or disturbs the next reply as the
real platform would, and the reply after it goes through."""

from __future__ import annotations

import random
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from channels.base import ChannelContext, ContentType, DeliveryError, OutboundMessage
from channels.douyin import connector as douyin
from channels.wechat import WeChatConfig
from channels.wechat import connector as wechat
from sandbox.douyin.fake import FakeDouyin
from sandbox.mishaps import Mishaps
from sandbox.wechat.fake import FakeWeChat
from tests.channels.douyin.douyin_support import MemoryState as DouyinState
from tests.channels.douyin.test_douyin_send import reply as douyin_reply
from tests.channels.wechat.wechat_support import OPENID
from tests.channels.wechat.wechat_support import MemoryState as WeChatState


@pytest.fixture
async def fakes() -> AsyncIterator[tuple[FakeWeChat, FakeDouyin, ChannelContext, ChannelContext]]:
    wx, dy = FakeWeChat(), FakeDouyin()
    async with (
        httpx.AsyncClient(transport=httpx.ASGITransport(app=wx.app)) as wx_http,
        httpx.AsyncClient(transport=httpx.ASGITransport(app=dy.app)) as dy_http,
    ):
        config = WeChatConfig(app_id=wx.app_id, app_secret=wx.app_secret, token="t")
        wx_ctx = ChannelContext(7, config, wx_http, "http://wx.fake", WeChatState(), wx.now)
        dy_ctx = ChannelContext(8, dy.config(), dy_http, dy.base_url, DouyinState(), dy.now)
        yield wx, dy, wx_ctx, dy_ctx


def wx_reply(key: str) -> OutboundMessage:
    return OutboundMessage(key, OPENID, ContentType.TEXT, "您好")


async def test_wechat_mishaps(fakes: Any) -> None:
    wx, dy, ctx, _ = fakes
    mishaps = Mishaps(wx, dy)
    await wechat.send(ctx, wx_reply("a"))

    mishaps.one("wechat reply window closed")
    with pytest.raises(DeliveryError) as err:
        await wechat.send(ctx, wx_reply("b"))
    assert err.value.reason.startswith("window_expired") and not err.value.retryable

    mishaps.one("wechat busy")
    with pytest.raises(DeliveryError) as err:
        await wechat.send(ctx, wx_reply("c"))
    assert err.value.retryable  # the delivery worker tries again

    tokens = len(wx.token_requests)
    mishaps.one("wechat token expired")
    await wechat.send(ctx, wx_reply("d"))  # refreshed and sent: the agent sees nothing
    assert len(wx.token_requests) == tokens + 1
    await wechat.send(ctx, wx_reply("e"))


async def test_douyin_mishaps(fakes: Any) -> None:
    wx, dy, _, ctx = fakes
    mishaps = Mishaps(wx, dy)
    mishaps.one("douyin reply window closed")
    with pytest.raises(DeliveryError) as err:
        await douyin.send(ctx, douyin_reply())
    assert not err.value.retryable

    mishaps.one("douyin busy")
    with pytest.raises(DeliveryError) as err:
        await douyin.send(ctx, douyin_reply())
    assert err.value.retryable

    mishaps.one("douyin token expired")
    await douyin.send(ctx, douyin_reply())  # refreshed with the refresh token, then sent
    assert len(dy.sent) == 1


def test_random_mishaps_cover_every_kind() -> None:
    mishaps = Mishaps(FakeWeChat(), FakeDouyin(), rng=random.Random(1))
    seen = {mishaps.one() for _ in range(200)}
    assert seen == set(mishaps.actions)
