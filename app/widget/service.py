"""`AppServices.widget`: the widget's process-wide state (keys, rate limits, live visitors).

Other code reaches visitors through here: `agent_typing()` shows "typing..." in the
widget of everyone looking at a conversation; `agents_online()` decides whether the
widget offers the offline form.
"""

from __future__ import annotations

import hashlib
import hmac
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from app.config import Settings
from app.realtime.subscribers import Ephemeral
from app.widget.ratelimit import Rate, RateLimiter
from channels.webchat.origins import normalize_origin, origin_allowed

if TYPE_CHECKING:
    from app.realtime.hub import EventHub
    from app.widget.connection import Connection
    from app.widget.visitors import VisitorState
    from channels.webchat.config import WebchatConfig


@dataclass(frozen=True)
class Limits:
    """Flood limits. A person types at most a message every few seconds; an office or a
    mobile carrier puts many visitors behind one address, hence the generous per-IP ones."""

    message_per_visitor: Rate = Rate(burst=10, per_second=1 / 3)  # 10 at once, 20 a minute
    message_per_ip: Rate = Rate(burst=60, per_second=1.0)
    connect_per_ip: Rate = Rate(burst=30, per_second=0.5)  # reloads and reconnects
    new_visitor_per_ip: Rate = Rate(burst=20, per_second=1 / 30)  # tokens minted
    frames_per_connection: Rate = Rate(burst=40, per_second=5.0)  # typing, seen, ping


class WidgetService:
    def __init__(self, settings: Settings, limits: Limits | None = None) -> None:
        self.settings = settings
        self.connections: set[Connection] = set()
        self._key: bytes | None = None
        self._online: tuple[float, bool] = (0.0, False)
        # Agents online on any process (the assignment heartbeat's view of agent_presence),
        # set by the app's lifespan; without it only this process's sockets count.
        self.online_elsewhere: Callable[[], bool] = lambda: False
        self._configs: dict[int, WebchatConfig] = {}
        self.set_limits(limits or Limits())

    def set_limits(self, limits: Limits) -> None:
        self.limits = limits
        self.message_visitor = RateLimiter(limits.message_per_visitor)
        self.message_ip = RateLimiter(limits.message_per_ip)
        self.connect_ip = RateLimiter(limits.connect_per_ip)
        self.new_visitor_ip = RateLimiter(limits.new_visitor_per_ip)

    def shared_config(self, channel_id: int, config: WebchatConfig) -> WebchatConfig:
        """One config object for all of a channel's sockets while it stays the same, rather
        than one parsed copy held by each (1.2 KB per idle socket, bench_memory)."""
        cached = self._configs.get(channel_id)
        if cached is not None and cached == config:
            return cached
        self._configs[channel_id] = config
        return config

    def _secret(self) -> bytes:
        if self._key is None:
            base = self.settings.resolved_secret_key().encode()
            self._key = hmac.new(base, b"huiliu.webchat", hashlib.sha256).digest()
        return self._key

    def token_key(self, channel_id: int) -> bytes:
        """Visitor tokens: a key per channel, derived from the server's secret key."""
        return hmac.new(self._secret(), f"visitor:{channel_id}".encode(), hashlib.sha256).digest()

    def media_key(self, channel_id: int) -> bytes:
        return hmac.new(self._secret(), f"media:{channel_id}".encode(), hashlib.sha256).digest()

    def origin_ok(self, allowed: list[str], origin: str | None) -> bool:
        """The channel's allow-list; our own pages (the demo host page) always pass."""
        own = normalize_origin(self.settings.public_url)
        if origin and own and normalize_origin(origin) == own:
            return True
        return origin_allowed(allowed, origin)

    def agents_online(self, hub: EventHub) -> bool:
        """Someone has the inbox open, in this process or another (cached for a second:
        every visitor asks on each heartbeat)."""
        now = time.monotonic()
        checked, value = self._online
        if now - checked > 1.0:
            value = self.online_elsewhere() or any(
                sub.user_id is not None for sub in list(hub.subscribers)
            )
            self._online = (now, value)
        return value

    def agent_typing(self, conversation_id: int, name: str, typing: bool = True) -> None:
        """Show (or stop showing) "<name> is typing" in the widgets of this conversation."""
        frame = {"type": "typing", "typing": typing, "name": name}
        for conn in list(self.connections):
            if conversation_id in conn.state.conversations:
                conn.push(frame)

    def adopt(self, external_id: str, state: VisitorState) -> None:
        """A message stored outside the socket (an upload): its sockets learn the conversation."""
        for conn in list(self.connections):
            if conn.token is not None and conn.token.external_id == external_id:
                conn.state.identity_id = state.identity_id
                conn.state.contact_id = state.contact_id
                conn.state.conversations |= state.conversations

    def attach(self, hub: EventHub, online_elsewhere: Callable[[], bool]) -> None:
        """Called by the app's lifespan: hear the other processes' `to_agents` frames and
        ask the assignment heartbeat who is online anywhere."""
        hub.ephemeral_handlers["to_agents"] = lambda data: self.remote_to_agents(hub, data)
        self.online_elsewhere = online_elsewhere

    def to_agents(self, hub: EventHub, channel_id: int, frame: dict[str, Any]) -> None:
        """An ephemeral frame (visitor typing, seen) for the agents' sockets who may see the
        channel, in this process and (through Redis) the others: never logged."""
        self.to_local_agents(hub, channel_id, frame)
        hub.share("to_agents", {"channel_id": channel_id, "frame": frame})

    def to_local_agents(self, hub: EventHub, channel_id: int, frame: dict[str, Any]) -> None:
        item = Ephemeral(frame, channel_id)
        for sub in _agents(hub.subscribers):
            sub.deliver(item)

    def remote_to_agents(self, hub: EventHub, data: dict[str, Any]) -> None:
        """Another process's `to_agents` (`EventHub.share`)."""
        channel_id, frame = data.get("channel_id"), data.get("frame")
        if type(channel_id) is int and isinstance(frame, dict):
            self.to_local_agents(hub, channel_id, frame)


def _agents(subscribers: Iterable[Any]) -> list[Any]:
    return [sub for sub in list(subscribers) if sub.user_id is not None]
