"""The media worker: downloads inbound attachments after the platform got its answer.

A failed download is recorded on the attachment and retried with backoff; the
message itself is always kept. After MAX_ATTEMPTS the attachment stays `failed`
with the platform's reason (WeChat media expires after 3 days anyway, channels.md 1.6).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

import httpx
from sqlalchemy import select

from app.config import Settings
from app.connectors import channel_context, connector_for
from app.db import Database
from app.inbox.schemas import attachment_url
from app.media.actions import media_settled, record_media_downloads
from app.media.avatars import cache_avatars
from app.models import Channel, Message
from app.storage import AttachmentStorage
from app.workers import PollingWorker
from channels.base import ContentType, DeliveryError, MediaRef, utcnow
from channels.netguard import MediaRefused

log = logging.getLogger(__name__)

MAX_ATTEMPTS = 5
RETRY_SECONDS = (5, 30, 120, 600)  # then give up: the platform's media link is short-lived
BATCH = 10
POLL_SECONDS = 5.0  # looks again for downloads whose retry time came


class MediaWorker(PollingWorker):
    name = "media-worker"

    def __init__(
        self,
        db: Database,
        http: httpx.AsyncClient,
        settings: Settings,
        storage: AttachmentStorage,
        *,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        super().__init__()
        self.db, self.http, self.settings, self.storage = db, http, settings, storage
        self.clock = clock

    def interval(self) -> float:
        return POLL_SECONDS

    async def run_once(self) -> int:
        """Try every due attachment once; the number of messages looked at."""
        async with self.db.sessions() as session:
            ids = list(
                await session.scalars(
                    select(Message.id)
                    .where(Message.media_pending.is_(True))
                    .order_by(Message.id)
                    .limit(BATCH)
                )
            )
        for message_id in ids:
            await self._process(message_id)
        return len(ids) + await cache_avatars(self.db, self.http, self.storage)

    async def _process(self, message_id: int) -> None:
        async with self.db.sessions() as session:
            message = await session.get(Message, message_id)
            assert message is not None
            channel = await session.get(Channel, message.channel_id)
            assert channel is not None
            attachments = [dict(a) for a in message.attachments or []]
        now = self.clock()
        changed = False
        for index, att in enumerate(attachments):
            if att.get("status") not in ("pending", "retrying"):
                continue
            if att.get("next_attempt_at") and datetime.fromisoformat(att["next_attempt_at"]) > now:
                continue
            changed = True
            await self._fetch_one(channel, message_id, index, att)
        if not changed and not media_settled(attachments):
            return
        async with self.db.session() as session:
            await record_media_downloads(session, message_id, attachments)

    async def _fetch_one(
        self, channel: Channel, message_id: int, index: int, att: dict[str, Any]
    ) -> None:
        ref = MediaRef(
            kind=ContentType(att.get("kind", "file")),
            ref=str(att.get("ref", "")),
            mime_type=att.get("mime_type"),
            file_name=att.get("file_name"),
        )
        attempts = int(att.get("attempts", 0)) + 1
        att["attempts"] = attempts
        try:
            ctx = channel_context(self.db, self.http, self.settings, channel, now=self.clock)
            media = await connector_for(channel.type).fetch_media(ctx, ref)
            key = f"{channel.id}/{message_id}/{index}"
            await self.storage.put(key, media.content)
        except DeliveryError as exc:
            att["error"] = exc.reason
            # A refused address is never fetched, so trying again cannot help.
            if attempts >= MAX_ATTEMPTS or isinstance(exc, MediaRefused):
                att["status"] = "failed"
                att.pop("next_attempt_at", None)
            else:
                delay = RETRY_SECONDS[min(attempts, len(RETRY_SECONDS)) - 1]
                att["status"] = "retrying"
                att["next_attempt_at"] = (self.clock() + timedelta(seconds=delay)).isoformat()
            return
        except Exception as exc:  # storage full, connector bug: keep the message, record why
            log.exception("media download crashed for message %s", message_id)
            att["status"], att["error"] = "failed", f"internal error: {exc}"
            return
        att.update(
            status="ready",
            storage_key=key,
            url=attachment_url(message_id, index),
            mime_type=media.mime_type,
            file_name=media.file_name or att.get("file_name"),
            size=len(media.content),
            error=None,
        )
        att.pop("next_attempt_at", None)
