"""Fixtures: a FakeDouyin and a ChannelContext wired to it through httpx.ASGITransport."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest

from channels.base import ChannelContext
from sandbox.douyin.fake import FakeDouyin
from tests.channels.douyin.douyin_support import MemoryState


@pytest.fixture
def fake() -> FakeDouyin:
    return FakeDouyin()


@pytest.fixture
async def http(fake: FakeDouyin) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=fake.app)) as client:
        yield client


@pytest.fixture
def state() -> MemoryState:
    return MemoryState()


@pytest.fixture
def ctx(fake: FakeDouyin, http: httpx.AsyncClient, state: MemoryState) -> ChannelContext:
    return ChannelContext(
        channel_id=7,
        config=fake.config(),
        http=http,
        api_base=fake.base_url,
        state=state,
        now=fake.now,
    )
