"""Who is viewing or typing in which conversation: ephemeral, never logged.

Agents' sockets send `{"type": "presence", "conversation_id": N, "state": S}` with S
one of viewing, typing, idle (left). Everyone else connected who may see that
conversation gets `{"type": "presence", "data": {...}}` frames, without a `seq`:
presence is never logged nor replayed. A newcomer is told who is already there; a
closed socket counts as leaving. With several processes each change is also shared
through Redis (`EventHub.share`), and each process remembers the others' agents for
REMOTE_TTL so that its newcomers are told about them too. Widget sockets turn an
agent's "typing" into the visitor's "typing..." (app/widget/connection.py).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, replace
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import SQLAlchemyError

from app.accounts.viewer import Viewer
from app.db import Database
from app.models import Conversation
from app.realtime.hub import EventHub
from app.realtime.subscribers import Ephemeral, Subscriber

STATES = frozenset({"viewing", "typing", "idle"})
# How long another process's "viewing"/"typing" is told to newcomers without news from it
# (a process that died never says "idle").
REMOTE_TTL = 600.0
CHANNEL_CACHE_SIZE = 10_000  # conversation -> channel never changes; bound the memory


@dataclass(frozen=True)
class Here:
    conversation_id: int
    channel_id: int
    user_id: int
    name: str
    state: str


def frame_of(here: Here) -> dict[str, Any]:
    return {
        "type": "presence",
        "data": {
            "conversation_id": here.conversation_id,
            "user": {"id": here.user_id, "name": here.name},
            "state": here.state,
        },
    }


def ephemeral(here: Here) -> Ephemeral:
    """A queue item the websocket sends as is; `channel_id` lets the hub filter visibility."""
    return Ephemeral(frame_of(here), here.channel_id, here.conversation_id)


class Presence:
    def __init__(self, hub: EventHub) -> None:
        self.hub = hub
        hub.ephemeral_handlers["presence"] = self.remote_change
        self.where: dict[Subscriber, Here] = {}
        self._channel_of: dict[int, int] = {}
        # Called with a conversation id when an agent starts typing there (the platform
        # relay, app/delivery/typing.py); set by the app's lifespan.
        self.on_typing: Callable[[int], None] | None = None
        # Other processes' agents: (conversation, user) -> (where, when heard).
        self.remote: dict[tuple[int, int], tuple[Here, float]] = {}

    async def _channel(self, db: Database, conversation_id: int) -> int | None:
        if conversation_id in self._channel_of:
            return self._channel_of[conversation_id]
        try:
            async with db.sessions() as session:
                channel_id = await session.scalar(
                    select(Conversation.channel_id).where(Conversation.id == conversation_id)
                )
        except SQLAlchemyError:  # presence is best effort: never close the socket over it
            return None
        if channel_id is not None:
            if len(self._channel_of) >= CHANNEL_CACHE_SIZE:
                self._channel_of.clear()
            self._channel_of[conversation_id] = channel_id
        return channel_id

    async def handle(self, db: Database, viewer: Viewer, sub: Subscriber, frame: Any) -> None:
        """Apply one client frame; anything that is not a valid presence frame is ignored."""
        if not isinstance(frame, dict) or frame.get("type") != "presence":
            return
        conversation_id, state = frame.get("conversation_id"), frame.get("state")
        if state not in STATES or type(conversation_id) is not int:
            return
        channel_id = await self._channel(db, conversation_id)
        if channel_id is None or not viewer.can_see_channel(channel_id):
            return
        previous = self.where.get(sub)
        moved = previous is not None and previous.conversation_id != conversation_id
        if previous is not None and (moved or state == "idle"):
            self.drop(sub)
        if state == "idle":
            return
        here = Here(conversation_id, channel_id, viewer.id, viewer.user.name, state)
        self.where[sub] = here
        if state == "typing" and self.on_typing is not None:
            self.on_typing(conversation_id)
        if previous != here:
            self._announce(sub, here)
        if previous is None or moved:
            for other in list(self.where.values()) + self._remote_in(conversation_id):
                if other.conversation_id == conversation_id and other.user_id != viewer.id:
                    sub.deliver(ephemeral(other))

    def drop(self, sub: Subscriber) -> None:
        """The socket left its conversation (or closed): tell the others, unless the same
        agent is still there from another tab."""
        here = self.where.pop(sub, None)
        if here is None:
            return
        if any(
            h.user_id == here.user_id and h.conversation_id == here.conversation_id
            for h in self.where.values()
        ):
            return
        self._announce(sub, replace(here, state="idle"))

    def _announce(self, sender: Subscriber | None, here: Here) -> None:
        item = ephemeral(here)
        for sub in list(self.hub.subscribers):
            if sub is not sender and sub.user_id != here.user_id:
                sub.deliver(item)
        if sender is not None:
            self.hub.share("presence", asdict(here))

    def remote_change(self, data: dict[str, Any]) -> None:
        """Another process's agent moved (`EventHub.share`): tell this process's sockets."""
        try:
            here = Here(**data)
        except TypeError:
            return
        ints = (here.conversation_id, here.channel_id, here.user_id)
        if here.state not in STATES or not all(type(v) is int for v in ints):
            return
        key = (here.conversation_id, here.user_id)
        if here.state == "idle":
            self.remote.pop(key, None)
        else:
            self.remote[key] = (here, time.monotonic())
        self._announce(None, here)

    def _remote_in(self, conversation_id: int) -> list[Here]:
        now = time.monotonic()
        for key, (_, heard) in list(self.remote.items()):
            if now - heard > REMOTE_TTL:
                del self.remote[key]
        return [h for (c, _), (h, _) in self.remote.items() if c == conversation_id]
