"""The to-do list, the customers pages and the inbox sidebar's customer record, in
Chromium, with hostile customer names and order items shown as text."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from playwright.async_api import Browser, expect

from app.contacts.calendar import today
from app.models import utcnow_for_models
from app.retention.worker import refresh_once
from tests.web.browser import LiveServer, open_inbox, shot
from tests.web.support import sign_in, staff
from tests.web.test_archive_admin import staff_page

XSS = "<img src=x onerror=alert(1)><script>alert(2)</script>"


async def test_crm_pages_by_role(client: httpx.AsyncClient, factory: Any) -> None:
    for path in ("/todo", "/customers", "/customers/1"):
        assert (await client.get(path)).headers["location"].startswith("/login?next=")
    user = await staff(factory, "agent")
    await sign_in(client, user["email"])
    for path in ("/todo", "/customers", "/customers/1"):
        r = await client.get(path)
        assert r.status_code == 200, path
        assert (
            "<script>" not in r.text and "script-src 'self'" in r.headers["content-security-policy"]
        )
    inbox = (await client.get("/inbox")).text
    assert 'href="/todo"' in inbox and 'href="/customers"' in inbox


async def _seed(live: LiveServer) -> dict[str, Any]:
    ch = await live.factory.channel("微信")
    agent = await staff(live.factory, "agent", name="客服 小李")
    await live.push(ch, {"id": "1", "from": "u1", "name": XSS, "text": "在吗"})
    async with httpx.AsyncClient(base_url=live.base, headers=agent["headers"]) as http:
        contact = (await http.get("/api/v1/contacts")).json()["items"][0]
        soon = today() + timedelta(days=3)
        r = await http.patch(
            f"/api/v1/contacts/{contact['id']}",
            json={
                "owner_id": agent["id"],
                "follow_up_days": 1,
                "important_dates": [{"label": "生日", "month": soon.month, "day": soon.day}],
            },
        )
        assert r.status_code == 200, r.text
        r = await http.post(
            "/api/v1/tasks",
            json={
                "contact_id": contact["id"],
                "title": f"回电 {XSS}",
                "due_at": (datetime.now(UTC) - timedelta(days=1)).isoformat(),
            },
        )
        assert r.status_code == 201, r.text
    return {"ch": ch, "agent": agent, "contact": contact}


async def test_todo_page_lists_completes_and_goes_live(live: LiveServer, browser: Browser) -> None:
    w = await _seed(live)
    page, watch = await staff_page(browser, live.base, w["agent"]["email"], "/todo")
    overdue = page.locator("#todo-overdue .task")
    await expect(overdue).to_have_count(1)
    await expect(overdue.locator(".task-title")).to_have_text(f"回电 {XSS}")
    await expect(overdue.locator(".task-contact")).to_have_text(XSS)
    # the birthday is in 3 days: its care task is due at the start of today
    await expect(page.locator("#todo-today .task[data-kind=care]")).to_have_count(1)
    await expect(page.locator("#todo-week .task[data-kind=follow_up]")).to_have_count(1)
    await expect(page.locator(".todo-count")).to_have_text("2")  # overdue + today
    # a follow-up without its outcome is refused; with one it is done
    follow = page.locator(".task[data-kind=follow_up]").first
    await follow.locator(".task-complete").click()
    await expect(page.locator(".toast-error")).to_contain_text("outcome")
    await follow.locator(".task-outcome").fill("客户满意")
    await follow.locator(".task-complete").click()
    await expect(page.locator(".task[data-kind=follow_up] .task-outcome")).to_have_count(1)
    # a task made elsewhere appears by itself (task.created)
    async with httpx.AsyncClient(base_url=live.base, headers=w["agent"]["headers"]) as http:
        r = await http.post(
            "/api/v1/tasks",
            json={
                "contact_id": w["contact"]["id"],
                "title": "今天的事",
                "due_at": datetime.now(UTC).isoformat(),
            },
        )
        assert r.status_code == 201
    await expect(page.locator("#todo-today .task-title", has_text="今天的事")).to_have_count(1)
    await page.screenshot(path=shot("todo.png"), full_page=True)
    await overdue.locator(".task-complete").click()
    await expect(page.locator("#todo-overdue .task")).to_have_count(0)
    assert await page.locator("main img, main script").count() == 0
    refused = [m for m in watch.console if "status of 400" in m]
    assert len(refused) == 1  # the follow-up without an outcome, shown as a toast
    watch.console = [m for m in watch.console if m not in refused]
    watch.check(allow_socket_errors=True)


async def test_customers_list_and_record(live: LiveServer, browser: Browser) -> None:
    w = await _seed(live)
    boss = await staff(live.factory, "supervisor", name="主管 周")
    async with httpx.AsyncClient(base_url=live.base, headers=boss["headers"]) as http:
        csv = "order_no,ordered_at,amount,item,quantity,warranty_months,external_id\n"
        csv += f'NO-77,2026-11-01,88,"{XSS}",1,12,u1\n'
        r = await http.post("/api/v1/orders/import", content=csv.encode())
        assert r.json()["created"] == 1, r.text
    # the one buyer is in the top tier
    await refresh_once(live.app.state.services.db, utcnow_for_models(), full=True)
    page, watch = await staff_page(browser, live.base, boss["email"], "/customers")
    rows = page.locator("#customer-rows .customer-row")
    await expect(rows).to_have_count(1)
    await expect(rows.locator(".customer-name")).to_have_text(XSS)
    await expect(rows.locator(".customer-owner")).to_have_text("客服 小李")
    await expect(rows.locator(".tier-badge")).to_have_text("重要价值")
    await page.fill("#q", "NO-77")
    await page.click("#customer-filters button[type=submit]")
    await expect(rows).to_have_count(1)
    await page.select_option("#f-tier", "general_value")
    await page.click("#customer-filters button[type=submit]")
    await expect(rows).to_have_count(0)
    await page.select_option("#f-tier", "important_value")
    await page.click("#customer-filters button[type=submit]")
    await expect(rows).to_have_count(1)
    await page.select_option("#f-owner", "none")
    await page.click("#customer-filters button[type=submit]")
    await expect(rows).to_have_count(0)
    await page.screenshot(path=shot("customers.png"))
    await page.goto(f"{live.base}/customers/{w['contact']['id']}")
    await expect(page.locator(".customer-name")).to_have_text(XSS)
    await expect(page.locator(".order-item")).to_contain_text(XSS)
    await expect(page.locator("#orders-total")).to_contain_text("88.00")
    await page.check("#consent")
    await expect(page.locator("#consent-state")).to_have_text("已同意接收营销信息")
    await page.fill("#date-label", "结婚纪念日")
    await page.fill("#date-month", "2")
    await page.fill("#date-day", "30")
    await page.click("#date-form button")
    await expect(page.locator(".toast-error")).to_contain_text("important_dates")
    await page.fill("#date-day", "14")
    await page.click("#date-form button")
    await expect(page.locator(".dates .date-label", has_text="结婚纪念日")).to_have_count(1)
    await page.fill("#lost-reason", f"嫌贵 {XSS}")
    await page.click("#lost-form button")
    await expect(page.locator("#lifecycle-state")).to_have_text("已流失")
    await expect(page.locator(".lifecycle-box .muted")).to_have_text(f"嫌贵 {XSS}")
    await page.click("#mark-active")
    await expect(page.locator("#lost-form")).to_be_visible()
    await page.screenshot(path=shot("customer.png"), full_page=True)
    assert await page.locator("main img, main script").count() == 0
    watch.console = [m for m in watch.console if "status of 400" not in m]  # 30 February
    watch.check(allow_socket_errors=True)


async def test_inbox_sidebar_shows_owner_and_open_tasks(live: LiveServer, browser: Browser) -> None:
    w = await _seed(live)
    other = await staff(live.factory, "agent", name="客服 小王")
    await live.push(w["ch"], {"id": "2", "from": "u9", "name": "新客户", "text": "你好"})
    page, watch = await open_inbox(browser, live.base, other["email"])
    await page.locator("#conv-list li", has_text=XSS).first.click()
    block = page.locator(".crm-sidebar")
    await expect(block.locator(".owner-name")).to_have_text("客服 小李")
    await expect(block.locator(".crm-task-due", has_text="生日还有 3 天")).to_have_count(1)
    await expect(page.locator("#todo-link .todo-count")).to_be_hidden()
    await page.locator("#conv-list li", has_text="新客户").first.click()
    block = page.locator(".crm-sidebar")
    await expect(block.locator(".crm-owner")).to_contain_text("无负责人")
    assert "null" not in await block.inner_text()
    await block.locator(".crm-take").click()
    await expect(page.locator(".crm-sidebar .owner-name")).to_have_text("客服 小王")
    await page.screenshot(path=shot("inbox-crm-sidebar.png"))
    watch.check(allow_socket_errors=True)
