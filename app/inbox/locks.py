"""Ingest's per-customer locks: two pushes from one customer are stored one after the other."""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession


def identity_lock_keys(channel_id: int, contact_ids: Iterable[str]) -> list[str]:
    return [f"ingest:{channel_id}:{external_id}" for external_id in contact_ids]


async def lock_identities(session: AsyncSession, keys: Iterable[str]) -> None:
    """Serialize ingest per customer on PostgreSQL (SQLite serializes all writers).

    A batch takes all its customers' locks in one statement, in one global order, so two
    processes' batches that share customers wait for each other instead of deadlocking."""
    ordered = sorted(set(keys))
    if ordered and session.get_bind().dialect.name == "postgresql":
        await session.execute(
            text(
                "SELECT count(pg_advisory_xact_lock(h)) FROM "
                "(SELECT hashtextextended(k, 0) AS h FROM unnest(CAST(:keys AS text[])) AS k "
                "ORDER BY 1) AS ordered"
            ),
            {"keys": ordered},
        )
