"""Fixtures for the WeChat connector tests: the fake API and contexts on it."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest

from channels.base import ChannelContext
from channels.wechat import WeChatConfig
from sandbox.wechat.fake import FakeWeChat
from tests.channels.wechat.wechat_support import API_BASE, MakeCtx, MemoryState


@pytest.fixture
def fake() -> FakeWeChat:
    # A clock that moves only when a test moves it.
    return FakeWeChat(start=datetime(2024, 5, 1, 9, 30, tzinfo=UTC))


@pytest.fixture
def config(fake: FakeWeChat) -> WeChatConfig:
    return WeChatConfig.model_validate(
        dict(
            app_id=fake.app_id,
            app_secret=fake.app_secret,
            token="huiliu-token",
            aes_key="abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG",
        )
    )


@pytest.fixture
async def make_ctx(fake: FakeWeChat, config: WeChatConfig) -> AsyncIterator[MakeCtx]:
    """Build contexts on the fake API; `transport=` swaps in a misbehaving one."""
    clients: list[httpx.AsyncClient] = []

    def build(**overrides: Any) -> ChannelContext:
        transport = overrides.pop("transport", None) or httpx.ASGITransport(app=fake.app)
        client = httpx.AsyncClient(transport=transport)
        clients.append(client)
        options: dict[str, Any] = {
            "channel_id": 7,
            "config": config,
            "http": client,
            "api_base": API_BASE,
            "state": MemoryState(),
            "now": fake.now,
        }
        options.update(overrides)
        return ChannelContext(**options)

    yield build
    for client in clients:
        await client.aclose()


@pytest.fixture
def ctx(make_ctx: MakeCtx) -> ChannelContext:
    return make_ctx()
