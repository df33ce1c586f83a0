"""/reports in Chromium: charts from the vendored uPlot under the strict CSP, the table,
grouping by agent; and the widget's survey buttons."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import httpx
from playwright.async_api import Browser, expect
from playwright.async_api import TimeoutError as PlaywrightTimeout
from sqlalchemy import update

from app.models import Conversation, utcnow_for_models
from sandbox.service_history import seed_service_history
from tests.web.browser import LiveServer, open_inbox, shot
from tests.web.support import staff
from tests.web.test_archive_admin import staff_page

XSS = "<img src=x onerror=alert(1)>"


async def _seed(live: LiveServer) -> dict[str, Any]:
    ch = await live.factory.channel("微信")
    admin = await staff(live.factory, "admin")
    agent = await staff(live.factory, "agent", name=f"客服 {XSS}")
    async with httpx.AsyncClient(base_url=live.base, headers=admin["headers"]) as http:
        r = await http.patch(f"/api/v1/channels/{ch['id']}", json={"csat_enabled": True})
        assert r.status_code == 200
    for i in range(3):
        await live.push(ch, {"id": f"m{i}", "from": f"u{i}", "name": f"客户{i}", "text": "你好"})
    async with httpx.AsyncClient(base_url=live.base, headers=agent["headers"]) as http:
        convs = (await http.get("/api/v1/conversations")).json()["items"]
        for conv in convs:
            r = await http.post(
                f"/api/v1/conversations/{conv['id']}/messages", json={"content": "您好"}
            )
            assert r.status_code == 201
            r = await http.post(
                f"/api/v1/conversations/{conv['id']}/status", json={"status": "resolved"}
            )
            assert r.status_code == 200
    return {"ch": ch, "admin": admin, "agent": agent}


async def test_reports_page_charts_and_groups(live: LiveServer, browser: Browser) -> None:
    w = await _seed(live)
    await live.push(w["ch"], {"id": "r1", "from": "u0", "text": "5"})
    await live.push(w["ch"], {"id": "r2", "from": "u1", "text": "1 太慢"})
    page, watch = await staff_page(browser, live.base, w["admin"]["email"], "/reports")
    await expect(page.locator("body[data-loaded='1']")).to_have_count(1)
    await expect(page.locator("#report-table tbody tr")).to_have_count(7)  # the last 7 days
    await expect(page.locator("#report-table tbody tr").last.locator("td").nth(1)).to_have_text("3")
    await expect(page.locator(".report-chart .uplot canvas")).to_have_count(3)
    await expect(page.locator(".report-card strong").last).to_have_text("50%")
    await page.screenshot(path=shot("reports.png"), full_page=True)
    await page.select_option("select[name=by]", "agent")
    await page.click("#report-form button[type=submit]")
    rows = page.locator("#report-table tbody tr")
    await expect(rows).to_have_count(1)
    await expect(rows.first.locator("td").first).to_have_text(f"客服 {XSS}")
    await expect(rows.first.locator("td").nth(9)).to_have_text("2")  # ratings
    href = await page.locator("#report-csv").get_attribute("href")
    assert href is not None and "by=agent" in href and "format=csv" in href
    watch.check()
    # An agent's page shows their own figures only.
    page2, watch2 = await staff_page(browser, live.base, w["agent"]["email"], "/reports")
    await expect(page2.locator("body[data-loaded='1']")).to_have_count(1)
    await expect(page2.locator(".report-card strong").first).to_have_text("3")
    watch2.check()


async def test_admin_sets_service_hours_and_sees_a_bad_time_refused(
    live: LiveServer, browser: Browser
) -> None:
    ch = await live.factory.channel("微信")
    admin = await staff(live.factory, "admin")
    page, watch = await staff_page(browser, live.base, admin["email"], "/admin")
    await page.locator(f"tr[data-channel-id='{ch['id']}'] .service-settings").click()
    form = page.locator("#service-form")
    await form.locator("input[name=always_open]").uncheck()
    await form.locator("input[name=day_mon]").fill("09:00-12:00, 13:00-25:00")
    await form.locator("textarea[name=greeting]").fill(f"欢迎 {XSS}")
    await form.locator("input[name=csat_enabled]").check()
    await page.click("#service-save")
    await expect(form.locator(".form-error")).to_contain_text("25:00")
    # The refused request is the one console line expected (the browser logs a 400).
    assert [m for m in watch.console if "400" not in m] == []
    watch.console.clear()
    await form.locator("input[name=day_mon]").fill("09:00-12:00, 13:00-18:00")
    await page.click("#service-save")
    await expect(form).to_be_hidden()
    async with httpx.AsyncClient(base_url=live.base, headers=admin["headers"]) as http:
        got = (await http.get(f"/api/v1/channels/{ch['id']}/service")).json()
    assert got["business_hours"] == {"mon": [["09:00", "12:00"], ["13:00", "18:00"]]}
    assert got["greeting"] == f"欢迎 {XSS}" and got["csat_enabled"] is True
    # Opened again, the form shows what is stored, as text.
    await page.locator(f"tr[data-channel-id='{ch['id']}'] .service-settings").click()
    await expect(form.locator("textarea[name=greeting]")).to_have_value(f"欢迎 {XSS}")
    await expect(form.locator("input[name=day_mon]")).to_have_value("09:00-12:00, 13:00-18:00")
    watch.check()


async def test_inbox_marks_overdue_and_sorts_waiting_longest(
    live: LiveServer, browser: Browser
) -> None:
    ch = await live.factory.channel("微信")
    boss = await staff(live.factory, "supervisor")
    await live.push(ch, {"id": "1", "from": "u1", "name": "等了很久", "text": "在吗"})
    await live.push(ch, {"id": "2", "from": "u2", "name": "刚来", "text": "你好"})
    async with live.app.state.services.db.session() as session:
        await session.execute(
            update(Conversation)
            .where(Conversation.id == 1)
            .values(
                created_at=utcnow_for_models() - timedelta(minutes=30),
                first_response_due_at=utcnow_for_models() - timedelta(minutes=25),
            )
        )
    page, watch = await open_inbox(browser, live.base, boss["email"])
    await expect(page.locator(".conv-item.overdue")).to_have_count(1)
    await expect(page.locator(".conv-item.overdue .conv-name")).to_have_text("等了很久")
    await expect(page.locator(".sla-count")).to_have_text("1 个超时未回复")
    # Newest message first by default; waiting longest puts the overdue one on top.
    await expect(page.locator(".conv-item .conv-name").first).to_have_text("刚来")
    await page.select_option(".filter-sort", "waiting")
    await expect(page.locator(".conv-item .conv-name").first).to_have_text("等了很久")
    watch.check()


async def test_demo_history_draws_a_week(live: LiveServer, browser: Browser) -> None:
    for name in ("汇流官方公众号", "汇流抖音旗舰店", "汇流官网在线客服"):
        await live.factory.channel(name)
    admin = await staff(live.factory, "admin")
    for name in ("客服 李娜", "客服 王强", "客服 张敏"):
        await staff(live.factory, "agent", name=name)
    assert await seed_service_history(live.app.state.services.db, per_day=12)
    page, watch = await staff_page(browser, live.base, admin["email"], "/reports")
    await expect(page.locator("body[data-loaded='1']")).to_have_count(1)
    cells = page.locator("#report-table tbody tr td:nth-child(2)")
    await expect(cells).to_have_text(["12"] * 6 + ["0"])  # six seeded days, and today
    await expect(page.locator(".report-chart .uplot canvas")).to_have_count(3)
    await page.screenshot(path=shot("reports-demo.png"), full_page=True)
    watch.check()


async def test_thread_shows_the_rating(live: LiveServer, browser: Browser) -> None:
    ch = await live.factory.channel("微信")
    admin = await staff(live.factory, "admin")
    agent = await staff(live.factory, "agent", name="客服 李娜")
    async with httpx.AsyncClient(base_url=live.base, headers=admin["headers"]) as http:
        await http.patch(f"/api/v1/channels/{ch['id']}", json={"csat_enabled": True})
    await live.push(ch, {"id": "1", "from": "u1", "name": "张三", "text": "在吗"})
    async with httpx.AsyncClient(base_url=live.base, headers=agent["headers"]) as http:
        await http.post("/api/v1/conversations/1/messages", json={"content": "在的"})
        await http.post("/api/v1/conversations/1/status", json={"status": "resolved"})
    await live.push(ch, {"id": "2", "from": "u1", "text": f"5 {XSS}"})
    page, watch = await open_inbox(browser, live.base, admin["email"])
    await page.select_option(".filter-status", "all")
    # Once in about seven PostgreSQL runs the click waited 30 s on a list item detached by
    # the list's reload for the new filter and never re-resolved (not reproduced alone):
    # the click is retried after a reload (the filter is kept), what is checked is the thread.
    for attempt in range(3):
        try:
            await page.locator(".conv-item button").first.click(timeout=10_000)
            break
        except PlaywrightTimeout:
            if attempt == 2:
                raise
            await page.reload()
    await expect(page.locator("#thread-csat")).to_have_text("满意度 5/5 · 客服 李娜")
    await expect(page.locator("#thread-csat")).to_have_attribute("title", XSS)
    await expect(page.locator(".msg-text").last).to_have_text(f"5 {XSS}")
    watch.check()
