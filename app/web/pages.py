"""Page routes: `/` , `/login` (GET form, POST sign-in), `/logout`, `/inbox`, `/archive`
(supervisors and admins), `/admin` and `/admin/audit` (admins) (CONTRACT 6)."""

from __future__ import annotations

import math
from functools import cache
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, Form, Request
from fastapi.responses import RedirectResponse, Response
from fastapi.templating import Jinja2Templates
from sqlalchemy import func, select

from app.accounts import passwords
from app.accounts.security import hash_password
from app.accounts.sessions import create_session, csrf_matches, revoke_session
from app.deps import SessionDep
from app.i18n import LANGS, page_texts, texts
from app.models import EventLog, User
from app.services import get_services
from app.web import ratelimit
from app.web.auth import (
    clear_session_cookie,
    client_ip,
    csrf_token,
    same_origin,
    secret_key,
    session_token,
    set_session_cookie,
    web_auth,
)
from channels import registry
from channels.base import ContentType

FRONTEND = Path(__file__).resolve().parents[2] / "frontend"
templates = Jinja2Templates(directory=FRONTEND / "templates")
router = APIRouter(include_in_schema=False)

LANG_COOKIE = "huiliu_lang"
# Strict: only our own scripts and styles; customer images may come from anywhere.
CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; "
    "img-src 'self' data: blob: https: http:; media-src 'self' blob: https: http:; "
    "connect-src 'self' ws: wss:; font-src 'self'; object-src 'none'; base-uri 'none'; "
    "form-action 'self'; frame-ancestors 'none'; require-trusted-types-for 'script'"
)
PAGE_HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",  # pages carry the CSRF token
    "Permissions-Policy": "camera=(), microphone=(), geolocation=()",
}


@cache
def _dummy_hash() -> str:
    """Checked for unknown emails too, so timing does not reveal who has an account."""
    return hash_password("not-a-real-password-0")


def lang_of(request: Request) -> str:
    lang = request.cookies.get(LANG_COOKIE, "")
    return lang if lang in LANGS else "zh-CN"


def safe_next(value: str | None) -> str:
    """Only a local path: never an open redirect to another site."""
    if not value or not value.startswith("/") or value.startswith("//") or "\\" in value:
        return "/inbox"
    return value


def render(request: Request, name: str, context: dict[str, Any], status: int = 200) -> Response:
    response = templates.TemplateResponse(
        request, name, {"lang": lang_of(request), **context}, status_code=status
    )
    response.headers.update(PAGE_HEADERS)
    return response


def login_form(
    request: Request, status: int = 200, *, error: str = "", email: str = "", next_: str = ""
) -> Response:
    words = texts(lang_of(request), "login")
    context = {"t": words, "error": words[error] if error else "", "email": email}
    response = render(request, "login.html", {**context, "next": safe_next(next_)}, status)
    if status == 429:
        response.headers["Retry-After"] = str(int(ratelimit.WINDOW.total_seconds()))
    return response


@router.get("/")
async def home(request: Request, session: SessionDep) -> Response:
    user = await web_auth(request, session)
    return RedirectResponse("/inbox" if user else "/login", status_code=303)


@router.get("/lang/{code}")
async def set_language(code: str, next: str = "") -> Response:
    """The language switch (a preference cookie, readable by the page's script)."""
    response = RedirectResponse(safe_next(next), status_code=303)
    if code in LANGS:
        response.set_cookie(LANG_COOKIE, code, max_age=365 * 86400, path="/", samesite="lax")
    return response


@router.get("/login")
async def login_page(request: Request, session: SessionDep, next: str = "") -> Response:
    if await web_auth(request, session):
        return RedirectResponse(safe_next(next), status_code=303)
    return login_form(request, next_=next)


@router.post("/login")
async def login(
    request: Request,
    session: SessionDep,
    email: Annotated[str, Form(max_length=254)] = "",
    password: Annotated[str, Form(max_length=1000)] = "",
    next: Annotated[str, Form(max_length=500)] = "",
) -> Response:
    if not same_origin(request):
        return login_form(request, 403, error="cross_site", next_=next)
    email = email.strip().lower()
    ip = client_ip(request)
    if await ratelimit.is_limited(session, email, ip):
        return login_form(request, 429, error="too_many", email=email, next_=next)
    wait = await ratelimit.account_wait(session, email, ip)
    if wait > 0:
        response = login_form(request, 429, error="slow_down", email=email, next_=next)
        response.headers["Retry-After"] = str(math.ceil(wait))
        return response
    user = await session.scalar(select(User).where(User.email == email)) if email else None
    stored = user.password_hash if user and user.password_hash else _dummy_hash()
    user_id = user.id if user is not None and user.active else None
    # End the read transaction first: argon2 runs (in a thread, a few at a time) without
    # holding a database connection, which on SQLite is the only one (issue 19, item 6).
    await session.rollback()
    ok = await passwords.verify(stored, password)
    user = await session.get(User, user_id) if ok and user_id is not None else None
    if user is None or not user.active:
        await ratelimit.record_failure(session, email, ip)
        return login_form(request, 401, error="wrong", email=email, next_=next)
    await ratelimit.clear_failures(session, email, ip)
    token = await create_session(session, user, ip=ip, user_agent=request.headers.get("user-agent"))
    response = RedirectResponse(safe_next(next), status_code=303)
    set_session_cookie(request, response, token)
    return response


@router.post("/logout")
async def logout(
    request: Request,
    session: SessionDep,
    csrf_token_field: Annotated[str, Form(alias="csrf_token", max_length=200)] = "",
) -> Response:
    token = session_token(request)
    if token is not None:
        given = request.headers.get("x-csrf-token") or csrf_token_field
        if not csrf_matches(secret_key(request), token, given):
            return Response("CSRF token missing or invalid", status_code=403)
        await revoke_session(session, token)
    response = RedirectResponse("/login", status_code=303)
    clear_session_cookie(request, response)
    return response


def image_reply_types(kind: ContentType = ContentType.IMAGE) -> list[str]:
    """Channel types whose connector can send an image (or `kind`) reply: the upload
    button shows for them, a note says so for the others."""
    return sorted(t for t, c in registry.CONNECTORS.items() if kind in c.capabilities.media_replies)


@router.get("/inbox")
async def inbox(request: Request, session: SessionDep) -> Response:
    user = await web_auth(request, session)
    if user is None:
        return RedirectResponse("/login?next=" + quote("/inbox"), status_code=303)
    # In this request's own transaction: a second session would wait on SQLite's writer lock.
    seq = int(await session.scalar(select(func.coalesce(func.max(EventLog.seq), 0))) or 0)
    context = {
        "user": user,
        "csrf": csrf_token(request),
        "seq": seq,
        "image_types": ",".join(image_reply_types()),
        "t": page_texts(lang_of(request), "inbox"),
        "file_types": ",".join(image_reply_types(ContentType.FILE)),
    }
    return render(request, "inbox.html", context)


ARCHIVE_ROLES = frozenset({"supervisor", "admin"})
ADMIN_ROLES = frozenset({"admin"})
EVERY_ROLE = frozenset({"agent", "supervisor", "admin"})


async def staff_page(
    request: Request,
    session: SessionDep,
    path: str,
    roles: frozenset[str],
    name: str,
    extra: dict[str, Any] | None = None,
) -> Response:
    """A page for some roles only: signed out goes to /login, other roles get a 403 page."""
    user = await web_auth(request, session)
    if user is None:
        return RedirectResponse("/login?next=" + quote(path), status_code=303)
    # The inbox's words too: the archive shows messages with the inbox's renderer.
    words = page_texts(lang_of(request), "inbox", "pages")
    context = {"user": user, "csrf": csrf_token(request), "t": words, "path": path}
    if user.role not in roles:
        return render(request, "forbidden.html", context, status=403)
    public = get_services(request).settings.public_url.rstrip("/")
    return render(request, name, {**context, "public_url": public, **(extra or {})})


@router.get("/archive")
async def archive(request: Request, session: SessionDep) -> Response:
    return await staff_page(request, session, "/archive", ARCHIVE_ROLES, "archive.html")


@router.get("/admin")
async def admin(request: Request, session: SessionDep) -> Response:
    return await staff_page(request, session, "/admin", ADMIN_ROLES, "admin.html")


# What the audit log records (the callers of app/audit.py), for the page's filter;
# each has an `act_…` label in the catalog's `pages` section (dots become underscores). An
# action missing here still shows, under its code.
AUDIT_ACTIONS: tuple[str, ...] = (
    "conversation.assigned",
    "conversation.requeued",
    "conversation.status_changed",
    "message.retried",
    "contact.updated",
    "canned_reply.created",
    "canned_reply.updated",
    "canned_reply.deleted",
    "user.created",
    "user.updated",
    "user.deactivated",
    "user.reactivated",
    "token.created",
    "token.revoked",
    "channel.created",
    "channel.reauthorized",
    "channel.archived",
    "channel.unarchived",
    "archive.read",
    "archive.listed",
    "archive.exported",
    "search.queried",
)
AUDIT_OBJECT_TYPES: tuple[str, ...] = tuple(
    key.removeprefix("obj_") for key in texts("en", "pages") if key.startswith("obj_")
)


@router.get("/settings")
async def settings_page(request: Request, session: SessionDep) -> Response:
    """Every member's own settings: personal API tokens."""
    return await staff_page(request, session, "/settings", EVERY_ROLE, "settings.html")


@router.get("/admin/audit")
async def audit(request: Request, session: SessionDep) -> Response:
    """Read-only: the page lists the append-only log through `GET /api/v1/audit`."""
    extra = {"actions": AUDIT_ACTIONS, "object_types": AUDIT_OBJECT_TYPES}
    return await staff_page(request, session, "/admin/audit", ADMIN_ROLES, "audit.html", extra)
