"""Sign-in, the session cookie, CSRF, the login rate limit and revocation (issue 4 item 1)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import httpx
from sqlalchemy import select, update

from app.models import LoginFailure, User, WebSession, utcnow_for_models
from tests.conftest import push
from tests.web.support import PASSWORD, sign_in, staff


async def test_login_page_is_a_form_with_a_strict_csp(client: httpx.AsyncClient) -> None:
    r = await client.get("/login")
    assert r.status_code == 200
    assert 'name="email"' in r.text and 'name="password"' in r.text
    csp = r.headers["content-security-policy"]
    assert "script-src 'self'" in csp and "frame-ancestors 'none'" in csp
    assert "unsafe-inline" not in csp
    assert "<script>" not in r.text  # no inline script anywhere
    assert r.headers["x-frame-options"] == "DENY"


async def test_wrong_credentials_answer_401_with_the_form(
    client: httpx.AsyncClient, factory: Any
) -> None:
    agent = await staff(factory)
    for email, password in ((agent["email"], "wrong password"), ("nobody@example.com", PASSWORD)):
        r = await client.post("/login", data={"email": email, "password": password})
        assert r.status_code == 401
        assert 'name="password"' in r.text and "邮箱或密码不正确" in r.text
        assert "huiliu_session" not in r.headers.get("set-cookie", "")
    r = await client.post("/login", data={})
    assert r.status_code == 401


async def test_sign_in_sets_a_hardened_cookie_and_opens_the_inbox(
    app: Any, client: httpx.AsyncClient, factory: Any
) -> None:
    agent = await staff(factory)
    assert (await client.get("/inbox")).headers["location"] == "/login?next=/inbox"
    assert (await client.get("/")).headers["location"] == "/login"
    r = await client.post("/login", data={"email": agent["email"].upper(), "password": PASSWORD})
    assert r.status_code == 303 and r.headers["location"] == "/inbox"
    cookie = r.headers["set-cookie"]
    assert cookie.startswith("huiliu_session=")
    assert "HttpOnly" in cookie and "SameSite=lax" in cookie and "Secure" not in cookie
    assert (await client.get("/")).headers["location"] == "/inbox"
    page = await client.get("/inbox")
    assert page.status_code == 200 and agent["name"] in page.text
    assert "default-src 'self'" in page.headers["content-security-policy"]
    assert page.headers["cache-control"] == "no-store"
    # Only a hash of the cookie's secret is stored.
    async with app.state.services.db.sessions() as session:
        stored = (await session.scalars(select(WebSession.token_hash))).all()
    token = client.cookies["huiliu_session"]
    assert len(stored) == 1 and token not in stored[0]


async def test_cookie_is_secure_behind_https(
    app: Any, client: httpx.AsyncClient, factory: Any
) -> None:
    app.state.services.settings.public_url = "https://inbox.example.cn"
    agent = await staff(factory)
    r = await client.post("/login", data={"email": agent["email"], "password": PASSWORD})
    assert r.status_code == 303 and "Secure" in r.headers["set-cookie"]


async def test_next_is_a_local_path_only(client: httpx.AsyncClient, factory: Any) -> None:
    agent = await staff(factory)
    for target, expected in (("//evil.example", "/inbox"), ("https://evil.example", "/inbox")):
        client.cookies.clear()
        r = await client.post(
            "/login", data={"email": agent["email"], "password": PASSWORD, "next": target}
        )
        assert r.headers["location"] == expected


async def test_login_from_another_site_is_refused(client: httpx.AsyncClient, factory: Any) -> None:
    agent = await staff(factory)
    r = await client.post(
        "/login",
        data={"email": agent["email"], "password": PASSWORD},
        headers={"Origin": "https://evil.example"},
    )
    assert r.status_code == 403 and "huiliu_session" not in r.headers.get("set-cookie", "")
    r = await client.post(
        "/login",
        data={"email": agent["email"], "password": PASSWORD},
        headers={"Origin": "http://testserver"},
    )
    assert r.status_code == 303


async def test_mutating_api_calls_by_cookie_need_the_csrf_token(
    client: httpx.AsyncClient, factory: Any
) -> None:
    ch = await factory.channel()
    await push(client, ch, {"id": "1", "from": "u1", "text": "hi"})
    agent = await staff(factory)
    csrf = await sign_in(client, agent["email"])
    listed = await client.get("/api/v1/conversations")
    assert listed.status_code == 200
    conv = listed.json()["items"][0]["id"]
    path = f"/api/v1/conversations/{conv}/status"
    for headers in ({}, {"X-CSRF-Token": "0" * 64}, {"X-CSRF-Token": ""}):
        r = await client.post(path, json={"status": "pending"}, headers=headers)
        assert r.status_code == 403, headers
        assert r.json() == {"detail": "CSRF token missing or invalid"}
    r = await client.post(path, json={"status": "pending"}, headers={"X-CSRF-Token": csrf})
    assert r.status_code == 200 and r.json()["status"] == "pending"
    # A bearer token is no ambient credential: no CSRF token needed.
    bearer = await factory.user("agent")
    r = await client.post(path, json={"status": "open"}, headers=bearer["headers"])
    assert r.status_code == 200


async def test_logout_revokes_the_session(client: httpx.AsyncClient, factory: Any) -> None:
    agent = await staff(factory)
    csrf = await sign_in(client, agent["email"])
    token = client.cookies["huiliu_session"]
    r = await client.post("/logout", data={})
    assert r.status_code == 403  # no CSRF token: nobody can sign an agent out from afar
    r = await client.post("/logout", data={"csrf_token": csrf})
    assert r.status_code == 303 and r.headers["location"] == "/login"
    assert 'huiliu_session=""' in r.headers["set-cookie"]
    client.cookies.set("huiliu_session", token)  # the old cookie, replayed
    assert (await client.get("/api/v1/conversations")).status_code == 401
    assert (await client.get("/inbox")).status_code == 303


async def test_login_rate_limit_per_email_and_address(
    app: Any, client: httpx.AsyncClient, factory: Any
) -> None:
    agent = await staff(factory)
    wrong = {"email": agent["email"], "password": "nope nope"}
    for _ in range(5):
        assert (await client.post("/login", data=wrong)).status_code == 401
    right = {"email": agent["email"], "password": PASSWORD}
    r = await client.post("/login", data=right)
    assert r.status_code == 429 and "15" in r.text and r.headers["retry-after"] == "900"
    # Another address is not locked out by this one's failures.
    other = httpx.ASGITransport(app=app, client=("10.0.0.9", 4000))
    async with httpx.AsyncClient(transport=other, base_url="http://testserver") as c:
        assert (await c.post("/login", data=right)).status_code == 303
    # The window passes: failures older than 15 minutes no longer count.
    async with app.state.services.db.session() as session:
        await session.execute(
            update(LoginFailure).values(created_at=utcnow_for_models() - timedelta(minutes=16))
        )
    assert (await client.post("/login", data=right)).status_code == 303


async def test_deactivated_user_is_signed_out_at_once(
    app: Any, client: httpx.AsyncClient, factory: Any
) -> None:
    agent = await staff(factory)
    await sign_in(client, agent["email"])
    assert (await client.get("/api/v1/conversations")).status_code == 200
    async with app.state.services.db.session() as session:
        await session.execute(update(User).where(User.id == agent["id"]).values(active=False))
    assert (await client.get("/api/v1/conversations")).status_code == 401
    assert (await client.get("/inbox")).headers["location"].startswith("/login")
    r = await client.post("/login", data={"email": agent["email"], "password": PASSWORD})
    assert r.status_code == 401


async def test_expired_session_is_refused(
    app: Any, client: httpx.AsyncClient, factory: Any
) -> None:
    agent = await staff(factory)
    await sign_in(client, agent["email"])
    async with app.state.services.db.session() as session:
        await session.execute(
            update(WebSession).values(expires_at=utcnow_for_models() - timedelta(seconds=1))
        )
    assert (await client.get("/api/v1/conversations")).status_code == 401


async def test_a_used_session_slides_but_never_past_a_week(
    app: Any, client: httpx.AsyncClient, factory: Any
) -> None:
    agent = await staff(factory)
    await sign_in(client, agent["email"])
    now = utcnow_for_models()
    async with app.state.services.db.session() as session:
        await session.execute(
            update(WebSession).values(
                created_at=now - timedelta(days=6, hours=20),
                last_seen_at=now - timedelta(minutes=10),
                expires_at=now + timedelta(minutes=1),
            )
        )
    assert (await client.get("/api/v1/conversations")).status_code == 200
    async with app.state.services.db.sessions() as session:
        row = await session.scalar(select(WebSession))
    assert row is not None
    # Extended from 1 minute to the week's end (4 hours away), not by a full 12 hours.
    assert timedelta(hours=3) < row.expires_at - now <= timedelta(hours=4)


async def test_language_switch(client: httpx.AsyncClient) -> None:
    r = await client.get("/lang/en", params={"next": "/login"})
    assert r.status_code == 303 and r.headers["location"] == "/login"
    page = await client.get("/login")
    assert '<html lang="en">' in page.text and "Sign in" in page.text
    r = await client.get("/lang/xx", params={"next": "https://evil.example"})
    assert r.headers["location"] == "/inbox" and "huiliu_lang" not in r.headers.get(
        "set-cookie", ""
    )
