"""Issue 17: a hard churn event alerts the owner live: the owner's open inbox shows a
toast for the new `churned` task; another agent's does not."""

from __future__ import annotations

from playwright.async_api import Browser, expect
from sqlalchemy import select, update

from app.accounts.viewer import Viewer
from app.contacts.actions.lifecycle import set_lifecycle
from app.models import Contact, User
from tests.web.browser import LiveServer, open_inbox
from tests.web.support import staff


async def test_the_owner_sees_a_toast_when_a_customer_is_marked_lost(
    live: LiveServer, browser: Browser
) -> None:
    ch = await live.factory.channel("官网客服")
    owner = await staff(live.factory, name="客服 李娜")
    other = await staff(live.factory, name="客服 张伟")
    boss = await staff(live.factory, "supervisor", name="主管 周敏")
    await live.push(ch, {"id": "1", "from": "u1", "name": "<b>王小明</b>", "text": "在吗"})
    async with live.app.state.services.db.session() as session:
        await session.execute(update(Contact).values(owner_id=owner["id"]))
    page, watch = await open_inbox(browser, live.base, owner["email"])
    other_page, watch_other = await open_inbox(browser, live.base, other["email"])
    await expect(page.locator(".conv-item", has_text="<b>王小明</b>")).to_be_visible()

    async with live.app.state.services.db.session() as session:
        contact = await session.scalar(select(Contact))
        user = await session.get(User, boss["id"])
        assert contact is not None and user is not None
        await set_lifecycle(session, Viewer(user, None), contact, "lost", "买了别家的")

    toast = page.locator(".toast-alert")
    await expect(toast).to_contain_text("<b>王小明</b>")  # shown as text, never as markup
    await expect(toast).to_contain_text("主管 周敏 将客户标记为流失：买了别家的")
    await expect(page.locator(".toast b")).to_have_count(0)
    await expect(other_page.locator(".toast-alert")).to_have_count(0)
    watch.check()
    watch_other.check()
