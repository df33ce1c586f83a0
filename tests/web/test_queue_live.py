"""A reply takes an unassigned conversation, live on every page; supervisors watch the
waiting count and the longest wait change as customers write and agents answer."""

from __future__ import annotations

import re
from datetime import timedelta

from playwright.async_api import Browser, expect
from sqlalchemy import update

from app.models import Conversation, utcnow_for_models
from tests.web.browser import LiveServer, open_inbox
from tests.web.support import staff


async def test_reply_takes_the_conversation_and_the_queue_shrinks(
    live: LiveServer, browser: Browser
) -> None:
    ch = await live.factory.channel("官网客服")
    li = await staff(live.factory, name="客服 李娜")
    boss = await staff(live.factory, "supervisor", name="主管 周敏")
    await live.push(ch, {"id": "1", "from": "u1", "name": "王小明", "text": "在吗"})
    async with live.app.state.services.db.session() as session:
        await session.execute(
            update(Conversation).values(created_at=utcnow_for_models() - timedelta(minutes=75))
        )
    agent, watch_agent = await open_inbox(browser, live.base, li["email"])
    sup, watch_sup = await open_inbox(browser, live.base, boss["email"])
    bar = sup.locator("#queue-bar")
    await expect(bar).to_have_text(
        re.compile(r"^待分配 1 个 · 最久等待 1 小时 1[56] 分钟 · 在线客服 \d+ 人$")
    )
    await expect(bar).to_have_class("queue-bar queue-alert")
    await expect(agent.locator("#queue-bar")).to_be_hidden()  # agents see their list only

    await live.push(ch, {"id": "2", "from": "u2", "name": "陈静", "text": "发票"})
    await expect(bar).to_contain_text("待分配 2 个")

    await agent.locator(".conv-item", has_text="王小明").locator("button").click()
    await agent.locator("#reply-text").fill("在的")
    await agent.locator("#reply-text").press("Enter")
    await expect(agent.locator("#assign-select")).to_have_value(str(li["id"]))
    await expect(agent.locator(".conv-item", has_text="王小明")).to_contain_text("客服 李娜")
    await expect(sup.locator(".conv-item", has_text="王小明")).to_contain_text("客服 李娜")
    await expect(bar).to_have_text(re.compile(r"^待分配 1 个 · 最久等待 0 分钟 · 在线客服 \d+ 人$"))
    await expect(bar).to_have_class("queue-bar")
    watch_agent.check()
    watch_sup.check()
