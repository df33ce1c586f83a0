"""A real uvicorn server for websocket tests, with `huiliu serve`'s websocket protocol."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from app.realtime.transport import WEBSOCKET_OPTIONS
from tests.support.server import running


@asynccontextmanager
async def serving(app: Any, framed: bool) -> AsyncIterator[str]:
    """tests/support/server.py's `running`, with `huiliu serve`'s websocket protocol when
    `framed` (the hub's frames written straight to the socket), uvicorn's default if not."""
    async with running(app, **(WEBSOCKET_OPTIONS if framed else {})) as host:
        yield host
