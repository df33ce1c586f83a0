"""The /archive and /admin pages: who may open them, and in Chromium a supervisor's
search with safe highlights and a read-only conversation, and an admin's offboarding."""

from __future__ import annotations

import re
from typing import Any

import httpx
from playwright.async_api import Browser, Page, expect

from tests.web.browser import LiveServer, Watch, shot
from tests.web.support import PASSWORD, sign_in, staff

XSS = "<img src=x onerror=alert(1)><script>alert(2)</script>"


async def test_pages_by_role(client: httpx.AsyncClient, factory: Any) -> None:
    assert (await client.get("/archive")).headers["location"] == "/login?next=/archive"
    assert (await client.get("/admin")).headers["location"] == "/login?next=/admin"
    expected = {
        "agent": {"/archive": 403, "/admin": 403},
        "supervisor": {"/archive": 200, "/admin": 403},
        "admin": {"/archive": 200, "/admin": 200},
    }
    for role, pages in expected.items():
        client.cookies.clear()
        user = await staff(factory, role)
        await sign_in(client, user["email"])
        inbox = (await client.get("/inbox")).text
        assert ('href="/archive"' in inbox) == (role != "agent")
        assert ('href="/admin"' in inbox) == (role == "admin")
        for path, status in pages.items():
            r = await client.get(path)
            assert r.status_code == status, (role, path)
            assert "script-src 'self'" in r.headers["content-security-policy"]
            assert "<script>" not in r.text  # only modules and a JSON data block
            if status == 403:
                assert 'id="forbidden"' in r.text
            else:
                assert '<meta name="csrf-token"' in r.text
    client.cookies.set("huiliu_lang", "en")
    r = await client.get("/admin")
    assert 'lang="en"' in r.text and "Members" in r.text


async def staff_page(
    browser: Browser,
    base: str,
    email: str,
    path: str,
    viewport: dict[str, int] | None = None,
) -> tuple[Page, Watch]:
    context = await browser.new_context(
        viewport=viewport or {"width": 1366, "height": 768}, locale="zh-CN"
    )
    page = await context.new_page()
    watch = Watch(page)
    await page.goto(f"{base}/login?next={path}")
    await page.fill('input[name="email"]', email)
    await page.fill('input[name="password"]', PASSWORD)
    await page.click('button[type="submit"]')
    await expect(page).to_have_url(re.compile(f"{re.escape(path)}$"))
    # The URL changes before the page's module scripts have run: a click on a server-rendered
    # button before then does nothing (a PostgreSQL run clicked 新增渠道 too early and waited
    # 30 s for its dialog). Module scripts run before the load event.
    await page.wait_for_load_state("load")
    return page, watch


async def test_supervisor_searches_and_reads_without_touching_unread(
    live: LiveServer, browser: Browser
) -> None:
    ch = await live.factory.channel("官网客服")
    boss = await staff(live.factory, "supervisor", name="主管 周敏")
    text = f"我的优惠券不能用 {XSS} 订单号12345"
    await live.push(ch, {"id": "1", "from": "u1", "name": "王小明", "text": "你好"})
    await live.push(ch, {"id": "2", "from": "u1", "name": "王小明", "text": text})
    await live.push(ch, {"id": "3", "from": "u2", "name": "陈静", "text": "请问可以开发票吗？"})
    async with httpx.AsyncClient(base_url=live.base, headers=boss["headers"]) as http:
        convs = (await http.get("/api/v1/conversations", params={"status": "all"})).json()
        wang = next(c for c in convs["items"] if c["contact"]["name"] == "王小明")
        assert wang["unread_count"] == 2

    page, watch = await staff_page(browser, live.base, boss["email"], "/archive")
    await expect(page.locator(".result-item")).to_have_count(2)  # every conversation
    await page.fill("#q", "惠券")
    await page.press("#q", "Enter")
    hit = page.locator(".result-item .hit-text")
    await expect(hit).to_have_count(1)
    await expect(page.locator("#results-head")).to_have_text("匹配的消息")
    await expect(hit.locator("mark")).to_have_text("惠券")
    await expect(hit).to_contain_text(XSS)  # the payload is text, not markup
    assert await page.locator(".hit-text img, .hit-text script").count() == 0

    await hit.click()
    messages = page.locator("#archive-messages .msg")
    await expect(messages).to_have_count(2)
    await expect(page.locator("#read-only-flag")).to_be_visible()
    await expect(page.locator("#archive-messages .msg-in").last).to_contain_text(XSS)
    await expect(page.locator("#archive-messages .msg-sender").first).to_have_text("王小明")
    assert await page.locator("#archive-messages img, #archive-messages script").count() == 0
    await page.screenshot(path=shot("archive.png"))
    async with httpx.AsyncClient(base_url=live.base, headers=boss["headers"]) as http:
        after = (await http.get(f"/api/v1/conversations/{wang['id']}")).json()
    assert after["unread_count"] == 2  # reading the archive left it unread
    watch.check(allow_socket_errors=True)


async def test_admin_deactivates_an_agent_with_reassignment(
    live: LiveServer, browser: Browser
) -> None:
    ch = await live.factory.channel("微信公众号")
    await staff(live.factory, "admin", name="管理员 孙")
    leaving = await staff(live.factory, name="客服 李娜")
    taking = await staff(live.factory, name="客服 张伟")
    admin_email = "admin1@example.com"
    await live.push(ch, {"id": "1", "from": "u1", "name": "王小明", "text": "在吗"})
    async with httpx.AsyncClient(base_url=live.base, headers=leaving["headers"]) as http:
        conv = (await http.get("/api/v1/conversations")).json()["items"][0]
        r = await http.post(
            f"/api/v1/conversations/{conv['id']}/assignment", json={"assignee_id": leaving["id"]}
        )
        assert r.status_code == 200, r.text

    page, watch = await staff_page(browser, live.base, admin_email, "/admin")
    row = page.locator(f'.user-row[data-user-id="{leaving["id"]}"]')
    await expect(row.locator(".user-state")).to_have_text("在职")
    await expect(page.locator(".channel-row .webhook-url")).to_contain_text(
        f"/webhooks/test/{ch['id']}"
    )
    await row.locator("button.deactivate").click()
    dialog = page.locator("#admin-dialog")
    await expect(dialog).to_be_visible()
    await expect(dialog.locator("#workload")).to_contain_text("进行中 1 个")
    await dialog.locator("#reassign-to").select_option(str(taking["id"]))
    await page.screenshot(path=shot("admin-dialog.png"))
    await dialog.locator("#dialog-confirm").click()
    await expect(row.locator(".user-state")).to_have_text("已停用")
    await expect(row.locator("button.reactivate")).to_be_visible()
    await page.screenshot(path=shot("admin.png"))
    async with httpx.AsyncClient(base_url=live.base, headers=taking["headers"]) as http:
        moved = (await http.get(f"/api/v1/conversations/{conv['id']}")).json()
    assert moved["assignee"]["id"] == taking["id"]
    watch.check(allow_socket_errors=True)


async def test_admin_adds_and_edits_a_member(live: LiveServer, browser: Browser) -> None:
    wechat = await live.factory.channel("微信公众号")
    site = await live.factory.channel("官网")
    await staff(live.factory, "admin", name="管理员 孙")
    page, watch = await staff_page(browser, live.base, "admin1@example.com", "/admin")
    await expect(page.locator(".channel-row")).to_have_count(2)  # the page's script ran
    await page.locator("#add-user").click()
    dialog = page.locator("#admin-dialog")
    await dialog.locator("#member-name").fill(XSS)
    await dialog.locator("#member-email").fill("new.agent@example.com")
    await dialog.locator(f'input[name="channel_ids"][value="{wechat["id"]}"]').check()
    await dialog.locator("#dialog-confirm").click()
    password = await dialog.locator("#initial-password").text_content()
    assert password and len(password) >= 12
    await dialog.locator("#dialog-confirm").click()
    row = page.locator(".user-row", has_text="new.agent@example.com")
    await expect(row).to_contain_text(XSS)  # the name shows as text, not markup
    await expect(row).to_contain_text("微信公众号")
    await expect(page.locator("img[src=x]")).to_have_count(0)

    await row.locator("button.edit-user").click()
    await dialog.locator(f'input[name="channel_ids"][value="{site["id"]}"]').check()
    await dialog.locator("#member-role").select_option("supervisor")
    await dialog.locator("#dialog-confirm").click()
    await expect(row).to_contain_text("主管")
    await expect(row).to_contain_text("官网")
    watch.check()

    async with httpx.AsyncClient(base_url=live.base) as http:
        r = await http.post("/login", data={"email": "new.agent@example.com", "password": password})
        assert r.status_code == 303
