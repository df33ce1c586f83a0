"""Body caps on a real server: a chunked body over the cap is refused while it streams, and a
widget websocket message over the server's cap is refused before it is read whole."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

import pytest
from websockets.exceptions import ConnectionClosed

from app.config import Settings
from app.main import create_app
from app.realtime.transport import WEBSOCKET_OPTIONS
from app.web.bodylimit import SERVER_LIMITS, WS_MAX_BYTES
from tests.support.server import running
from tests.widget.support import Visitor, visitor_socket, webchat_channel

CAP = 64 * 1024


@pytest.fixture
async def served(settings: Settings) -> AsyncIterator[tuple[Any, str]]:
    app = create_app(settings.model_copy(update={"max_body_bytes": CAP}), run_workers=False)
    # The options `huiliu serve` gives uvicorn (app/cli.py).
    async with running(app, **WEBSOCKET_OPTIONS, **SERVER_LIMITS) as host:
        yield app, host


async def chunked(
    host: str, path: str, size: int, *, finish: bool, headers: dict[str, str] | None = None
) -> str:
    """POST `size` bytes in 8 KiB chunks; the status line answered, read within 5 s.

    With finish=False the closing chunk is never sent: a server that wanted the whole
    body first would wait forever, so an answer proves the cap acted mid-stream."""
    address, port = host.split(":")
    reader, writer = await asyncio.open_connection(address, int(port))
    head = [f"POST {path} HTTP/1.1", f"Host: {host}", "Transfer-Encoding: chunked"]
    head += [f"{k}: {v}" for k, v in (headers or {}).items()]
    writer.write(("\r\n".join(head) + "\r\n\r\n").encode())
    sent = 0
    while sent < size:
        piece = b"x" * min(8192, size - sent)
        writer.write(f"{len(piece):x}\r\n".encode() + piece + b"\r\n")
        await writer.drain()
        sent += len(piece)
    if finish:
        writer.write(b"0\r\n\r\n")
    await writer.drain()
    try:
        status = await asyncio.wait_for(reader.readline(), 5)
    finally:
        writer.close()
    return status.decode().strip()


@pytest.mark.parametrize(
    ("path", "content_type"),
    [
        ("/api/v1/conversations/1/messages", "application/json"),  # read before auth
        ("/api/v1/conversations/1/attachments", "multipart/form-data; boundary=b"),
        ("/widget/1/upload", "multipart/form-data; boundary=b"),
        ("/webhooks/wechat/1", "text/xml"),
    ],
)
async def test_chunked_body_over_the_cap_is_refused_while_streaming(
    served: tuple[Any, str], path: str, content_type: str
) -> None:
    _, host = served
    status = await chunked(
        host, path, CAP + 1, finish=False, headers={"Content-Type": content_type}
    )
    assert status.startswith("HTTP/1.1 413"), status


async def test_chunked_body_at_the_cap_goes_through(served: tuple[Any, str]) -> None:
    _, host = served
    status = await chunked(
        host,
        "/api/v1/conversations/1/messages",
        CAP,
        finish=True,
        headers={"Content-Type": "application/json"},
    )
    # Read whole, then refused for what it is (not JSON), not for its size.
    assert status.startswith("HTTP/1.1 422"), status


async def test_widget_frame_over_the_server_cap_closes_before_the_app_reads_it(
    served: tuple[Any, str],
) -> None:
    app, host = served
    ch = await webchat_channel(app)
    async with visitor_socket(host, ch["id"]) as ws:
        v = Visitor(ws)
        await v.hello()
        await ws.send(json.dumps({"type": "message", "echo_id": "e", "text": "x" * WS_MAX_BYTES}))
        with pytest.raises(ConnectionClosed) as closed:
            for _ in range(10):
                await v.recv()
        assert closed.value.rcvd is not None and closed.value.rcvd.code == 1009
