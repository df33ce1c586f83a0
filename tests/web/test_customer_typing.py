"""The agent sees the customer typing in the thread (issue 21, item 3): the widget sends
`typing`, the server forwards `visitor.typing` to agents, the page shows it and clears it."""

from __future__ import annotations

from playwright.async_api import Browser, expect

from tests.web.browser import LiveServer, open_inbox
from tests.web.support import staff
from tests.widget.support import Visitor, visitor_socket, webchat_channel


async def test_agent_sees_the_customer_typing(live: LiveServer, browser: Browser) -> None:
    ch = await webchat_channel(live.app, "官网客服")
    agent = await staff(live.factory, name="客服 李娜")
    host = live.base.removeprefix("http://")
    async with visitor_socket(host, ch["id"]) as ws:
        visitor = Visitor(ws)
        await visitor.hello(profile={"name": "陈静"})
        await visitor.say("在吗")
        page, watch = await open_inbox(browser, live.base, agent["email"])
        await page.locator(".conv-item button").first.click()
        await expect(page.locator(".msg-in")).to_contain_text("在吗")
        line = page.locator("#customer-typing")
        await expect(line).to_be_hidden()
        await visitor.send(type="typing", typing=True)
        await expect(line).to_be_visible()
        await expect(line).to_contain_text("正在输入")
        await visitor.send(type="typing", typing=False)
        await expect(line).to_be_hidden()
        await visitor.send(type="typing", typing=True)
        await expect(line).to_be_visible()
        await visitor.say("我想开发票")  # the message arrives: the line goes
        await expect(page.locator(".msg-in", has_text="我想开发票")).to_be_visible()
        await expect(line).to_be_hidden()
    watch.check()
