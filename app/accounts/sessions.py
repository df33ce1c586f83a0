"""Web sessions: the login cookie's secret (stored hashed), its CSRF token, expiry, revocation.

The cookie carries a 256-bit random secret; the table keeps its SHA-256, so a leaked
database cannot be replayed as a cookie. The CSRF token is HMAC(secret key, cookie
secret): nothing more to store, and it dies with the session.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from datetime import timedelta

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from app.accounts.security import hash_token
from app.models import User, WebSession, utcnow_for_models
from app.realtime.events import publish_access_changed

SESSION_COOKIE = "huiliu_session"
# A working day and some: an agent who walks away is signed out overnight...
IDLE_TIMEOUT = timedelta(hours=12)
# ...and everyone signs in again at least weekly (OWASP session management: absolute timeout).
ABSOLUTE_TIMEOUT = timedelta(days=7)
# Sliding the idle expiry on every request would turn each read into a write.
TOUCH_EVERY = timedelta(minutes=5)


def csrf_token_for(secret_key: str, token: str) -> str:
    return hmac.new(secret_key.encode(), b"csrf:" + token.encode(), hashlib.sha256).hexdigest()


def csrf_matches(secret_key: str, token: str, given: str | None) -> bool:
    return bool(given) and hmac.compare_digest(csrf_token_for(secret_key, token), given or "")


async def create_session(
    session: AsyncSession, user: User, *, ip: str | None, user_agent: str | None
) -> str:
    """A new session for `user`; the cookie value is returned once and stored hashed."""
    token = "hs_" + secrets.token_urlsafe(32)
    now = utcnow_for_models()
    session.add(
        WebSession(
            user_id=user.id,
            token_hash=hash_token(token),
            created_at=now,
            last_seen_at=now,
            expires_at=now + IDLE_TIMEOUT,
            ip=(ip or "")[:64] or None,
            user_agent=(user_agent or "")[:300] or None,
        )
    )
    return token


async def user_for_session(session: AsyncSession, token: str) -> User | None:
    """The active user behind a live session cookie, sliding its idle expiry; else None."""
    row = (
        await session.execute(
            select(WebSession, User)
            .join(User, User.id == WebSession.user_id)
            .where(WebSession.token_hash == hash_token(token), WebSession.revoked_at.is_(None))
        )
    ).first()
    if row is None:
        return None
    web_session, user = row
    now = utcnow_for_models()
    if not user.active or web_session.expires_at <= now:
        return None
    if now - web_session.last_seen_at >= TOUCH_EVERY:
        web_session.last_seen_at = now
        web_session.expires_at = min(now + IDLE_TIMEOUT, web_session.created_at + ABSOLUTE_TIMEOUT)
    return user


async def revoke_session(session: AsyncSession, token: str) -> None:
    """Sign out one session; the sockets it opened close at once (on every process)."""
    live = WebSession.token_hash == hash_token(token), WebSession.revoked_at.is_(None)
    user_id = await session.scalar(select(WebSession.user_id).where(*live))
    if user_id is None:
        return
    await session.execute(update(WebSession).where(*live).values(revoked_at=utcnow_for_models()))
    publish_access_changed(session, user_id)


async def revoke_user_sessions(session: AsyncSession, user_id: int) -> None:
    """Sign a user out everywhere (deactivation does not need it: inactive users never pass)."""
    await session.execute(
        update(WebSession)
        .where(WebSession.user_id == user_id, WebSession.revoked_at.is_(None))
        .values(revoked_at=utcnow_for_models())
    )
    publish_access_changed(session, user_id)
