"""A real uvicorn server for websocket tests, with `huiliu serve`'s websocket protocol."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import uvicorn

from app.realtime.transport import WEBSOCKET_OPTIONS


@asynccontextmanager
async def serving(app: Any, framed: bool) -> AsyncIterator[str]:
    """tests/support/server.py's `running`, with `huiliu serve`'s websocket protocol when
    `framed` (the hub's frames written straight to the socket), uvicorn's default if not."""
    options = WEBSOCKET_OPTIONS if framed else {}
    config = uvicorn.Config(
        app, host="127.0.0.1", port=0, log_level="warning", lifespan="on", **options
    )
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())
    while not server.started:  # noqa: ASYNC110 - uvicorn offers no event to wait on
        if task.done():
            task.result()
        await asyncio.sleep(0.01)
    port = server.servers[0].sockets[0].getsockname()[1]
    try:
        yield f"127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await asyncio.wait_for(task, 10)
