"""WS /widget/{channel_id}/ws: one visitor's live connection (CONTRACT section 4).

Refusals come first (unknown channel 4404, origin 4403, flood 4429); then
`Connection` (connection.py) runs the hello, the replay and the hub's events, and
`VisitorConnection` below acts on what the visitor sends: messages (idempotent per
echo_id, rate limited), typing, seen, identify() and the pre-chat form.
"""

from __future__ import annotations

import logging
import math
import time
from typing import Any

from fastapi import APIRouter, WebSocket, WebSocketDisconnect
from starlette.routing import WebSocketRoute

from app.metrics import WEBSOCKETS
from app.models import Channel
from app.services import get_services
from app.widget import actions, visitors
from app.widget.connection import (
    CLOSE_FORBIDDEN_ORIGIN,
    CLOSE_NOT_FOUND,
    CLOSE_RATE_LIMITED,
    TYPING_EVERY,
    Connection,
    client_ip,
    load_channel,
)
from app.widget.service import WidgetService
from app.widget.visitors import message_data, visitor_message
from channels.webchat.frames import (
    FrameError,
    Hello,
    Identify,
    Ping,
    Prechat,
    Profile,
    Seen,
    Send,
    Typing,
    parse_frame,
)

log = logging.getLogger(__name__)
router = APIRouter()


async def visitor_socket(websocket: WebSocket) -> None:
    conn = await _admit(websocket, websocket.path_params["channel_id"])
    if conn is None:
        return
    WEBSOCKETS.labels(kind="visitor").inc()
    try:
        await conn.run()
    except WebSocketDisconnect:
        pass
    finally:
        conn.stop()
        WEBSOCKETS.labels(kind="visitor").dec()


async def _admit(websocket: WebSocket, channel_id: int) -> VisitorConnection | None:
    """Accept, then refuse or build the connection. Its own frame, so the channel row
    read here is not held for the socket's life: the connection keeps the channel's id
    and the channel's one shared config (bench_memory: ~2 KB per idle socket)."""
    service: WidgetService = get_services(websocket).widget
    found = await load_channel(get_services(websocket).db, channel_id)
    # Accept before refusing: a browser sees the close code, never a bare HTTP 403.
    await websocket.accept()
    if found is None:
        await websocket.close(CLOSE_NOT_FOUND, "no such website channel")
        return None
    channel, config = found
    if not service.origin_ok(config.allowed_origin, websocket.headers.get("origin")):
        await websocket.close(CLOSE_FORBIDDEN_ORIGIN, "origin not allowed")
        return None
    ip = client_ip(websocket)
    wait = service.connect_ip.take(ip)
    if wait:
        await websocket.close(CLOSE_RATE_LIMITED, f"retry after {math.ceil(wait)}s")
        return None
    return VisitorConnection(
        websocket, service, channel.id, service.shared_config(channel.id, config), ip
    )


# A plain Starlette route: FastAPI's websocket route adds two AsyncExitStacks and its
# dependency-solving frames to every open socket (~2 KB each, bench_memory), and this
# endpoint has no dependencies to solve.
router.routes.append(WebSocketRoute("/widget/{channel_id:int}/ws", visitor_socket))


class VisitorConnection(Connection):
    """A visitor's frames: each acted on in order, errors answered with an error frame."""

    async def _receive_frames(self) -> None:
        while True:
            message = await self.websocket.receive()
            if message["type"] == "websocket.disconnect":
                return
            try:
                frame = parse_frame(message.get("text"))
            except FrameError as exc:
                await self._error(exc.code, exc.detail, echo_id=exc.echo_id)
                continue
            try:
                await self._handle(frame)
            except FrameError as exc:
                await self._error(exc.code, exc.detail)
            except (WebSocketDisconnect, RuntimeError):
                return
            except Exception:  # keep the visitor connected; the message stays in their outbox
                log.exception("widget frame failed")
                await self._error(500, "internal error", echo_id=getattr(frame, "echo_id", None))

    async def _handle(self, frame: Any) -> None:
        if isinstance(frame, Send):
            await self._on_send(frame)
            return
        wait = self.frames.take("frames")
        if wait:
            return  # typing and seen are best effort: dropped when flooded
        if isinstance(frame, Ping):
            await self._send({"type": "pong"})
        elif isinstance(frame, Typing):
            self._on_typing(frame.typing)
        elif isinstance(frame, Seen):
            if self.state.conversations:
                self.service.to_agents(
                    self.hub,
                    self.channel_id,
                    {
                        "type": "visitor.seen",
                        "data": {
                            "conversation_id": max(self.state.conversations),
                            "message_id": frame.message_id,
                        },
                    },
                )
        elif isinstance(frame, Identify):
            await self._on_identify(frame)
        elif isinstance(frame, Prechat):
            await self._on_prechat(frame.profile)
        elif isinstance(frame, Hello):
            raise FrameError("already said hello")

    async def _on_send(self, frame: Send) -> None:
        assert self.token is not None
        visitor_key = f"{self.channel_id}:{self.token.visitor_id}"
        wait = self.service.message_visitor.take(visitor_key) or self.service.message_ip.take(
            self.ip
        )
        if wait:
            async with self.db.sessions() as session:
                stored = await visitors.stored_message(
                    session, self.channel_id, self.token.visitor_id, frame.echo_id
                )
            if stored is not None:  # a resend of what was accepted: never refused
                await self._ack(frame.echo_id, message_data(stored))
                return
            # Refused before anything was stored: the widget keeps it queued and resends.
            await self._error(
                429, "too many messages", echo_id=frame.echo_id, retry_after=math.ceil(wait)
            )
            return
        profile = self.pending_profile
        async with self.db.session() as session:
            channel = await session.get(Channel, self.channel_id)
            assert channel is not None
            message, _new = await actions.record_visitor_message(
                session,
                channel,
                self.token,
                self.state,
                frame.echo_id,
                frame.text,
                name=profile.name if profile else None,
            )
            if profile:
                await actions.apply_profile(session, self.state, profile, trusted=False)
            data = message_data(message)
        if profile:
            self.pending_profile = None
            await self._send({"type": "prechat", "saved": True})
        await self._ack(frame.echo_id, data)
        if self._typing_sent[1]:
            self._typing_to_agents(False)

    async def _ack(self, echo_id: str, data: dict[str, Any]) -> None:
        await self._send(
            {"type": "ack", "echo_id": echo_id, "message": visitor_message(data, self._link)}
        )

    def _on_typing(self, typing: bool) -> None:
        last, was = self._typing_sent
        now = time.monotonic()
        if typing == was and (not typing or now - last < TYPING_EVERY):
            return
        self._typing_to_agents(typing, now)

    async def _on_identify(self, frame: Identify) -> None:
        assert self.token is not None
        before = self.token.external_id
        trusted = await self._verify_identity(frame)
        changed = self.token.external_id != before
        if changed:  # a different identity: its own history replaces what the widget shows
            self._agent_id, self._read_up_to = None, 0
        saved = await self._load(trusted)
        await self._send(
            {
                "type": "identified",
                "token": self._issue(),
                "verified": trusted,
                "reset": changed,
                "known": self.state.known,
            }
        )
        if saved:
            await self._send({"type": "prechat", "saved": True})
        if changed:
            await self._catch_up(0)

    async def _on_prechat(self, profile: Profile) -> None:
        self.pending_profile = profile
        if self.state.identity_id is None:
            await self._send({"type": "prechat", "saved": False})  # saved with the first message
            return
        saved = await self._load(False)
        await self._send({"type": "prechat", "saved": saved})
