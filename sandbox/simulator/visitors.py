"""Simulated website visitors: the widget's websocket protocol, spoken as widget.js does.

A visitor connects to `WS /widget/{channel_id}/ws` with an Origin header, says
`hello` (with its visitor token once it has one, and the last message id it saw so
the server replays what it missed), optionally answers the pre-chat form, and sends
`message` frames with an echo_id, one at a time, each acknowledged by an `ack` (or
refused by an `error`). Agents' replies arrive as `message` frames: counted, so the
simulator knows when to answer. A dropped socket is reopened with backoff, like the
widget; 4403/4404 are refusals for good.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import random
import secrets
import time
from typing import Any
from urllib.parse import urlsplit

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import InvalidHandshake, WebSocketException
from websockets.typing import Origin

from channels.webchat.config import WebchatConfig
from channels.webchat.origins import normalize_origin

REFUSED_FOR_GOOD = (4403, 4404)  # this site may not embed the channel / no such channel
RATE_LIMITED = 4429
ANSWER_SECONDS = 10.0  # how long a message waits for its ack


def socket_url(base_url: str, channel_id: int) -> str:
    parts = urlsplit(base_url.rstrip("/"))
    scheme = "wss" if parts.scheme == "https" else "ws"
    return f"{scheme}://{parts.netloc}{parts.path}/widget/{channel_id}/ws"


def visitor_origin(base_url: str, config: WebchatConfig) -> str | None:
    """The server's own origin (always allowed), unless the channel names sites: then one
    of those, as a page embedding the widget would send."""
    parts = urlsplit(base_url)
    own = normalize_origin(f"{parts.scheme}://{parts.netloc}")
    if not config.allowed_origin or own in config.allowed_origin:
        return own
    return config.allowed_origin[0].replace("://*.", "://www.", 1)


class Visitor:
    """One simulated website visitor and its (re)connecting widget socket."""

    def __init__(
        self,
        base_url: str,
        channel_id: int,
        config: WebchatConfig,
        *,
        name: str | None = None,
        rng: random.Random | None = None,
    ) -> None:
        self.url = socket_url(base_url, channel_id)
        self.origin = visitor_origin(base_url, config)
        self.token: str | None = None  # issued in `welcome`; kept across reconnects
        self.last_message_id = 0
        self.replies = 0  # agents' messages received
        self.connects = 0
        self.close_code: int | None = None  # of the last socket
        self.refused = False  # 4403/4404: the widget stops for good, and so do we
        self.last_active = time.monotonic()
        self.name = name  # given in the pre-chat form
        self._prechat_name = name  # answered after the first `ready`
        self._rng = rng or random.Random()
        self._seen: set[int] = set()
        self._acks: dict[str, asyncio.Future[str | None]] = {}
        self._ws: ClientConnection | None = None
        self._ready = asyncio.Event()
        self._ended = asyncio.Event()  # a socket closed (or never opened)
        self._task: asyncio.Task[None] | None = None
        self._closing = False

    @property
    def open(self) -> bool:
        """Connected, or trying to be."""
        return self._task is not None and not self._task.done()

    def start(self) -> None:
        if not self.open and not self.refused:
            self._closing = False
            self._task = asyncio.create_task(self._run(), name="sim-visitor")

    async def say(self, text: str) -> str | None:
        """Send one message; None once acknowledged, else why not (a Stats error key)."""
        self.last_active = time.monotonic()
        if self.refused:
            return f"WS {self.close_code}"
        self.start()
        if not await self._wait_ready(ANSWER_SECONDS):
            return f"WS {self.close_code}" if self.close_code else "WS unreachable"
        echo_id = secrets.token_hex(12)
        answer: asyncio.Future[str | None] = asyncio.get_running_loop().create_future()
        self._acks[echo_id] = answer
        try:
            assert self._ws is not None
            frame = {"type": "message", "echo_id": echo_id, "text": text}
            await self._ws.send(json.dumps(frame, ensure_ascii=False))
            return await asyncio.wait_for(answer, ANSWER_SECONDS)
        except (WebSocketException, TimeoutError):
            return "WS no ack"
        finally:
            self._acks.pop(echo_id, None)

    async def close(self) -> None:
        """Leave the page: close the socket and stop reconnecting."""
        self._closing = True
        task, self._task = self._task, None
        if task is None:
            return
        ws = self._ws
        if ws is not None:  # a clean close (1000), as when the page is left
            with contextlib.suppress(Exception):
                await asyncio.wait_for(ws.close(), 3)
        task.cancel()  # also ends a backoff sleep
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await task

    # --- the socket ------------------------------------------------------------------

    async def _wait_ready(self, timeout: float) -> bool:
        if self._ready.is_set():
            return True
        self._ended.clear()
        waits = {asyncio.ensure_future(e.wait()) for e in (self._ready, self._ended)}
        _, pending = await asyncio.wait(waits, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
        for waiter in pending:
            waiter.cancel()
        return self._ready.is_set()

    async def _run(self) -> None:
        """Connect, and reconnect with backoff (widget.js: 1-2 s, 2-4 s ... up to 30 s;
        at least 10 s when rate limited) until closed or refused for good."""
        attempt = 0
        while not self._closing:
            was_ready = await self._session()
            self._ended.set()
            if self._closing:
                return
            if self.close_code in REFUSED_FOR_GOOD:
                self.refused = True
                return
            attempt = 0 if was_ready else attempt + 1
            base = min(30.0, 2.0 * 2**attempt)
            delay = base / 2 + self._rng.random() * base / 2
            if self.close_code == RATE_LIMITED:
                delay = max(delay, 10 + self._rng.random() * 5)
            await asyncio.sleep(delay)

    async def _session(self) -> bool:
        """One socket, from hello to close; True if it reached `ready`."""
        self.close_code = None
        reached = False
        try:
            async with connect(
                self.url,
                origin=Origin(self.origin) if self.origin else None,
                open_timeout=10,
                close_timeout=3,
            ) as ws:
                self._ws = ws
                self.connects += 1
                hello = {
                    "type": "hello",
                    "token": self.token,
                    "last_message_id": self.last_message_id,
                }
                await ws.send(json.dumps(hello))
                try:
                    async for raw in ws:
                        if await self._on_frame(ws, raw):
                            reached = True
                finally:
                    self.close_code = ws.close_code
        except (OSError, TimeoutError, InvalidHandshake, WebSocketException):
            pass
        finally:
            self._ws = None
            self._ready.clear()
            for answer in self._acks.values():  # in flight when the socket dropped
                if not answer.done():
                    answer.set_result("WS dropped")
        return reached

    async def _on_frame(self, ws: ClientConnection, raw: str | bytes) -> bool:
        """Act on a server frame; True for `ready`."""
        try:
            frame: dict[str, Any] = json.loads(raw)
        except ValueError:
            return False
        kind = frame.get("type")
        if kind == "welcome":
            self.token = frame.get("token") or self.token
        elif kind == "ready":
            if self._prechat_name:  # the pre-chat form, saved with the first message
                prechat = {"type": "prechat", "fields": {"name": self._prechat_name}}
                await ws.send(json.dumps(prechat, ensure_ascii=False))
                self._prechat_name = None
            self._ready.set()
            return True
        elif kind == "message":
            await self._on_message(ws, frame.get("message") or {})
        elif kind == "ack":
            self._remember(frame.get("message") or {})
            self._answer(frame.get("echo_id"), None)
        elif kind == "error" and frame.get("echo_id"):
            self._answer(frame["echo_id"], f"WS error {frame.get('code')}")
        return False

    async def _on_message(self, ws: ClientConnection, message: dict[str, Any]) -> None:
        new = self._remember(message)
        if new and message.get("from") == "agent":
            self.replies += 1
            # The widget is open: the visitor has seen it (best effort, like widget.js).
            seen = {"type": "seen", "message_id": message["id"]}
            with contextlib.suppress(WebSocketException):
                await ws.send(json.dumps(seen))

    def _remember(self, message: dict[str, Any]) -> bool:
        """Track the newest message id (replayed after a reconnect); True if not seen yet."""
        message_id = message.get("id")
        if not isinstance(message_id, int) or message_id in self._seen:
            return False
        self._seen.add(message_id)
        self.last_message_id = max(self.last_message_id, message_id)
        return True

    def _answer(self, echo_id: object, result: str | None) -> None:
        answer = self._acks.get(echo_id) if isinstance(echo_id, str) else None
        if answer is not None and not answer.done():
            answer.set_result(result)
