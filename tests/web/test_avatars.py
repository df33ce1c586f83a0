"""Avatars that do not load fall back to the customer's initial (issue 21, item 4): a
platform's image host may refuse the page, or the picture may be gone."""

from __future__ import annotations

from playwright.async_api import Browser, expect
from sqlalchemy import select

from app.models import Contact
from tests.web.browser import LiveServer, open_inbox
from tests.web.support import staff


async def test_a_broken_avatar_shows_the_initial(live: LiveServer, browser: Browser) -> None:
    ch = await live.factory.channel()
    agent = await staff(live.factory)
    await live.push(ch, {"id": "1", "from": "u1", "name": "王小明", "text": "在吗"})
    await live.push(ch, {"id": "2", "from": "u2", "name": "陈静", "text": "在吗"})
    async with live.app.state.services.db.session() as session:
        for contact in await session.scalars(select(Contact)):
            contact.avatar_url = (
                "/static/img/logo.svg"  # loads (own origin: the media worker leaves it)
                if contact.name == "陈静"
                else "/static/img/gone.png"  # 404 (own origin, so only the page handles it)
            )
    page, watch = await open_inbox(browser, live.base, agent["email"])
    wang = page.locator(".conv-item", has_text="王小明")
    await expect(wang.locator(".avatar-letter")).to_have_text("王")
    await expect(wang.locator("img.avatar")).to_have_count(0)
    chen = page.locator(".conv-item", has_text="陈静")
    await expect(chen.locator("img.avatar")).to_be_visible()
    await wang.locator("button").click()
    await expect(page.locator(".thread-header .avatar-letter")).to_have_text("王")
    await expect(page.locator(".contact-head .avatar-letter")).to_have_text("王")
    # The failed loads are console errors of the browser, not of the page's script.
    watch.console = [m for m in watch.console if "Failed to load resource" not in m]
    watch.check()
