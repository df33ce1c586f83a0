"""Relay "the agent is typing" to platforms that can show it (WeChat custom/typing).

Best effort: a failure is logged and forgotten; at most one call per conversation
every THROTTLE seconds, however fast the agent's page reports typing.
"""

from __future__ import annotations

import asyncio
import logging
import time

import httpx

from app.config import Settings
from app.connectors import channel_context
from app.db import Database
from app.models import Channel, ContactIdentity, Conversation
from channels import registry
from channels.base import DeliveryError

log = logging.getLogger(__name__)

# WeChat shows "typing" for about 15 s per call (channels.md 2.4); refreshing every 10 s
# keeps it on while the agent types without spending calls on every keystroke.
THROTTLE = 10.0


class TypingRelay:
    def __init__(self, db: Database, http: httpx.AsyncClient, settings: Settings) -> None:
        self.db, self.http, self.settings = db, http, settings
        self._last: dict[int, float] = {}
        self._tasks: set[asyncio.Task[None]] = set()

    def agent_typing(self, conversation_id: int) -> None:
        now = time.monotonic()
        if now - self._last.get(conversation_id, -THROTTLE) < THROTTLE:
            return
        self._last[conversation_id] = now
        if len(self._last) > 10_000:
            self._last.clear()
        task = asyncio.create_task(self._send(conversation_id))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _send(self, conversation_id: int) -> None:
        try:
            async with self.db.sessions() as session:
                conversation = await session.get(Conversation, conversation_id)
                if conversation is None:
                    return
                channel = await session.get(Channel, conversation.channel_id)
                identity = await session.get(ContactIdentity, conversation.identity_id)
            connector = registry.get(channel.type) if channel else None
            if channel is None or identity is None or identity.unreachable:
                return
            if connector is None or not connector.capabilities.typing:
                return
            ctx = channel_context(self.db, self.http, self.settings, channel)
            await connector.typing(ctx, identity.external_id, True)
        except DeliveryError as exc:
            log.info("typing indicator not shown: %s", exc.reason)
        except Exception:
            log.exception("typing relay failed")

    async def stop(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
