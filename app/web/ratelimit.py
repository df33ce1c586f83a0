"""The login rate limit: failed sign-ins counted per (email, ip) and per ip, in the database.

Kept in the database rather than in memory so every worker process and host counts
the same failures.
"""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import delete, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.models import LoginFailure, utcnow_for_models

WINDOW = timedelta(minutes=15)
# OWASP ASVS 2.2.1: a handful of guesses per account, then wait; this is 5 per 15 minutes.
MAX_PER_ACCOUNT = 5
# One address spraying many accounts (a whole office shares one NAT address, hence generous).
MAX_PER_IP = 50


async def is_limited(session: AsyncSession, email: str, ip: str) -> bool:
    since = utcnow_for_models() - WINDOW
    per_account = await session.scalar(
        select(func.count()).where(
            LoginFailure.email == email, LoginFailure.ip == ip, LoginFailure.created_at > since
        )
    )
    if (per_account or 0) >= MAX_PER_ACCOUNT:
        return True
    per_ip = await session.scalar(
        select(func.count()).where(LoginFailure.ip == ip, LoginFailure.created_at > since)
    )
    return (per_ip or 0) >= MAX_PER_IP


async def record_failure(session: AsyncSession, email: str, ip: str) -> None:
    now = utcnow_for_models()
    session.add(LoginFailure(email=email, ip=ip, created_at=now))
    # Old rows only ever count as history: prune them as we go.
    await session.execute(delete(LoginFailure).where(LoginFailure.created_at <= now - WINDOW))


async def clear_failures(session: AsyncSession, email: str, ip: str) -> None:
    """A successful sign-in forgives that account's earlier typos from that address."""
    await session.execute(
        delete(LoginFailure).where(LoginFailure.email == email, LoginFailure.ip == ip)
    )
