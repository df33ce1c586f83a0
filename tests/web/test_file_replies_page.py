"""The composer sends files where the channel takes them and says where it cannot."""

from __future__ import annotations

from playwright.async_api import Browser, expect

from app.inbox.actions.inbound import record_inbound_message
from app.models import Channel
from channels.base import ContentType, InboundContact, InboundMessage
from tests.web.browser import LiveServer, open_inbox
from tests.web.support import staff
from tests.widget.support import webchat_channel

PDF = b"%PDF-1.7\n" + b"0" * 64


async def test_files_where_the_channel_takes_them(live: LiveServer, browser: Browser) -> None:
    site = await webchat_channel(live.app, "官网客服")
    other = await live.factory.channel("只收图片的渠道")
    agent = await staff(live.factory, name="客服 李娜")
    async with live.app.state.services.db.session() as session:
        channel = await session.get(Channel, site["id"])
        assert channel is not None
        contact = InboundContact("visitor-1", "访客甲")
        await record_inbound_message(
            session, channel, InboundMessage("v1", contact, ContentType.TEXT, "报价单发我")
        )
    await live.push(other, {"id": "1", "from": "u1", "name": "王小明", "text": "合同发我"})
    page, watch = await open_inbox(browser, live.base, agent["email"])

    await page.locator(".conv-item", has_text="访客甲").locator("button").click()
    button = page.locator(".composer .attach-image")
    await expect(button).to_have_text("发送图片或文件")
    await expect(page.locator("#media-note")).to_be_hidden()
    await page.locator("#attach-input").set_input_files(
        {"name": "报价单.pdf", "mimeType": "application/pdf", "buffer": PDF}
    )
    sent = page.locator(".msg-out", has=page.locator(".att-file"))
    await expect(sent.locator(".att-name")).to_have_text("报价单.pdf")
    await expect(sent).to_have_attribute("data-status", "sent")

    await page.locator(".conv-item", has_text="王小明").locator("button").click()
    await expect(page.locator(".composer .attach-image")).to_have_text("发送图片")
    await expect(page.locator("#media-note")).to_contain_text("不支持发送文件")
    watch.check()
