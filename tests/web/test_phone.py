"""Every page usable at 390x844 (issue 21, item 5): nothing wider than the screen, the
user's name and 退出 on it, channel names on one line, the image button and the canned
replies' manager reachable in a conversation; the customer record, retention, campaign,
report and settings pages with hostile and very long names (issue 13).
Screenshots go to var/screenshots/."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from playwright.async_api import Browser, Locator, Page, expect
from sqlalchemy import update

from app.models import Contact, utcnow_for_models
from app.retention.worker import refresh_once
from sandbox.retention_history import seed_history
from sandbox.service_history import seed_service_history
from tests.web.browser import LiveServer, Watch, shot
from tests.web.support import staff
from tests.web.test_archive_admin import staff_page

PHONE = {"width": 390, "height": 844}


async def phone_page(browser: Browser, base: str, email: str, path: str) -> tuple[Page, Watch]:
    return await staff_page(browser, base, email, path, viewport=PHONE)


async def assert_fits(page: Page) -> None:
    """No horizontal scrolling of the page itself."""
    width = await page.evaluate(
        "Math.max(document.documentElement.scrollWidth, document.body.scrollWidth)"
    )
    assert width <= PHONE["width"], f"{page.url} is {width}px wide"


async def assert_on_screen(locator: Locator) -> None:
    await expect(locator).to_be_visible()
    box = await locator.bounding_box()
    assert box is not None
    assert box["x"] >= 0 and box["x"] + box["width"] <= PHONE["width"], box


async def assert_one_line(locator: Locator) -> None:
    """A name on one line (not one character per line): about one line high. Measured in
    one pass in the page: a live update may re-render the element between two calls."""
    await expect(locator.first).to_be_visible()
    heights: list[float] = []
    for _ in range(50):  # a re-render can leave nothing laid out for a frame: measure again
        heights = await locator.evaluate_all(
            "els => els.map(e => e.getBoundingClientRect().height).filter(h => h > 0)"
        )
        if heights:
            break
        await asyncio.sleep(0.1)
    assert heights and max(heights) < 28, heights


async def test_every_page_on_a_phone(live: LiveServer, browser: Browser) -> None:
    ch = await live.factory.channel("微信公众号旗舰店")
    await staff(live.factory, "admin", name="管理员 孙晓明")
    for n in range(3):
        await live.push(ch, {"id": str(n), "from": f"u{n}", "name": f"客户{n}", "text": "在吗"})
    email = "admin1@example.com"

    page, watch = await phone_page(browser, live.base, email, "/inbox")
    await expect(page.locator(".conv-item")).to_have_count(3)
    await page.screenshot(path=shot("phone-inbox-list.png"))
    await assert_fits(page)
    await assert_on_screen(page.locator(".logout-form button"))
    await page.screenshot(path=shot("phone-inbox-list.png"))
    await page.locator(".conv-item button").first.click()
    await expect(page.locator(".msg-in").first).to_be_visible()
    await assert_fits(page)
    await assert_one_line(page.locator("#thread-pane .thread-sub"))
    await page.screenshot(path=shot("phone-inbox-thread.png"))
    await assert_on_screen(page.locator(".composer .attach-image"))
    await assert_on_screen(page.locator(".composer .canned-manage"))
    await page.screenshot(path=shot("phone-inbox-thread.png"))
    await page.locator(".composer .canned-manage").click()
    await expect(page.locator("#canned-dialog")).to_be_visible()
    await assert_fits(page)
    await page.screenshot(path=shot("phone-canned.png"))
    await page.keyboard.press("Escape")
    await page.locator(".contact-toggle").click()
    await expect(page.locator(".contact-pane")).to_be_visible()
    await assert_on_screen(page.locator(".contact-close"))
    await page.screenshot(path=shot("phone-contact.png"))
    await page.locator(".contact-close").click()
    await expect(page.locator(".contact-pane")).to_be_hidden()
    watch.check()

    for path, ready in (
        ("/admin", ".channel-row"),
        ("/admin/audit", ".audit-row"),
        ("/archive", ".result-item"),
    ):
        page, watch = await phone_page(browser, live.base, email, path)
        await expect(page.locator(ready).first).to_be_visible()
        await assert_fits(page)
        await assert_on_screen(page.locator(".topbar .me"))
        await assert_on_screen(page.locator(".logout-form button"))
        if path == "/admin":
            await page.screenshot(path=shot("phone-admin.png"), full_page=True)
            await assert_one_line(page.locator(".channel-row .channel-name"))
            await assert_on_screen(page.locator(".channel-row button.archive"))
        name = path.strip("/").replace("/", "-")
        await page.screenshot(path=shot(f"phone-{name}.png"), full_page=True)
        watch.check(allow_socket_errors=True)


# A customer name that would be markup, or a spreadsheet formula, if it were not text;
# and a name far wider than a phone, with no space to break at.
HOSTILE = '<img src=x onerror=alert(1)>=HYPERLINK("x")'
LONG = "上海浦东新区张江高科技园区博云路二号浦软大厦七楼客服中心王小明的远房表姐李淑芬女士"


async def assert_fits_viewport(page: Page) -> None:
    """Neither the document nor the page's main area (the staff pages' scrolling box)
    scrolls sideways: nothing is cut off at the right edge. A wide table may scroll in
    its own box."""
    widths = await page.evaluate(
        """() => {
          const main = document.querySelector("main");
          const edge = main.getBoundingClientRect().left + main.clientWidth + 1;
          // What sticks out, outermost first, for the message.
          const sticksOut = (e) => e.getBoundingClientRect().right > edge;
          const wide = [...main.querySelectorAll("*")]
            .filter((e) => sticksOut(e) && !sticksOut(e.parentElement))
            .map((e) => `${e.tagName.toLowerCase()}.${[...e.classList].join(".")}#${e.id}`);
          return {
            document: Math.max(document.documentElement.scrollWidth, document.body.scrollWidth),
            main: main.scrollWidth - main.clientWidth,
            screen: window.innerWidth,
            wide: wide.slice(0, 5),
          };
        }"""
    )
    assert widths["document"] <= widths["screen"] + 1, f"{page.url}: {widths}"
    assert widths["main"] <= 1, f"{page.url}: the main area scrolls sideways: {widths}"


async def assert_shown_as_text(page: Page, text: str) -> None:
    """`text` is on the page as characters: nothing it spells was made an element."""
    await expect(page.get_by_text(text).first).to_be_visible()
    assert await page.locator('img[src="x"], [onerror]').count() == 0


async def _seed_records(live: LiveServer) -> dict[str, Any]:
    """Customers named HOSTILE and LONG on every list: inbox customers, the retention
    demo's year of history (renamed), a week of service history, tasks, a campaign."""
    ch = await live.factory.channel("微信公众号旗舰店")
    admin = await staff(live.factory, "admin", name="管理员 孙晓明")
    await staff(live.factory, "agent", name=HOSTILE)
    await staff(live.factory, "agent", name=LONG)
    for n, name in enumerate((HOSTILE, LONG)):
        await live.push(ch, {"id": f"p{n}", "from": f"p{n}", "name": name, "text": "在吗"})
    db = live.app.state.services.db
    assert await seed_history(db)
    assert await seed_service_history(db, per_day=3)
    async with db.session() as session:  # every customer of the history is one of the two
        await session.execute(update(Contact).where(Contact.id % 2 == 1).values(name=HOSTILE))
        await session.execute(update(Contact).where(Contact.id % 2 == 0).values(name=LONG))
    await refresh_once(db, utcnow_for_models(), full=True)
    async with httpx.AsyncClient(base_url=live.base, headers=admin["headers"]) as http:
        contacts = (await http.get("/api/v1/contacts?limit=2")).json()["items"]
        yesterday = (datetime.now(UTC) - timedelta(days=1)).isoformat()
        for contact in contacts:
            r = await http.post(
                "/api/v1/tasks",
                json={
                    "contact_id": contact["id"],
                    "title": f"回电 {contact['name']}",
                    "due_at": yesterday,
                    "assignee_id": admin["id"],
                },
            )
            assert r.status_code == 201, r.text
        r = await http.post(
            "/api/v1/campaigns",
            json={
                "title": f"{HOSTILE} 新品品鉴会",
                "starts_at": (datetime.now(UTC) + timedelta(days=7)).isoformat(),
                "capacity": 20,
                "location": LONG,
            },
        )
        assert r.status_code == 201, r.text
        campaign = r.json()
        r = await http.post(
            f"/api/v1/campaigns/{campaign['id']}/invitees",
            json={"contact_ids": [c["id"] for c in contacts]},
        )
        assert r.status_code == 200, r.text
    return {"admin": admin, "campaign_id": campaign["id"]}


async def test_record_pages_on_a_phone_with_hostile_names(
    live: LiveServer, browser: Browser
) -> None:
    """The customer record, retention, campaign, report and settings pages at 390x844,
    with customer and staff names that are markup or far too long: the page never
    scrolls sideways, the names are text, and the page's content is there."""
    w = await _seed_records(live)
    pages = (
        ("/customers", ".customer-row", HOSTILE),
        ("/todo", "#todo-overdue .task", LONG),
        ("/campaigns", ".campaign-row", HOSTILE),
        (f"/campaigns/{w['campaign_id']}", "#invitee-rows tr", LONG),
        ("/retention", "#at-risk .at-risk-row", HOSTILE),
        ("/reports", "#report-table tbody tr", None),
        ("/settings", "#tokens-table", None),
    )
    for path, ready, name in pages:
        page, watch = await phone_page(browser, live.base, "admin1@example.com", path)
        await expect(page.locator(ready).first).to_be_visible()
        if path == "/reports":  # grouped by agent, the agents' names are the rows
            await page.select_option("select[name=by]", "agent")
            await page.click("#report-form button[type=submit]")
            name = HOSTILE
        if name is not None:
            await assert_shown_as_text(page, name)
        await assert_on_screen(page.locator("main").first)
        await assert_on_screen(page.locator(".logout-form button"))
        await assert_fits_viewport(page)
        label = path.strip("/").replace("/", "-")
        await page.screenshot(path=shot(f"phone-{label}.png"), full_page=True)
        watch.check(allow_socket_errors=True)
        await page.context.close()
