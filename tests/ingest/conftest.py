"""What the end-to-end platform tests share: the product serving one channel whose fake
platform API runs as a real HTTP server on loopback, reached through the channel type's
HUILIU_<TYPE>_API_BASE (the production code path)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from app.config import Settings
from app.main import create_app
from app.workspace import create_channel
from tests.conftest import Factory
from tests.support.server import running

PlatformApp = Callable[
    [FastAPI, str, str, dict[str, Any]], AbstractAsyncContextManager[dict[str, Any]]
]


@pytest.fixture
def platform_app(settings: Settings) -> PlatformApp:
    """`async with platform_app(fake.app, type, name, config) as env`: the product (no
    workers: tests run them) with one channel of `type`; `env` holds the app, an HTTP
    client to it, the channel's id, its webhook `url` and a Factory."""

    @asynccontextmanager
    async def serve(
        fake_app: FastAPI, channel_type: str, name: str, config: dict[str, Any]
    ) -> AsyncIterator[dict[str, Any]]:
        async with running(fake_app) as fake_host:
            bases = {channel_type: f"http://{fake_host}"}
            app = create_app(settings.with_api_bases(**bases), run_workers=False)
            async with app.router.lifespan_context(app):
                transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
                async with httpx.AsyncClient(
                    transport=transport, base_url="http://testserver"
                ) as c:
                    async with app.state.services.db.session() as session:
                        channel = await create_channel(session, channel_type, name, config)
                    yield {
                        "app": app,
                        "client": c,
                        "channel_id": channel.id,
                        "url": f"/webhooks/{channel_type}/{channel.id}",
                        "factory": Factory(app),
                    }

    return serve
