"""The admins' audit page (/admin/audit): who may open it, and in Chromium an audited
assignment and channel archive listed newest first, with hostile names shown as text."""

from __future__ import annotations

from typing import Any

import httpx
from playwright.async_api import Browser, expect

from tests.web.browser import LiveServer, shot
from tests.web.support import sign_in, staff
from tests.web.test_archive_admin import staff_page

XSS = "<img src=x onerror=alert(1)><script>alert(2)</script>"


async def test_audit_page_by_role(client: httpx.AsyncClient, factory: Any) -> None:
    r = await client.get("/admin/audit")
    assert r.headers["location"] == "/login?next=/admin/audit"
    for role, status in {"agent": 403, "supervisor": 403, "admin": 200}.items():
        client.cookies.clear()
        user = await staff(factory, role)
        await sign_in(client, user["email"])
        r = await client.get("/admin/audit")
        assert r.status_code == status, role
        assert "script-src 'self'" in r.headers["content-security-policy"]
        assert "<script>" not in r.text  # only modules and a JSON data block
        if status == 403:
            assert 'id="forbidden"' in r.text
            assert 'href="/admin/audit"' not in r.text
        else:
            assert '<script type="module" src="/static/js/audit.js">' in r.text
            assert 'option value="conversation.assigned">分配会话<' in r.text
            admin_page = (await client.get("/admin")).text
            assert 'href="/admin/audit"' in admin_page
            assert 'href="/admin/audit"' in (await client.get("/inbox")).text
    client.cookies.set("huiliu_lang", "en")
    r = await client.get("/admin/audit")
    assert 'lang="en"' in r.text and "Audit log" in r.text


async def test_admin_reads_the_audit_log(live: LiveServer, browser: Browser) -> None:
    ch = await live.factory.channel(f"渠道 {XSS}")
    admin = await staff(live.factory, "admin", name="管理员 孙")
    hostile = await staff(live.factory, channels=[ch["id"]], name=XSS)
    await live.push(ch, {"id": "1", "from": "u1", "name": "王小明", "text": "在吗"})
    async with httpx.AsyncClient(base_url=live.base, headers=admin["headers"]) as http:
        for _ in range(50):  # more than a page (50): the rest comes with "load more"
            r = await http.get("/api/v1/search", params={"q": "在吗"})
            assert r.status_code == 200, r.text
        conv = (await http.get("/api/v1/conversations")).json()["items"][0]
        r = await http.post(
            f"/api/v1/conversations/{conv['id']}/assignment", json={"assignee_id": hostile["id"]}
        )
        assert r.status_code == 200, r.text
        r = await http.post(f"/api/v1/channels/{ch['id']}/archive")
        assert r.status_code == 200, r.text

    page, watch = await staff_page(browser, live.base, admin["email"], "/admin/audit")
    rows = page.locator("#audit-rows .audit-row")
    await expect(rows.first).to_have_attribute("data-action", "channel.archived")  # newest first
    await expect(rows.first.locator(".audit-details")).to_have_text(f"停用渠道「渠道 {XSS}」")
    assigned = page.locator('.audit-row[data-action="conversation.assigned"]')
    await expect(assigned).to_have_count(1)
    await expect(assigned.locator(".audit-actor")).to_have_text("管理员 孙")
    await expect(assigned.locator(".audit-action")).to_have_text("分配会话")
    await expect(assigned.locator(".audit-object")).to_have_text(f"会话 #{conv['id']}")
    await expect(assigned.locator(".audit-details")).to_have_text(
        f"把会话 #{conv['id']}从未分配分配给{XSS}"
    )
    assert await page.locator("#audit-rows img, #audit-rows script").count() == 0
    await page.screenshot(path=shot("audit.png"))
    await expect(rows).to_have_count(50)
    await page.locator("#audit-more").click()
    await expect(rows).to_have_count(57)  # 5 setup entries, 50 searches, 2 by the admin
    await expect(page.locator("#audit-more")).to_be_hidden()
    await expect(rows.last.locator(".audit-action")).to_have_text("新增渠道")
    await expect(rows.last.locator(".audit-details")).to_have_text(
        f"新增 test 渠道渠道 #{ch['id']}"
    )
    searched = page.locator('.audit-row[data-action="search.queried"]').first
    await expect(searched.locator(".audit-details")).to_contain_text("搜索消息，条件：q=在吗")

    await page.locator("#f-action").select_option("conversation.assigned")
    await expect(rows).to_have_count(1)
    await page.locator("#f-action").select_option("")
    await page.locator("#f-actor").select_option(str(hostile["id"]))
    await expect(page.locator("#audit-rows .empty-row")).to_be_visible()
    await page.locator("#f-reset").click()
    await expect(rows.first).to_have_attribute("data-action", "channel.archived")
    watch.check(allow_socket_errors=True)

    # In English, the same entries read as English sentences.
    await page.goto(f"{live.base}/lang/en?next=/admin/audit")
    await expect(rows.first.locator(".audit-details")).to_have_text(
        f"Archived channel “渠道 {XSS}”"
    )
    await expect(assigned.locator(".audit-details")).to_have_text(
        f"Assigned Conversation #{conv['id']} from nobody to {XSS}"
    )
