"""Replay refusal: a push's signed one-time parameters may not come back with another body.

A WeChat plaintext signature covers the timestamp and nonce, not the body, so one captured
query string could sign any message. Each accepted push leaves its (timestamp, nonce) and
a digest of its body in `webhook_nonces` for the push window; the same pair again with the
same body is the platform retrying (answered `success`, stored once by the message
dedupe), with another body it is a forgery and refused with 403. Claims are written in
the batch's own transaction, so a push that was not stored leaves no claim behind, and a
concurrent claim of the same pair waits on the primary key until the first commits.
"""

from __future__ import annotations

import hashlib
from datetime import datetime, timedelta
from functools import cache
from typing import Any, cast

from sqlalchemy import Table, delete, select, tuple_
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession

from app.models import WebhookNonce
from channels.base import utcnow

# Kept a little longer than the longest push window a connector enforces (WeChat: 300 s,
# channels/wechat/webhook.py PUSH_WINDOW_SECONDS), so clock skew cannot reopen a pair.
KEEP = timedelta(minutes=10)
# Old claims are swept at most this often per process, in a batch's transaction.
SWEEP_EVERY = timedelta(minutes=1)


def digest(body: bytes) -> str:
    return hashlib.sha256(body).hexdigest()


@cache
def _claim(dialect: str) -> Any:
    insert = pg_insert if dialect == "postgresql" else sqlite_insert
    # The table, not the entity: rows come back as plain tuples, without the ORM's bulk
    # insert path (a third of this step's CPU in the ingest profile).
    table = cast(Table, WebhookNonce.__table__)
    return (
        insert(table)
        .on_conflict_do_nothing(index_elements=["channel_id", "key"])
        .returning(table.c.channel_id, table.c.key)
    )


class ReplayGuard:
    """Claims replay keys for one process's webhook batches."""

    def __init__(self) -> None:
        self._swept_at: datetime | None = None

    async def refused(
        self, session: AsyncSession, claims: list[tuple[int, str, str]]
    ) -> set[tuple[int, str, str]]:
        """Claim each (channel_id, key, digest); the ones already claimed with another body."""
        now = utcnow()
        if self._swept_at is None or now - self._swept_at > SWEEP_EVERY:
            self._swept_at = now
            await session.execute(delete(WebhookNonce).where(WebhookNonce.seen_at < now - KEEP))
        if not claims:
            return set()
        # Within one batch too: the first claim of a pair wins, a different body loses.
        first: dict[tuple[int, str], str] = {}
        for channel_id, key, body_digest in claims:
            first.setdefault((channel_id, key), body_digest)
        rows = [
            {"channel_id": c, "key": k, "digest": d, "seen_at": now} for (c, k), d in first.items()
        ]
        # RETURNING names the pairs claimed now; only a pair claimed before is read back.
        claimed = {
            (row.channel_id, row.key)
            for row in await session.execute(_claim(session.get_bind().dialect.name), rows)
        }
        stored = {pair: first[pair] for pair in claimed}
        if earlier := [pair for pair in first if pair not in claimed]:
            stored.update(
                ((row.channel_id, row.key), row.digest)
                for row in await session.execute(
                    select(WebhookNonce.channel_id, WebhookNonce.key, WebhookNonce.digest).where(
                        tuple_(WebhookNonce.channel_id, WebhookNonce.key).in_(earlier)
                    )
                )
            )
        return {claim for claim in claims if stored.get(claim[:2]) != claim[2]}
