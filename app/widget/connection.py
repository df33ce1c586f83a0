"""One visitor's connection: who they are, what they missed, and the hub's events for them.

States: waiting for `hello` (the token travels in this first frame, never in the URL)
-> replaying what the visitor missed -> live. Subscribing to the hub happens before
the replay, so nothing falls between the two; the widget keeps messages by id, so
overlap is harmless. What the visitor sends is handled by the subclass in socket.py.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import math
import time
from dataclasses import replace
from typing import Any

from fastapi import WebSocket
from sqlalchemy import select

from app.db import Database
from app.inbox.queries import conversation_view
from app.models import Channel, Conversation, User
from app.realtime.events import EventType
from app.realtime.hub import EventHub
from app.realtime.subscribers import (
    Ephemeral,
    LogEvent,
    QueueItem,
    Subscriber,
    Visible,
    WidgetFrame,
)
from app.services import get_services
from app.widget import actions, visitors
from app.widget.ratelimit import RateLimiter
from app.widget.service import WidgetService
from app.widget.visitors import VisitorState, message_data, visitor_message
from channels.webchat.config import WebchatConfig
from channels.webchat.frames import FrameError, Hello, Identify, Profile, parse_frame
from channels.webchat.tokens import (
    VisitorToken,
    identity_verified,
    issue_token,
    media_signature,
    new_visitor_id,
    verify_token,
)

CLOSE_BAD_REQUEST = 4400
CLOSE_FORBIDDEN_ORIGIN = 4403
CLOSE_NOT_FOUND = 4404
CLOSE_TOO_SLOW = 4408
CLOSE_RATE_LIMITED = 4429  # "429": the widget waits longer before reconnecting
HELLO_SECONDS = 10.0
# Under the 45 s NAT idle limit (perf-reliability.md 3.1), like the agent socket.
HEARTBEAT_SECONDS = 25.0
REPLAY_LIMIT = 100  # a new device sees the latest 100 messages
TYPING_EVERY = 2.0  # forward a visitor's "typing" to agents at most this often
MEDIA_LINK_DAYS = 7  # signed attachment links; every replay signs fresh ones


def client_ip(websocket: WebSocket) -> str:
    return websocket.client.host if websocket.client else "unknown"


async def load_channel(db: Database, channel_id: int) -> tuple[Channel, WebchatConfig] | None:
    async with db.sessions() as session:
        channel = await session.get(Channel, channel_id)
    if channel is None or channel.type != "webchat" or channel.archived:
        return None
    return channel, WebchatConfig.model_validate(channel.config)


def media_link(service: WidgetService, channel_id: int, message_id: int, index: int) -> str:
    # Expiry rounded to the day so the same image keeps one URL (browser cache) all day.
    day = 86400
    expires = (int(time.time()) // day + MEDIA_LINK_DAYS) * day
    sig = media_signature(service.media_key(channel_id), channel_id, message_id, index, expires)
    return f"/widget/{channel_id}/media/{message_id}/{index}?e={expires}&s={sig}"


class Connection:
    """The server's side of one widget socket, minus the visitor's own frames."""

    def __init__(
        self,
        websocket: WebSocket,
        service: WidgetService,
        channel_id: int,
        config: WebchatConfig,
        ip: str,
    ) -> None:
        self.websocket = websocket
        self.service = service
        self.db: Database = get_services(websocket).db
        self.hub: EventHub = get_services(websocket).hub
        self.channel_id = channel_id
        self.config = config
        self.ip = ip
        self.token: VisitorToken | None = None
        self.state = VisitorState()
        self.pending_profile: Profile | None = None
        self.sub = Subscriber(accepts=self.accepts)
        self.frames = RateLimiter(service.limits.frames_per_connection)
        self._send_lock = asyncio.Lock()
        self._agent_id: int | None = None
        self._read_up_to = 0
        self._typing_sent = (0.0, False)

    # --- lifecycle ---------------------------------------------------------------

    async def run(self) -> None:
        if await self._open():
            await self._live()

    async def _open(self) -> bool:
        # Its own frame: the hello frame is not held while the socket lives.
        hello = await self._receive_hello()
        return hello is not None and await self._begin(hello)

    def stop(self) -> None:
        self.hub.unsubscribe(self.sub)
        self.service.connections.discard(self)
        if self._typing_sent[1]:
            self._typing_to_agents(False)

    async def _receive_hello(self) -> Hello | None:
        try:
            message = await asyncio.wait_for(self.websocket.receive(), HELLO_SECONDS)
        except TimeoutError:
            await self.websocket.close(CLOSE_BAD_REQUEST, "hello expected")
            return None
        if message["type"] == "websocket.disconnect":
            return None
        try:
            frame = parse_frame(message.get("text"))
        except FrameError as exc:
            await self.websocket.close(CLOSE_BAD_REQUEST, exc.detail[:100])
            return None
        if not isinstance(frame, Hello):
            await self.websocket.close(CLOSE_BAD_REQUEST, "hello expected")
            return None
        return frame

    async def _begin(self, hello: Hello) -> bool:
        now = int(time.time())
        token = verify_token(
            self.service.token_key(self.channel_id), hello.token, self.channel_id, now
        )
        if token is None:
            wait = self.service.new_visitor_ip.take(self.ip)
            if wait:
                await self.websocket.close(CLOSE_RATE_LIMITED, f"retry after {math.ceil(wait)}s")
                return False
            token = VisitorToken(self.channel_id, new_visitor_id(), None, now)
        self.token = replace(token, issued_at=now)  # a fresh token on every connect
        self.pending_profile = hello.profile
        trusted = False
        if hello.identify is not None:
            trusted = await self._verify_identity(hello.identify)
        self.hub.subscribe(self.sub)
        self.service.connections.add(self)
        saved = await self._load(trusted)
        await self._send(
            {
                "type": "welcome",
                "token": self._issue(),
                "verified": self.token.user_id is not None,
                "agents_online": self.service.agents_online(self.hub),
                "known": self.state.known,
            }
        )
        if saved:
            await self._send({"type": "prechat", "saved": True})
        await self._catch_up(hello.last_message_id)
        return True

    async def _load(self, trusted: bool) -> bool:
        """Read who the visitor is; apply a profile waiting for their identity (True)."""
        assert self.token is not None
        async with self.db.session() as session:
            self.state = await visitors.load_state(session, self.channel_id, self.token.external_id)
            if not self.pending_profile or self.state.identity_id is None:
                return False
            await actions.apply_profile(session, self.state, self.pending_profile, trusted=trusted)
        self.pending_profile = None
        return True

    async def _catch_up(self, after: int) -> None:
        """Replay what the visitor has not seen, the read and agent state, then `ready`."""
        if self.state.identity_id is not None:
            async with self.db.sessions() as session:
                rows = await visitors.history(session, self.state.identity_id, after, REPLAY_LIMIT)
            for row in rows:
                await self._send_message(message_data(row))
            await self._send_conversation_state()
        await self._send({"type": "ready"})

    async def _live(self) -> None:
        """The socket's one writer: sleeps on its queue (no task while idle), then acts on
        everything queued, in order; the reader task wakes it when the visitor leaves."""
        receiver = asyncio.create_task(self._receive_frames())
        queue = self.sub.queue
        receiver.add_done_callback(lambda _task: queue.wake())
        try:
            # The reader's end wakes a waiting writer; one busy sending when it ended sees
            # it here before it waits again (or it would sleep until the next heartbeat).
            while not receiver.done():
                if not await queue.wait(HEARTBEAT_SECONDS):
                    if receiver.done():
                        return
                    await self._send(
                        {
                            "type": "heartbeat",
                            "agents_online": self.service.agents_online(self.hub),
                        }
                    )
                    continue
                while queue.qsize():
                    if receiver.done():
                        return
                    event = queue.get_nowait()
                    if event is None:  # the hub closed us: too slow, or shutting down
                        code = CLOSE_TOO_SLOW if self.sub.overflowed else 1012
                        await self.websocket.close(code)
                        return
                    await self._on_event(event)
        finally:
            receiver.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await receiver

    # --- sending -----------------------------------------------------------------

    async def _send(self, frame: dict[str, Any]) -> None:
        async with self._send_lock:
            await self.websocket.send_text(json.dumps(frame, ensure_ascii=False, default=str))

    def push(self, frame: dict[str, Any]) -> None:
        """A frame from elsewhere in the process (agent typing), sent in order with events."""
        with contextlib.suppress(asyncio.QueueFull):
            self.sub.queue.put_nowait(WidgetFrame(frame))

    def _issue(self) -> str:
        assert self.token is not None
        return issue_token(self.service.token_key(self.channel_id), self.token)

    def _link(self, message_id: int, index: int) -> str:
        return media_link(self.service, self.channel_id, message_id, index)

    async def _send_message(self, data: dict[str, Any]) -> None:
        shown = visitor_message(data, self._link)
        if shown is not None:
            await self._send({"type": "message", "message": shown})

    async def _error(self, code: int, detail: str, **extra: Any) -> None:
        await self._send({"type": "error", "code": code, "detail": detail, **extra})

    # --- hub events ----------------------------------------------------------------

    def accepts(self, item: Visible) -> bool:
        """Cheap, synchronous prefilter run by the hub for every event; never raises."""
        try:
            if item.channel_id != self.channel_id:
                return False
            if type(item) is Ephemeral:
                return (
                    item.frame.get("type") == "presence"
                    and item.conversation_id in self.state.conversations
                )
            if item.conversation_id in self.state.conversations:
                return True
            if type(item) is not LogEvent or item.type != EventType.CONVERSATION_CREATED:
                return False
            # Another device of the same verified user started a conversation.
            contact = item.data["contact"]["id"]
            if self.state.contact_id is not None:
                return bool(contact == self.state.contact_id)
            return self.token is not None and self.token.user_id is not None
        except (KeyError, TypeError, AttributeError):
            return False

    async def _on_event(self, item: QueueItem) -> None:
        if isinstance(item, WidgetFrame):
            await self._send(item.frame)
            return
        if isinstance(item, Ephemeral):
            data = item.frame["data"]
            await self._send(
                {
                    "type": "typing",
                    "typing": data.get("state") == "typing",
                    "name": (data.get("user") or {}).get("name", ""),
                }
            )
            return
        if not isinstance(item, LogEvent):  # a Recheck is for agents' sockets only
            return
        kind, data, conversation_id = item.type, item.data, item.conversation_id
        if conversation_id is None:
            return
        if conversation_id not in self.state.conversations:
            await self._adopt(conversation_id)
            return
        if kind == EventType.MESSAGE_CREATED or (
            # Updates of a reply are its delivery status, which the visitor never sees.
            kind == EventType.MESSAGE_UPDATED and data.get("direction") == "inbound"
        ):
            await self._send_message(data)
        elif kind in (
            EventType.CONVERSATION_CREATED,
            EventType.CONVERSATION_UPDATED,
            EventType.CONVERSATION_ASSIGNED,
        ):
            await self._send_conversation_state(data)

    async def _adopt(self, conversation_id: int) -> None:
        """A conversation another device of this visitor opened: check, then show it."""
        assert self.token is not None
        async with self.db.sessions() as session:
            state = await visitors.load_state(session, self.channel_id, self.token.external_id)
            if conversation_id not in state.conversations:
                return
            rows = await visitors.conversation_messages(session, conversation_id)
        self.state.identity_id, self.state.contact_id = state.identity_id, state.contact_id
        self.state.conversations |= state.conversations
        for row in rows:
            await self._send_message(message_data(row))

    async def _send_conversation_state(self, data: dict[str, Any] | None = None) -> None:
        """Read receipt (the agent has read the visitor's messages) and who is answering."""
        async with self.db.sessions() as session:
            if data is None:
                if not self.state.conversations:
                    return
                latest = await session.get(Conversation, max(self.state.conversations))
                if latest is None:
                    return
                data = (await conversation_view(session, latest)).model_dump(mode="json")
            if data.get("unread_count") == 0:
                up_to = await visitors.last_inbound_id(session, data["id"])
                if up_to and up_to > self._read_up_to:
                    self._read_up_to = up_to
                    await self._send({"type": "read", "up_to": up_to})
            assignee = data.get("assignee")
            if assignee and assignee.get("id") != self._agent_id:
                self._agent_id = assignee["id"]
                avatar = await session.scalar(
                    select(User.avatar_url).where(User.id == assignee["id"])
                )
                await self._send(
                    {
                        "type": "agent",
                        "name": assignee.get("name") or "",
                        "avatar_url": avatar if avatar and avatar.startswith("https://") else None,
                    }
                )

    async def _verify_identity(self, frame: Identify) -> bool:
        """identify(): with a valid HMAC the visitor becomes the site's user (one contact on
        every device); without, the claimed id is ignored and only the profile is kept."""
        assert self.token is not None
        secret = self.config.identity_secret.get_secret_value()
        verified = identity_verified(secret, frame.user_id, frame.hmac)
        if verified:
            user_id = str(frame.user_id)
            if self.token.user_id != user_id:
                async with self.db.session() as session:
                    await actions.link_verified_user(
                        session, self.channel_id, self.token.visitor_id, user_id
                    )
                self.token = replace(self.token, user_id=user_id)
        if frame.profile:
            self.pending_profile = frame.profile
        return verified

    def _typing_to_agents(self, typing: bool, now: float | None = None) -> None:
        self._typing_sent = (now or time.monotonic(), typing)
        if not self.state.conversations:
            return
        self.service.to_agents(
            self.hub,
            self.channel_id,
            {
                "type": "visitor.typing",
                "data": {"conversation_id": max(self.state.conversations), "typing": typing},
            },
        )

    async def _receive_frames(self) -> None:
        """Read and act on the visitor's frames until they leave (socket.py)."""
        raise NotImplementedError
