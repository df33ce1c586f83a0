"""The login rate limit: failed sign-ins counted per (email, ip), per ip and per account,
in the database.

Per account (any address): after ACCOUNT_FREE failures within ACCOUNT_WINDOW, each further
attempt waits a delay that doubles with every failure, up to ACCOUNT_MAX_DELAY, so guesses
spread over many addresses slow to a few an hour. It is a delay, not a lock-out, and an
address the account signed in from before (a live or recent session) is not delayed, so
an attacker cannot keep the owner out.

Kept in the database rather than in memory so every worker process and host counts
the same failures.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import delete, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.models import LoginFailure, User, WebSession, utcnow_for_models

WINDOW = timedelta(minutes=15)
# OWASP ASVS 2.2.1: a handful of guesses per account, then wait; this is 5 per 15 minutes.
MAX_PER_ACCOUNT = 5
# One address spraying many accounts (a whole office shares one NAT address, hence generous).
MAX_PER_IP = 50
# Per account: 5 free failures an hour (the per-address figure), then 1 s, 2 s, 4 s ...
# between attempts, at most 5 minutes: about 12 guesses an hour from any number of addresses.
ACCOUNT_WINDOW = timedelta(hours=1)
ACCOUNT_FREE = 5
ACCOUNT_MAX_DELAY = timedelta(minutes=5)
# An address that signed in to the account within this long is trusted for it.
KNOWN_ADDRESS = timedelta(days=30)


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


async def account_wait(
    session: AsyncSession, email: str, ip: str, now: datetime | None = None
) -> float:
    """Seconds this account's next attempt must still wait (0: go ahead)."""
    now = now or utcnow_for_models()
    failures, last = (
        await session.execute(
            select(func.count(), func.max(LoginFailure.created_at)).where(
                LoginFailure.email == email, LoginFailure.created_at > now - ACCOUNT_WINDOW
            )
        )
    ).one()
    if failures <= ACCOUNT_FREE or last is None:
        return 0.0
    delay = min(timedelta(seconds=2 ** min(failures - ACCOUNT_FREE - 1, 20)), ACCOUNT_MAX_DELAY)
    if last.tzinfo is None:  # SQLite's aggregate comes back naive (UTC)
        last = last.replace(tzinfo=now.tzinfo)
    wait = (last + delay - now).total_seconds()
    if wait <= 0 or await _known_address(session, email, ip, now):
        return 0.0
    return wait


async def _known_address(session: AsyncSession, email: str, ip: str, now: datetime) -> bool:
    found = await session.scalar(
        select(WebSession.id)
        .join(User, User.id == WebSession.user_id)
        .where(User.email == email, WebSession.ip == ip)
        .where(WebSession.created_at > now - KNOWN_ADDRESS)
        .limit(1)
    )
    return found is not None


async def record_failure(session: AsyncSession, email: str, ip: str) -> None:
    now = utcnow_for_models()
    session.add(LoginFailure(email=email, ip=ip, created_at=now))
    # Old rows only ever count as history: prune them as we go.
    keep = max(WINDOW, ACCOUNT_WINDOW)
    await session.execute(delete(LoginFailure).where(LoginFailure.created_at <= now - keep))


async def clear_failures(session: AsyncSession, email: str, ip: str) -> None:
    """A successful sign-in forgives that account's earlier typos from that address."""
    await session.execute(
        delete(LoginFailure).where(LoginFailure.email == email, LoginFailure.ip == ip)
    )
