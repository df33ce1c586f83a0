"""Every page usable at 390x844 (issue 21, item 5): nothing wider than the screen, the
user's name and 退出 on it, channel names on one line, the image button and the canned
replies' manager reachable in a conversation. Screenshots go to var/screenshots/."""

from __future__ import annotations

import asyncio
import re

from playwright.async_api import Browser, Locator, Page, expect

from tests.web.browser import LiveServer, Watch, shot
from tests.web.support import PASSWORD, staff

PHONE = {"width": 390, "height": 844}


async def phone_page(browser: Browser, base: str, email: str, path: str) -> tuple[Page, Watch]:
    context = await browser.new_context(viewport=PHONE, locale="zh-CN")
    page = await context.new_page()
    watch = Watch(page)
    await page.goto(f"{base}/login?next={path}")
    await page.fill('input[name="email"]', email)
    await page.fill('input[name="password"]', PASSWORD)
    await page.click('button[type="submit"]')
    await expect(page).to_have_url(re.compile(f"{re.escape(path)}$"))
    return page, watch


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
