"""The cookie side of authentication: `AppServices.web_auth`, CSRF, and the session cookie.

`app/deps.py` asks the bearer token first and this hook second, so API clients with a
token never need a CSRF token, and the page's requests (cookie) always do when they
change something: a mutating request signed in by cookie must carry `X-CSRF-Token`
(or, for the page's plain forms, a `csrf_token` field).
"""

from __future__ import annotations

from urllib.parse import urlsplit

from sqlalchemy.ext.asyncio import AsyncSession
from starlette.requests import HTTPConnection
from starlette.responses import Response

from app.accounts.sessions import (
    ABSOLUTE_TIMEOUT,
    SESSION_COOKIE,
    csrf_matches,
    csrf_token_for,
    user_for_session,
)
from app.errors import Forbidden
from app.models import User
from app.services import get_services

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
CSRF_HEADER = "x-csrf-token"


def secret_key(conn: HTTPConnection) -> str:
    """The signing key, read once per app (it may live in var/secret_key)."""
    return get_services(conn).secret_key()


def session_token(conn: HTTPConnection) -> str | None:
    token = conn.cookies.get(SESSION_COOKIE)
    return token if token and len(token) < 200 else None


def csrf_token(conn: HTTPConnection) -> str:
    """The CSRF token of the request's session (empty when signed out)."""
    token = session_token(conn)
    return csrf_token_for(secret_key(conn), token) if token else ""


async def web_auth(conn: HTTPConnection, session: AsyncSession) -> User | None:
    """The signed-in user behind the session cookie; refuses a mutating request
    without the session's CSRF token (403) so no other site can act as the agent."""
    token = session_token(conn)
    if token is None:
        return None
    user = await user_for_session(session, token)
    if user is None:
        return None
    mutating = conn.scope["type"] == "http" and conn.scope["method"] not in SAFE_METHODS
    if mutating and not csrf_matches(secret_key(conn), token, conn.headers.get(CSRF_HEADER)):
        raise Forbidden("CSRF token missing or invalid")
    return user


def is_https(conn: HTTPConnection) -> bool:
    return urlsplit(get_services(conn).settings.public_url).scheme == "https"


def set_session_cookie(conn: HTTPConnection, response: Response, token: str) -> None:
    response.set_cookie(
        SESSION_COOKIE,
        token,
        max_age=int(ABSOLUTE_TIMEOUT.total_seconds()),
        path="/",
        httponly=True,
        samesite="lax",
        secure=is_https(conn),
    )


def clear_session_cookie(conn: HTTPConnection, response: Response) -> None:
    response.delete_cookie(
        SESSION_COOKIE, path="/", httponly=True, samesite="lax", secure=is_https(conn)
    )


def same_origin(conn: HTTPConnection) -> bool:
    """A form post from our own page: the browser's Origin (when it sends one) names our
    public URL or the host it asked. Guards sign-in against login CSRF."""
    origin = conn.headers.get("origin")
    if origin is None:
        return True  # not a browser cross-site request (browsers send Origin on POST)
    if get_services(conn).origin_allowed(origin):
        return True
    got = urlsplit(origin)
    return got.scheme in ("http", "https") and got.netloc == conn.headers.get("host", "")


def client_ip(conn: HTTPConnection) -> str:
    return conn.client.host if conn.client else "unknown"
