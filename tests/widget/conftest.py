"""Fixtures: a running server (real websockets) with a Factory for staff."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from app.config import Settings
from app.main import create_app
from tests.conftest import Factory
from tests.realtime.serving import serving


class Live:
    def __init__(self, app: Any, host: str) -> None:
        self.app = app
        self.host = host
        self.base = f"http://{host}"
        self.http = httpx.AsyncClient(base_url=self.base)
        self.factory = Factory(app)


@pytest.fixture
async def live(settings: Settings) -> AsyncIterator[Live]:
    app = create_app(settings)
    # huiliu serve's websocket protocol (app/realtime/transport.py), as in production.
    async with serving(app, framed=True) as host:
        lv = Live(app, host)
        try:
            yield lv
        finally:
            await lv.http.aclose()
