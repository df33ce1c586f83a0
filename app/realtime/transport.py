"""uvicorn's websocket protocol, plus a way for the fan-out to write encoded frames.

Every agent socket gets the same bytes for an event: server frames are never masked
(RFC 6455 5.1) and permessage-deflate is off, so the hub encodes each event's frame
once and each socket's writer hands its whole backlog to the kernel in one write.
Through ASGI each frame cost ~25 us on the bench machine: the middlewares' send
wrappers, websockets' frame building and a write() syscall per frame, 400 frames per
message with 200 agents (make bench, live latency).

The writer is offered as the ASGI scope extension `huiliu.frames` (`write`, which waits
while the kernel's buffer is full, and `write_now`, which the hub calls for a socket
whose own writer is asleep, app/realtime/subscribers.py `deliver_all`); under another server
(or Starlette's TestClient) it is absent and the endpoints send each event's text
through ASGI as before. `huiliu serve` selects this protocol (`WEBSOCKET_OPTIONS`).
"""

from __future__ import annotations

import asyncio
from collections import deque
from typing import Any

from uvicorn.protocols.utils import ClientDisconnected
from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol
from websockets.frames import Frame, Opcode
from websockets.protocol import State

EXTENSION = "huiliu.frames"

# What `huiliu serve` (app/cli.py) passes to uvicorn for websockets.
WEBSOCKET_OPTIONS: dict[str, Any] = {
    "ws": "app.realtime.transport:FrameWriterProtocol",
    # Per-socket zlib state cost 77 MB RSS per 1,000 idle agent sockets; without it
    # 43 MB (make bench). Live events are small JSON frames, and every frame would be
    # compressed once per socket: the fan-out's CPU goes to sending instead.
    "ws_per_message_deflate": False,
}


def text_frame(text: str) -> bytes:
    """One unfragmented, unmasked text frame: what a server sends."""
    return Frame(Opcode.TEXT, text.encode()).serialize(mask=False)


class ReceiveQueue:
    """What uvicorn needs of the asyncio.Queue it gives each socket for ASGI `receive`
    (`put_nowait`, `get`, `empty`): a deque made on the first put and a list of waiting
    getters. An asyncio.Queue holds four deques and an Event, ~3 KB per idle socket
    (tests/bench/ws_memory_profile.py). Unbounded, like uvicorn's: reading from the
    client is paused by uvicorn's own flow control."""

    __slots__ = ("_items", "_getters")

    def __init__(self) -> None:
        self._items: deque[Any] | None = None
        self._getters: list[asyncio.Future[None]] | None = None

    def empty(self) -> bool:
        return not self._items

    def put_nowait(self, item: Any) -> None:
        if self._items is None:
            self._items = deque()
        self._items.append(item)
        for getter in self._getters or ():
            if not getter.done():
                getter.set_result(None)
                break

    async def get(self) -> Any:
        # The item is taken only after waking: a getter cancelled once woken loses nothing.
        while not self._items:
            getter = asyncio.get_running_loop().create_future()
            if self._getters is None:
                self._getters = []
            self._getters.append(getter)
            try:
                await getter
            except asyncio.CancelledError:
                if getter.done() and self._items:  # woken, then cancelled: pass it on
                    self._wake_next(getter)
                raise
            finally:
                self._getters.remove(getter)
        return self._items.popleft()

    def _wake_next(self, skip: asyncio.Future[None]) -> None:
        for getter in self._getters or ():
            if getter is not skip and not getter.done():
                getter.set_result(None)
                return


class FrameWriterProtocol(WebSocketsSansIOProtocol):
    """Adds `write_frames` to the scope's extensions, a lighter receive queue, and
    forgets the handshake once it is done: uvicorn keeps the upgrade request and the
    response, headers and all, for the socket's whole life (bench_memory)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.queue = ReceiveQueue()  # type: ignore[assignment]

    def handle_connect(self, event: Any) -> None:
        super().handle_connect(event)
        scope = getattr(self, "scope", None)
        if scope is not None and not self.conn.extensions:  # compressed frames differ
            scope.setdefault("extensions", {})[EXTENSION] = {
                "write": self.write_frames,
                "write_now": self.write_now,
            }

    async def send(self, message: Any) -> None:
        await super().send(message)
        if self.handshake_complete and getattr(self, "response", None) is not None:
            self.request = self.response = None  # type: ignore[assignment]

    def write_now(self, data: bytes) -> bool:
        """Write whole frames at once if the socket is open and the kernel takes bytes
        (uvicorn's flow control has not paused writing); False, and nothing written, if
        not: the caller queues them for the socket's writer, which waits like `send`."""
        if (
            not self.writable.is_set()
            or self.disconnected
            or self.close_sent
            or self.conn.state is not State.OPEN
            or self.transport.is_closing()
        ):
            return False
        self.transport.write(data)
        return True

    async def write_frames(self, data: bytes) -> None:
        """Write whole frames from `text_frame`; raises ClientDisconnected like `send`."""
        if not self.writable.is_set():  # the kernel's buffer is full: wait like `send`
            await self.writable.wait()
        if self.disconnected or self.close_sent or self.conn.state is not State.OPEN:
            raise ClientDisconnected()
        self.transport.write(data)
