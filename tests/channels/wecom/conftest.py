"""Fixtures for the WeCom connector tests: the fake kf API and contexts on it."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest

from channels.base import ChannelContext
from channels.wecom import WeComConfig
from sandbox.wecom.fake import FakeWeCom
from tests.channels.wechat.wechat_support import MemoryState
from tests.test_cli import run  # noqa: F401 - the CLI fixture, for test_wecom_cli

API_BASE = "http://qyapi.wecom.fake"
MakeCtx = Callable[..., ChannelContext]


@pytest.fixture
def fake() -> FakeWeCom:
    return FakeWeCom(start=datetime(2024, 5, 1, 9, 30, tzinfo=UTC))


@pytest.fixture
def config(fake: FakeWeCom) -> WeComConfig:
    return WeComConfig(
        corp_id=fake.corp_id,
        secret=fake.secret,
        token=fake.token,
        aes_key=fake.aes_key,
        open_kfid=list(fake.open_kfids),
    )


@pytest.fixture
async def make_ctx(fake: FakeWeCom, config: WeComConfig) -> AsyncIterator[MakeCtx]:
    clients: list[httpx.AsyncClient] = []

    def build(**overrides: Any) -> ChannelContext:
        transport = overrides.pop("transport", None) or httpx.ASGITransport(app=fake.app)
        client = httpx.AsyncClient(transport=transport)
        clients.append(client)
        options: dict[str, Any] = {
            "channel_id": 9,
            "config": config,
            "http": client,
            "api_base": API_BASE,
            "state": MemoryState(),
            "now": fake.now,
            **overrides,
        }
        return ChannelContext(**options)

    yield build
    for client in clients:
        await client.aclose()
