"""The /campaigns pages in Chromium with hostile customer names and titles: create a
campaign, pick invitees with the customers' filters, move them through the states, see the
funnel and the mix; and from an invite task, one click to the conversation with the text."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from playwright.async_api import Browser, expect
from sqlalchemy import select

from app.contacts.calendar import BUSINESS_TZ
from app.models import Contact, Conversation
from tests.web.browser import LiveServer, shot
from tests.web.support import sign_in, staff
from tests.web.test_archive_admin import staff_page

XSS = "<img src=x onerror=alert(1)><script>alert(2)</script>"
FORMULA = '=HYPERLINK("http://evil")'


async def test_campaign_pages_by_role(client: httpx.AsyncClient, factory: Any) -> None:
    for path in ("/campaigns", "/campaigns/1"):
        assert (await client.get(path)).headers["location"].startswith("/login?next=")
    user = await staff(factory, "agent")
    await sign_in(client, user["email"])
    for path in ("/campaigns", "/campaigns/1"):
        r = await client.get(path)
        assert r.status_code == 200 and "<script>" not in r.text
    assert 'href="/campaigns"' in (await client.get("/todo")).text


async def test_campaign_flow_with_hostile_names(live: LiveServer, browser: Browser) -> None:
    ch = await live.factory.channel("微信")
    agent = await staff(live.factory, "agent", name="客服 小李")
    await live.push(ch, {"id": "1", "from": "u1", "name": XSS, "text": "在吗"})
    await live.push(ch, {"id": "2", "from": "u2", "name": FORMULA, "text": "你好"})
    async with httpx.AsyncClient(base_url=live.base, headers=agent["headers"]) as http:
        for c in (await http.get("/api/v1/contacts")).json()["items"]:
            await http.patch(f"/api/v1/contacts/{c['id']}", json={"owner_id": agent["id"]})
    page, watch = await staff_page(browser, live.base, agent["email"], "/campaigns")
    await expect(page.locator("#campaign-rows .empty")).to_have_count(1)
    starts = (datetime.now() + timedelta(days=10)).strftime("%Y-%m-%dT14:00")
    await page.fill("#campaign-create [name=title]", f"品鉴会 {XSS}")
    await page.fill("#campaign-create [name=starts_at]", starts)
    await page.fill("#campaign-create [name=capacity]", "1")
    await page.fill("#campaign-create [name=location]", "门店二楼")
    await page.click("#campaign-create button[type=submit]")
    await expect(page.locator(".campaign-title")).to_have_text(f"品鉴会 {XSS}")
    # pick both customers through the picker's filters
    picks = page.locator("#picker-rows .picker-row")
    await expect(picks).to_have_count(2)
    await page.fill("#picker-filters [name=q]", "HYPERLINK")
    await page.click("#picker-filters button[type=submit]")
    await expect(picks).to_have_count(1)
    await expect(picks.locator(".picker-name")).to_have_text(FORMULA)
    await page.fill("#picker-filters [name=q]", "")
    await page.select_option("#picker-filters [name=owner]", "me")
    await page.click("#picker-filters button[type=submit]")
    await expect(picks).to_have_count(2)
    for box in await page.locator("#picker-rows input.pick").all():
        await box.check()
    await page.click("#picker-add")
    rows = page.locator("#invitee-rows .invitee-row")
    await expect(rows).to_have_count(2)
    await expect(rows.locator(".invitee-name")).to_have_text(
        [FORMULA, XSS]
    )  # the picker lists the most recent first
    await expect(page.locator("#campaign-funnel [data-stage=listed] .funnel-count")).to_have_text(
        "2"
    )
    await expect(page.locator("#campaign-mix [data-segment=new] .mix-actual")).to_have_text("2")
    await expect(page.locator("#mix-definitions")).to_contain_text("90")
    # listed -> contacted -> confirmed for the first; the second cannot confirm: full
    first = page.locator('#invitee-rows .invitee-row[data-state="listed"]').first
    await first.locator("button[data-to=contacted]").click()
    await expect(
        page.locator("#campaign-funnel [data-stage=contacted] .funnel-count")
    ).to_have_text("1")
    contacted = page.locator('#invitee-rows .invitee-row[data-state="contacted"]')
    await contacted.locator(".invitee-note").fill(f"备注 {XSS}")
    await contacted.locator("button[data-to=confirmed]").click()
    await expect(
        page.locator("#campaign-funnel [data-stage=confirmed] .funnel-count")
    ).to_have_text("1")
    await expect(
        page.locator('#invitee-rows .invitee-row[data-state="confirmed"] .invitee-history')
    ).to_contain_text(f"备注 {XSS}")
    second = page.locator('#invitee-rows .invitee-row[data-state="listed"]')
    await second.locator("button[data-to=contacted]").click()
    await page.locator(
        '#invitee-rows .invitee-row[data-state="contacted"] button[data-to=confirmed]'
    ).click()
    await expect(page.locator(".toast-error")).to_contain_text("full")
    await page.screenshot(path=shot("campaign.png"), full_page=True)
    assert await page.locator("main img, main script").count() == 0
    refused = [m for m in watch.console if "status of 409" in m]
    assert len(refused) == 1
    watch.console = [m for m in watch.console if m not in refused]
    watch.check(allow_socket_errors=True)


async def test_invite_task_opens_the_conversation_with_the_text(
    live: LiveServer, browser: Browser
) -> None:
    ch = await live.factory.channel("微信")
    agent = await staff(live.factory, "agent", name="客服 小李")
    await live.push(ch, {"id": "1", "from": "u1", "name": XSS, "text": "在吗"})
    await live.push(ch, {"id": "2", "from": "u2", "name": "电话客户", "text": "好"})
    # the second customer's reply window has closed: the task shows the phone number
    async with live.app.state.services.db.session() as s:
        for conv in await s.scalars(select(Conversation)):
            contact_row = await s.get(Contact, conv.contact_id)
            assert contact_row is not None
            if contact_row.name == "电话客户":
                contact_row.phone = "13912345678"
                conv.reply_window_expires_at = datetime.now(UTC) - timedelta(hours=1)
    async with httpx.AsyncClient(base_url=live.base, headers=agent["headers"]) as http:
        everyone = (await http.get("/api/v1/contacts")).json()["items"]
        contact = next(c for c in everyone if c["name"] == XSS)
        for c in everyone:
            await http.patch(f"/api/v1/contacts/{c['id']}", json={"owner_id": agent["id"]})
        # in 2 days: the invite task (3 days before) is due today
        starts = datetime.now(UTC) + timedelta(days=2)
        camp = (
            await http.post(
                "/api/v1/campaigns",
                json={"title": "会员日", "starts_at": starts.isoformat(), "capacity": 5},
            )
        ).json()
        r = await http.post(
            f"/api/v1/campaigns/{camp['id']}/invitees",
            json={"contact_ids": [c["id"] for c in everyone]},
        )
        assert r.status_code == 200, r.text
        convs = (await http.get("/api/v1/conversations")).json()["items"]
        conv = next(c for c in convs if c["contact"]["id"] == contact["id"])
    page, watch = await staff_page(browser, live.base, agent["email"], "/todo")
    await expect(page.locator(".task[data-kind=invite]")).to_have_count(2)
    phone_task = page.locator(".task[data-kind=invite]", has_text="电话客户")
    await phone_task.locator(".task-reach-button").click()
    await expect(phone_task.locator(".task-phone")).to_contain_text("13912345678")
    await expect(phone_task.locator(".task-script")).to_contain_text("会员日")
    await expect(page).to_have_url(f"{live.base}/todo")
    task = page.locator(".task[data-kind=invite]").filter(
        has=page.locator(".task-contact", has_text="onerror")
    )
    await expect(task).to_have_count(1)
    await expect(task.locator(".task-title")).to_contain_text(XSS)
    await task.locator(".task-reach-button").click()
    await expect(page).to_have_url(f"{live.base}/inbox#conversation-{conv['id']}")
    box = page.locator("#reply-text")
    await expect(box).to_have_value(
        f"{XSS}您好，诚邀您参加「会员日」，时间："
        + starts.astimezone(BUSINESS_TZ).strftime("%Y-%m-%d %H:%M")
        + "，地点：-。方便来吗？"
    )
    assert await page.locator("img[src=x]").count() == 0
    watch.check(allow_socket_errors=True)
