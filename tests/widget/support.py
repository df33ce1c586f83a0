"""Widget test helpers: a webchat channel, a visitor speaking the widget's protocol."""

from __future__ import annotations

import asyncio
import json
import secrets
from typing import Any

from websockets.asyncio.client import ClientConnection, connect

from app.workspace import create_channel
from channels.webchat.tokens import identity_hmac

IDENTITY_SECRET = "site-identity-secret-0123456789abcdef"


async def webchat_channel(app: Any, name: str = "官网", **config: Any) -> dict[str, Any]:
    raw = {"identity_secret": IDENTITY_SECRET, **config}
    async with app.state.services.db.session() as session:
        channel = await create_channel(session, "webchat", name, raw)
        return {"id": channel.id, "secret": IDENTITY_SECRET}


def sign(user_id: str) -> str:
    return identity_hmac(IDENTITY_SECRET, user_id)


def echo() -> str:
    return secrets.token_hex(8)


class Visitor:
    """One widget connection, driven frame by frame."""

    def __init__(self, ws: ClientConnection) -> None:
        self.ws = ws
        self.token: str | None = None
        self.frames: list[dict[str, Any]] = []

    async def recv(self, timeout: float = 5.0) -> dict[str, Any]:
        while True:
            frame = json.loads(await asyncio.wait_for(self.ws.recv(), timeout))
            if frame["type"] not in ("heartbeat", "pong"):
                self.frames.append(frame)
                return frame

    async def until(self, kind: str, timeout: float = 5.0, **match: Any) -> dict[str, Any]:
        """The next frame of this type (and matching fields); earlier ones are kept."""
        while True:
            frame = await self.recv(timeout)
            if frame["type"] == kind and all(frame.get(k) == v for k, v in match.items()):
                return frame

    async def hello(self, token: str | None = None, last: int = 0, **extra: Any) -> list[dict]:
        """Say hello; the messages replayed before `ready`."""
        await self.ws.send(
            json.dumps({"type": "hello", "token": token, "last_message_id": last, **extra})
        )
        welcome = await self.until("welcome")
        self.token = welcome["token"]
        replayed = []
        while True:
            frame = await self.recv()
            if frame["type"] == "ready":
                return replayed
            if frame["type"] == "message":
                replayed.append(frame["message"])

    async def say(self, text: str, echo_id: str | None = None) -> dict[str, Any]:
        """Send a message; the server's answer (ack or error) for it."""
        echo_id = echo_id or echo()
        await self.ws.send(json.dumps({"type": "message", "echo_id": echo_id, "text": text}))
        while True:
            frame = await self.recv()
            if frame.get("echo_id") == echo_id and frame["type"] in ("ack", "error"):
                return frame

    async def send(self, **frame: Any) -> None:
        await self.ws.send(json.dumps(frame))


def visitor_socket(host: str, channel_id: int, origin: str = "https://shop.example.com") -> Any:
    return connect(f"ws://{host}/widget/{channel_id}/ws", origin=origin)  # type: ignore[arg-type]
