"""The /retention page and the customer page's retention box, in Chromium: the
demo's year of history shown, a one-click follow-up task, hostile names as text."""

from __future__ import annotations

import httpx
from playwright.async_api import Browser, expect

from app.models import utcnow_for_models
from app.retention.worker import refresh_once
from sandbox.retention_history import seed_history
from tests.web.browser import LiveServer, shot
from tests.web.support import staff
from tests.web.test_archive_admin import staff_page


async def test_retention_page_follow_up_and_customer_box(
    live: LiveServer, browser: Browser
) -> None:
    await live.factory.channel("微信")
    await staff(live.factory, "agent", name="客服 小李")
    boss = await staff(live.factory, "supervisor", name="主管 周")
    db = live.app.state.services.db
    assert await seed_history(db)
    await refresh_once(db, utcnow_for_models(), full=True)
    page, watch = await staff_page(browser, live.base, boss["email"], "/retention")
    await expect(page.locator("#churn-chart .ret-bar")).to_have_count(12)
    rows = page.locator("#at-risk .at-risk-row")
    assert await rows.count() > 0
    first = rows.first
    contact_id = await first.get_attribute("data-contact-id")
    await first.locator("button.follow-up").click()
    await expect(first.locator("button.follow-up")).to_have_text("已建任务")
    await page.screenshot(path=shot("retention.png"), full_page=True)
    async with httpx.AsyncClient(base_url=live.base, headers=boss["headers"]) as http:
        tasks = (await http.get(f"/api/v1/tasks?contact_id={contact_id}&kind=manual")).json()
        assert [t["kind"] for t in tasks["items"]] == ["manual"]
    await page.goto(f"{live.base}/customers/{contact_id}")
    box = page.locator("#retention-box")
    await expect(box).to_contain_text("风险分")
    assert await box.locator(".ret-reasons li").count() > 0
    watch.check(allow_socket_errors=True)
