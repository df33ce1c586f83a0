"""The inbox in a real browser (headless Chromium): two agents, live updates, replies with
their delivery status, presence, assignment and resolution, hostile customer input, and
catching up after a server restart."""

from __future__ import annotations

from datetime import timedelta

from playwright.async_api import Browser, expect
from sqlalchemy import update

from app.db import Database
from app.inbox.actions.inbound import record_inbound_message
from app.inbox.schemas import attachment_url
from app.models import CannedReply, Channel, Conversation, Message, utcnow_for_models
from channels.base import ContentType, DeliveryError, InboundContact, InboundMessage, MediaRef
from tests.support import loopback
from tests.web.browser import LiveServer, open_inbox, shot
from tests.web.support import staff


async def store(db: Database, channel_id: int, inbound: InboundMessage) -> Message:
    async with db.session() as session:
        channel = await session.get(Channel, channel_id)
        assert channel is not None
        message = await record_inbound_message(session, channel, inbound)
        assert message is not None
        return message


async def test_two_agents_share_one_live_inbox(live: LiveServer, browser: Browser) -> None:
    ch = await live.factory.channel("官网客服")
    li = await staff(live.factory, name="客服 李娜")
    zhang = await staff(live.factory, name="客服 张伟")
    await live.push(
        ch, {"id": "1", "from": "u1", "name": "王小明", "text": "你好，订单什么时候发货？"}
    )
    async with live.app.state.services.db.session() as session:
        session.add(CannedReply(owner_id=None, shortcut="ship", content="我们 48 小时内发货"))
    a, watch_a = await open_inbox(browser, live.base, li["email"])
    b, watch_b = await open_inbox(browser, live.base, zhang["email"])
    await expect(a.locator(".conv-item", has_text="王小明")).to_be_visible()
    await a.evaluate("window.notReloaded = true")

    # A customer writes: both inboxes show it at the top, without a reload.
    await live.push(ch, {"id": "2", "from": "u2", "name": "陈静", "text": "请问可以开发票吗？"})
    for page in (a, b):
        await expect(page.locator(".conv-item").first).to_contain_text("请问可以开发票吗？")
        await expect(page.locator(".conv-item").first.locator(".unread-badge")).to_have_text("1")
    await expect(a).to_have_title("(2) 汇流 · 收件箱")

    # Both open 王小明: each is warned about the other, and sees the other type.
    for page in (a, b):
        await page.locator(".conv-item", has_text="王小明").locator("button").click()
        await expect(page.locator(".msg-in")).to_contain_text("订单什么时候发货")
    await expect(b.locator(".presence")).to_contain_text("客服 李娜 也在查看此会话")
    await expect(a.locator(".presence")).to_contain_text("客服 张伟 也在查看此会话")
    reply = a.locator("#reply-text")
    await reply.press_sequentially("您好，")
    await expect(b.locator(".presence")).to_contain_text("客服 李娜 正在输入")

    # Enter sends; both watch the delivery status go to 已发送 (the loopback platform took it).
    await reply.press_sequentially("今天下午发货。")
    await reply.press("Shift+Enter")
    await reply.press_sequentially("单号稍后发您")
    await reply.press("Enter")
    for page in (a, b):
        sent = page.locator(".msg-out", has_text="今天下午发货")
        await expect(sent).to_have_attribute("data-status", "sent")
        await expect(sent.locator(".msg-status")).to_have_text("已发送")
    assert loopback.PLATFORM.sent[-1].text == "您好，今天下午发货。\n单号稍后发您"

    # A private note is set apart and never handed to the platform.
    await a.locator("#private-toggle").check()
    await reply.fill("老客户，优先处理")
    await reply.press("Enter")
    await expect(b.locator(".msg-note", has_text="老客户，优先处理")).to_be_visible()
    assert len(loopback.PLATFORM.sent) == 1

    # Tags and notes in the sidebar.
    tag_input = a.locator(".tag-input")
    await tag_input.fill("VIP")
    await tag_input.press("Enter")
    await expect(a.locator(".tag")).to_have_text(["VIP×"])

    # The reply took the unassigned conversation; then `e` resolves; the other agent sees
    # both live.
    conversation_of_wang = int(
        (await a.locator(".conv-item", has_text="王小明").get_attribute("data-id")) or 0
    )
    await expect(a.locator("#assign-me")).to_have_count(0)
    await expect(b.locator("#assign-select")).to_have_value(str(li["id"]))
    await expect(b.locator(".conv-item", has_text="王小明")).to_contain_text("客服 李娜")
    await a.screenshot(path=shot("inbox.png"))
    await a.locator("#thread-name").click()  # out of the tag input: keys are shortcuts again
    await a.keyboard.press("e")
    for page in (a, b):
        await expect(page.locator("#thread-status")).to_have_attribute("data-status", "resolved")
        # The list shows open conversations: the resolved one leaves it.
        await expect(page.locator(".conv-item", has_text="王小明")).to_have_count(0)
    # 王小明 writes again: a new conversation, shown under the resolved one of the same contact.
    await live.push(ch, {"id": "3", "from": "u1", "name": "王小明", "text": "还有个问题"})
    await expect(a.locator(".conv-section")).to_have_count(2)
    await expect(a.locator(".conv-section").nth(1)).to_contain_text("还有个问题")
    await expect(a.locator(".conv-item", has_text="王小明")).to_contain_text("还有个问题")
    await a.locator(".conv-item", has_text="王小明").locator("button").click()
    earlier = a.locator(".conv-section:not(.current)")
    await expect(earlier.locator(".section-summary")).to_contain_text("已解决")
    await expect(earlier.locator(".messages")).to_be_hidden()  # collapsed
    await earlier.locator(".section-summary").click()
    await expect(earlier.locator(".msg-in")).to_contain_text("订单什么时候发货")

    # Canned replies: `/` opens the picker, Enter puts the reply in the box.
    await a.locator("#private-toggle").uncheck()
    await reply.press_sequentially("/shi")
    await expect(a.locator(".canned-pick")).to_have_count(1)
    await reply.press("Enter")
    await expect(reply).to_have_value("我们 48 小时内发货")
    await reply.fill("")

    await reply.press("Escape")
    await a.keyboard.press("?")
    await expect(a.locator("#help-dialog")).to_contain_text("解决当前会话")
    await a.keyboard.press("Escape")
    await a.keyboard.press("j")  # the next conversation in the list
    await expect(a.locator("#thread-name")).to_have_text("陈静")
    assert await a.evaluate("window.notReloaded") is True
    watch_a.check()
    watch_b.check()

    # 陈静 wrote more than 48 hours ago: the platform's reply window has closed.
    async with live.app.state.services.db.session() as session:
        await session.execute(
            update(Conversation)
            .where(Conversation.id != conversation_of_wang)
            .values(reply_window_expires_at=utcnow_for_models() - timedelta(minutes=1))
        )
    phone, watch_phone = await open_inbox(browser, live.base, li["email"], viewport=(390, 844))
    await phone.locator(".conv-item", has_text="陈静").locator("button").click()
    await expect(phone.locator(".msg-in")).to_contain_text("开发票")
    await expect(phone.locator(".composer-notice")).to_contain_text("回复窗口已关闭")
    await expect(phone.locator("#private-toggle")).to_be_checked()
    await phone.locator("#private-toggle").uncheck()
    await expect(phone.locator("#send-button")).to_be_disabled()
    await expect(phone.locator("#list-pane")).to_be_hidden()
    await phone.screenshot(path=shot("inbox-phone.png"))
    await phone.locator(".back-button").click()
    await expect(phone.locator("#list-pane")).to_be_visible()
    watch_phone.check()


async def test_hostile_customer_input_renders_as_text(live: LiveServer, browser: Browser) -> None:
    ch = await live.factory.channel()
    agent = await staff(live.factory)
    name = "<img src=x onerror=alert(1)>"
    text = "<script>alert(2)</script><img src=x onerror=alert(3)> javascript:alert(4) https://example.com/ok"
    file_name = '"><img src=x onerror=alert(5)>.html'
    await live.push(ch, {"id": "x1", "from": "evil", "name": name, "text": text})
    contact = InboundContact("evil", name)
    file_message = await store(
        live.app.state.services.db,
        ch["id"],
        InboundMessage(
            "x2",
            contact,
            ContentType.FILE,
            media=(MediaRef(ContentType.FILE, "r", "text/html", file_name),),
        ),
    )
    await live.app.state.services.storage.put("xss/1", b"<script>alert(6)</script>")
    async with live.app.state.services.db.session() as session:
        row = await session.get(Message, file_message.id)
        assert row is not None
        row.media_pending = False
        row.attachments = [
            {
                "kind": "file",
                "status": "ready",
                "storage_key": "xss/1",
                "url": attachment_url(row.id, 0),
                "file_name": file_name,
                "mime_type": "text/html",
                "size": 25,
            }
        ]
    link = {"url": "javascript:alert(7)", "title": "<b>点我</b>", "description": "<i>x</i>"}
    await store(
        live.app.state.services.db,
        ch["id"],
        InboundMessage("x3", contact, ContentType.LINK, "点我", extra=link),
    )

    page, watch = await open_inbox(browser, live.base, agent["email"])
    await expect(page.locator(".conv-name")).to_have_text(name)
    await page.locator(".conv-item button").click()
    await expect(page.locator("#thread-name")).to_have_text(name)
    await expect(page.locator(".msg-text").first).to_have_text(text)
    await expect(page.locator(".att-file .att-name")).to_have_text(file_name)
    await expect(page.locator(".link-title")).to_have_text("<b>点我</b>")
    await expect(page.locator(".contact-name")).to_have_text(name)
    assert await page.locator("[onerror], img[src='x'], a[href^='javascript']").count() == 0
    # Our own module and the page's words (a JSON data block, never run): nothing injected.
    assert await page.locator("script:not([type='application/json'])").count() == 1
    assert await page.locator("script[type='application/json']").count() == 1
    ok = page.locator(".msg-text a")
    await expect(ok).to_have_count(1)
    await expect(ok).to_have_attribute("href", "https://example.com/ok")
    await expect(ok).to_have_attribute("rel", "noopener noreferrer nofollow")
    download = page.locator(".att-file")
    await expect(download).to_have_attribute("href", attachment_url(file_message.id, 0))
    await page.screenshot(path=shot("inbox-xss.png"))
    # The preview's label is made by the page, in the reader's language (app/i18n).
    await expect(page.locator(".conv-preview")).to_have_text("[链接] 点我")
    await page.context.add_cookies([{"name": "huiliu_lang", "value": "en", "url": live.base}])
    await page.reload()
    await expect(page.locator(".conv-preview")).to_have_text("[Link] 点我")
    watch.check()


async def test_page_reconnects_and_catches_up_after_a_restart(
    live: LiveServer, browser: Browser
) -> None:
    ch = await live.factory.channel()
    agent = await staff(live.factory)
    await live.push(ch, {"id": "1", "from": "u1", "name": "王小明", "text": "第一条"})
    page, watch = await open_inbox(browser, live.base, agent["email"])
    await page.locator(".conv-item", has_text="王小明").locator("button").click()
    await expect(page.locator(".msg-in .msg-text")).to_have_text(["第一条"])
    banner = page.locator("#conn-banner")
    await expect(banner).to_be_hidden()

    await live.stop()
    await expect(banner).to_be_visible()
    await expect(banner).to_contain_text("正在重新连接")
    # While the server is down another process stores a message (and its events).
    db = Database(live.settings.database_url)
    try:
        contact = InboundContact("u1", "王小明")
        await store(db, ch["id"], InboundMessage("2", contact, ContentType.TEXT, "停机期间的消息"))
    finally:
        await db.dispose()

    await live.start()  # same port, same database
    await expect(banner).to_be_hidden(timeout=20_000)
    await expect(page.locator(".msg-in", has_text="停机期间的消息")).to_be_visible()
    await live.push(ch, {"id": "3", "from": "u1", "name": "王小明", "text": "重启之后"})
    await expect(page.locator(".msg-in .msg-text")).to_have_text(
        ["第一条", "停机期间的消息", "重启之后"]
    )
    watch.check(allow_socket_errors=True)


async def test_a_failed_reply_shows_why_and_can_be_retried(
    live: LiveServer, browser: Browser
) -> None:
    ch = await live.factory.channel()
    agent = await staff(live.factory)
    await live.push(ch, {"id": "1", "from": "u1", "name": "王小明", "text": "在吗"})
    page, watch = await open_inbox(browser, live.base, agent["email"])
    await page.locator(".conv-item button").click()
    loopback.PLATFORM.fail_next.append(DeliveryError("45015 回复时间超过限制"))
    await page.locator("#reply-text").fill("在的，请讲")
    await page.locator("#reply-text").press("Enter")
    failed = page.locator(".msg-out", has_text="在的，请讲")
    await expect(failed).to_have_attribute("data-status", "failed")
    await expect(failed.locator(".status-reason")).to_have_text("原因：45015 回复时间超过限制")
    await failed.locator(".btn-retry").click()
    await expect(failed).to_have_attribute("data-status", "sent")
    await expect(failed.locator(".btn-retry")).to_have_count(0)
    assert [m.text for m in loopback.PLATFORM.sent] == ["在的，请讲"]
    watch.check()
