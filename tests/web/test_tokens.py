"""Personal API tokens on /settings (issue 21, item 6): every member creates one (shown
once), sees when each was last used, and revokes it; the API refuses others' tokens."""

from __future__ import annotations

import re
from typing import Any

import httpx
from playwright.async_api import Browser, expect
from sqlalchemy import select

from app.models import AuditLog
from tests.web.browser import LiveServer
from tests.web.support import staff
from tests.web.test_archive_admin import staff_page


async def test_a_member_manages_their_tokens(live: LiveServer, browser: Browser) -> None:
    agent = await staff(live.factory, name="客服 李娜")
    other = await staff(live.factory, name="客服 张伟")
    page, watch = await staff_page(browser, live.base, agent["email"], "/settings")
    rows = page.locator("#tokens .token-row")
    await expect(rows).to_have_count(1)  # the one the test factory made
    await page.locator("#create-token").click()
    value = page.locator("#token-value")
    await expect(value).to_have_text(re.compile(r"^hl_"))
    token = await value.text_content()
    assert token
    await expect(rows).to_have_count(2)
    newest = rows.first
    await expect(newest.locator(".token-last-used")).to_have_text("从未使用")

    async with httpx.AsyncClient(base_url=live.base) as http:
        me = {"Authorization": f"Bearer {token}"}
        assert (await http.get("/api/v1/conversations", headers=me)).status_code == 200
        # Another member can neither see nor revoke it.
        mine = (await http.get("/api/v1/me/tokens", headers=me)).json()["items"]
        theirs = (await http.get("/api/v1/me/tokens", headers=other["headers"])).json()["items"]
        assert {t["id"] for t in mine}.isdisjoint({t["id"] for t in theirs})
        r = await http.post(f"/api/v1/me/tokens/{mine[0]['id']}/revoke", headers=other["headers"])
        assert r.status_code == 404
    await page.reload()
    await expect(newest.locator(".token-last-used")).not_to_have_text("从未使用")
    await newest.locator(".revoke-token").click()
    await expect(newest.locator(".token-state")).to_have_text("已撤销")
    await expect(newest.locator(".revoke-token")).to_have_count(0)
    async with httpx.AsyncClient(base_url=live.base) as http:
        r = await http.get("/api/v1/conversations", headers={"Authorization": f"Bearer {token}"})
        assert r.status_code == 401
    async with live.app.state.services.db.sessions() as session:
        actions = list(await session.scalars(select(AuditLog.action).order_by(AuditLog.id)))
    assert actions[-2:] == ["token.created", "token.revoked"]
    # The inbox links to the page.
    await page.goto(f"{live.base}/inbox")
    await page.locator("#settings-link").click()
    await expect(page.locator("#tokens-head")).to_have_text("个人 API 令牌")
    watch.check(allow_socket_errors=True)


async def test_tokens_api_needs_a_member_and_has_a_limit(
    client: httpx.AsyncClient, factory: Any
) -> None:
    assert (await client.get("/api/v1/me/tokens")).status_code == 401
    user = await factory.user("agent")
    for _ in range(19):  # the factory made one: 20 is the limit
        assert (await client.post("/api/v1/me/tokens", headers=user["headers"])).status_code == 201
    r = await client.post("/api/v1/me/tokens", headers=user["headers"])
    assert r.status_code == 409
    assert (
        await client.post("/api/v1/me/tokens/999/revoke", headers=user["headers"])
    ).status_code == 404
