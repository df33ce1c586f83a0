"""Who is asking: bearer token (header or `token` query parameter for websockets).

Web sessions (cookie + CSRF) plug in here with the inbox page.
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.requests import HTTPConnection

from app.accounts.security import hash_token
from app.models import ApiToken, User, utcnow_for_models


def bearer_from(conn: HTTPConnection) -> str | None:
    header = conn.headers.get("authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() == "bearer" and value.strip():
        return value.strip()
    return None


async def user_for_token(session: AsyncSession, token: str) -> User | None:
    row = await session.execute(
        select(ApiToken, User)
        .join(User, User.id == ApiToken.user_id)
        .where(ApiToken.token_hash == hash_token(token), ApiToken.revoked_at.is_(None))
    )
    found = row.first()
    if found is None:
        return None
    api_token, user = found
    if not user.active:
        return None
    now = utcnow_for_models()
    # Record use at most once a minute: a token used per request must not turn reads into writes.
    if api_token.last_used_at is None or (now - api_token.last_used_at).total_seconds() > 60:
        api_token.last_used_at = now
    return user
