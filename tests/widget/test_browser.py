"""The widget in headless Chromium, embedded in a host page on another origin (a second
server on another port): chatting with an agent, hostile replies, reloads, a server
restart, the origin allow-list, one contact across two devices, and flood limits."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.async_api import Browser, BrowserContext, Page, expect
from sqlalchemy import select
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse
from starlette.routing import Route
from websockets.asyncio.client import connect

from app.accounts.viewer import load_viewer
from app.config import Settings
from app.db import Database
from app.inbox.actions.conversations import send_reply
from app.main import create_app
from app.models import Contact, ContactIdentity, Conversation, Message, User
from app.widget.ratelimit import Rate
from app.widget.service import Limits
from tests.conftest import Factory
from tests.support.chromium import chromium_browser
from tests.support.server import free_port, running
from tests.widget.support import sign, webchat_channel
from tests.widget.test_http import png

SCREENSHOTS = Path(__file__).resolve().parents[2] / "var" / "screenshots"
# No sandbox (containers), no GPU, and no phoning home: the suite runs offline.
expect.set_options(timeout=20_000)  # generous: CI shares 2 cores
WIDGET = "#huiliu-widget"  # Playwright's CSS locators pierce the open shadow root


class Huiliu:
    """The Huiliu server on a fixed port, stoppable and startable again on that port."""

    def __init__(self, settings: Settings, port: int) -> None:
        self.settings = settings
        self.base = f"http://127.0.0.1:{port}"
        self.port = port
        self.app: Any = None
        self._stack: AsyncExitStack | None = None

    async def start(self) -> None:
        self.app = create_app(self.settings)
        self._stack = AsyncExitStack()
        await self._stack.enter_async_context(running(self.app, self.port))
        self.factory = Factory(self.app)

    async def stop(self) -> None:
        if self._stack is not None:
            await self._stack.aclose()
            self._stack = None

    async def api(self, method: str, path: str, headers: dict[str, str], **kw: Any) -> Any:
        async with httpx.AsyncClient(base_url=self.base) as http:
            r = await http.request(method, path, headers=headers, **kw)
        assert r.status_code < 300, r.text
        return r.json()


async def host_page(request: Request) -> HTMLResponse:
    """A customer's site: the one-line snippet, optionally identify() queued before it."""
    q = request.query_params
    queued = ""
    if q.get("user"):
        user = {"id": q["user"], "hmac": q.get("hmac", ""), "name": q.get("name", "")}
        queued = f"<script>window.Huiliu = {{q: [['identify', {json.dumps(user)}]]}};</script>"
    lang = q.get("lang", "zh-CN")  # "" for a site that does not say
    lang_attr = f' lang="{lang}"' if lang else ""
    html = f"""<!doctype html><html{lang_attr}><head><meta charset="utf-8">
<title>客户网站</title>
<style>div, button, textarea {{ display: none !important; color: red !important; }}</style>
</head><body><h1>汇流小店</h1>{queued}
<script src="{q["src"]}" async onerror="document.title = 'widget refused'"></script>
</body></html>"""
    return HTMLResponse(html)


@pytest.fixture
async def servers(settings: Settings) -> AsyncIterator[tuple[Huiliu, str]]:
    port = free_port()
    huiliu = Huiliu(settings.model_copy(update={"public_url": f"http://127.0.0.1:{port}"}), port)
    await huiliu.start()
    site = Starlette(routes=[Route("/", host_page)])
    try:
        async with running(site) as host:
            yield huiliu, f"http://{host}"
    finally:
        await huiliu.stop()


@pytest.fixture
async def browser() -> AsyncIterator[Browser]:
    async with chromium_browser() as chromium:
        yield chromium


class Visit:
    """One browser tab on the customer's site, watching for what must never happen."""

    def __init__(self, page: Page) -> None:
        self.page = page
        self.dialogs: list[str] = []
        self.errors: list[str] = []
        self.frames: list[str] = []
        page.on("dialog", lambda d: self.dialogs.append(d.message))
        page.on("pageerror", lambda exc: self.errors.append(str(exc)))
        page.on("websocket", lambda ws: ws.on("framereceived", self._frame))

    def _frame(self, payload: str | bytes) -> None:
        self.frames.append(payload if isinstance(payload, str) else payload.decode())

    @property
    def widget(self) -> Any:
        return self.page.locator(WIDGET)

    async def open(self) -> None:
        await self.widget.locator(".launcher").click()
        await expect(self.widget.locator(".panel")).to_be_visible()

    async def say(self, text: str) -> None:
        box = self.widget.locator("textarea")
        await box.fill(text)
        await box.press("Enter")

    def check(self) -> None:
        assert self.dialogs == [] and self.errors == [], (self.dialogs, self.errors)


async def visit(context: BrowserContext, url: str) -> Visit:
    page = await context.new_page()
    v = Visit(page)
    await page.goto(url)
    await expect(v.widget.locator(".launcher")).to_be_visible()
    return v


def page_url(site: str, huiliu: Huiliu, channel_id: int, **query: str) -> str:
    params = httpx.QueryParams({"src": f"{huiliu.base}/widget/{channel_id}.js", **query})
    return f"{site}/?{params}"


async def agent_online(huiliu: Huiliu, token: str) -> Any:
    """An agent's live socket (the inbox open); unbounded so unread events never stall it."""
    return await connect(
        f"ws://127.0.0.1:{huiliu.port}/api/v1/events?token={token}", max_queue=None
    )


async def conversations(huiliu: Huiliu, headers: dict[str, str]) -> list[dict[str, Any]]:
    return (await huiliu.api("GET", "/api/v1/conversations?status=all", headers))["items"]


async def test_visitor_and_agent_chat_across_reloads_and_a_restart(
    servers: tuple[Huiliu, str], browser: Browser
) -> None:
    huiliu, site = servers
    ch = await webchat_channel(huiliu.app, "汇流小店", allowed_origin=[site])
    agent = await huiliu.factory.user("agent", name="客服 李娜")
    context = await browser.new_context(locale="zh-CN", viewport={"width": 1280, "height": 800})
    events = await agent_online(huiliu, agent["token"])
    try:
        v = await visit(context, page_url(site, huiliu, ch["id"]))
        assert await v.page.evaluate("Object.keys(window.Huiliu).sort().join()") == (
            "close,identify,on,open,reset,version"
        )
        await v.page.evaluate("window.got = []; Huiliu.on('message', m => window.got.push(m.text))")
        await v.open()
        await expect(v.widget.locator(".title")).to_have_text("汇流小店")
        await v.say("你好，<b>订单</b>什么时候发货？")
        mine = v.widget.locator(".msg.visitor")
        await expect(mine).to_have_count(1)
        await expect(mine.locator(".bubble")).to_have_text("你好，<b>订单</b>什么时候发货？")
        await expect(mine.locator(".meta")).to_contain_text("已送达")

        # The agent sees it live and in the inbox API, and answers with something hostile.
        while (event := json.loads(await asyncio.wait_for(events.recv(), 10)))["type"] != (
            "message.created"
        ):
            pass
        assert event["data"]["content"] == "你好，<b>订单</b>什么时候发货？"
        [conv] = await conversations(huiliu, agent["headers"])
        assert conv["id"] == event["data"]["conversation_id"]
        assert conv["channel"]["type"] == "webchat"
        hostile = '<img src=x onerror="alert(1)"><script>alert(2)</script>今天发货'
        await huiliu.api(
            "POST",
            f"/api/v1/conversations/{conv['id']}/messages",
            agent["headers"],
            json={"content": hostile},
        )
        reply = v.widget.locator(".msg.agent[data-id]")
        await expect(reply.locator(".bubble")).to_have_text(hostile)
        await expect(reply.locator(".name")).to_have_text("客服 李娜")
        await expect(mine.locator(".meta")).to_contain_text("已读")  # replying read it
        assert await v.widget.locator(".bubble img, .bubble script").count() == 0
        await v.page.wait_for_function("window.got.length > 0")
        assert await v.page.evaluate("window.got") == [hostile]  # on("message")
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        await v.page.screenshot(path=str(SCREENSHOTS / "widget.png"))

        # A reply while the panel is closed: the launcher counts it until it is opened.
        await v.widget.locator(".x").click()
        await huiliu.api(
            "POST",
            f"/api/v1/conversations/{conv['id']}/messages",
            agent["headers"],
            json={"content": "还有别的问题吗？"},
        )
        badge = v.widget.locator(".badge")
        await expect(badge).to_have_text("1")
        await v.open()
        await expect(badge).to_be_hidden()

        # A reload keeps the history (the visitor token is in localStorage).
        await v.page.reload()
        await v.open()
        texts = v.widget.locator(".msg[data-id] .bubble")
        history = ["你好，<b>订单</b>什么时候发货？", hostile, "还有别的问题吗？"]
        await expect(texts).to_have_text(history)
        await expect(badge).to_be_hidden()  # seen before the reload

        # The server restarts. Meanwhile the visitor types (queued) and another process
        # stores the agent's reply; the widget reconnects, sends, and catches up.
        # Connected; the agent's reply took the conversation, so the header names her.
        await expect(v.widget.locator(".sub")).to_have_text("客服 李娜")
        await huiliu.stop()
        await expect(v.widget.locator(".notice")).to_contain_text("正在重连")
        await v.say("服务器断开时发的")
        await expect(v.widget.locator(".msg.pending .meta")).to_have_text("等待网络…")
        db = Database(huiliu.settings.database_url)
        try:
            async with db.session() as session:
                conversation = await session.get(Conversation, conv["id"])
                user = await session.get(User, agent["id"])
                assert conversation and user
                viewer = await load_viewer(session, user)
                await send_reply(session, viewer, conversation, "停机期间的回复", False)
        finally:
            await db.dispose()
        await huiliu.start()  # same port, same database
        await expect(texts).to_have_text(
            [*history, "停机期间的回复", "服务器断开时发的"], timeout=40_000
        )
        await expect(v.widget.locator(".notice")).to_be_hidden()
        await expect(v.widget.locator(".msg.pending")).to_have_count(0)
        async with huiliu.app.state.services.db.sessions() as session:
            stored = list(await session.scalars(select(Message.content).order_by(Message.id)))
        assert stored.count("服务器断开时发的") == 1
        v.check()
    finally:
        await events.close()
        await context.close()


async def test_identity_joins_two_devices_and_other_sites_are_refused(
    servers: tuple[Huiliu, str], browser: Browser
) -> None:
    huiliu, site = servers
    ch = await webchat_channel(huiliu.app, allowed_origin=[site])
    admin = await huiliu.factory.user("admin")
    user = {"user": "member-1001", "hmac": sign("member-1001"), "name": "王小明"}
    laptop = await browser.new_context(locale="en-US")
    phone = await browser.new_context(locale="zh-CN", viewport={"width": 390, "height": 760})
    stranger = await browser.new_context(locale="zh-CN")
    try:
        # A site without a lang attribute: the widget speaks the browser's language.
        a = await visit(laptop, page_url(site, huiliu, ch["id"], lang="", **user))
        await a.open()
        # Nobody has the inbox open: the offline form asks how to reach the visitor.
        offline = a.widget.locator("form.form")
        await expect(offline).to_contain_text("No one is online right now")
        await expect(a.widget.locator("textarea")).to_be_hidden()
        await offline.locator("input[name=email]").fill("wang@example.com")
        await offline.locator("button[type=submit]").click()
        await expect(a.widget.locator("textarea")).to_have_attribute(
            "placeholder", "Type a message, Enter to send"
        )
        await a.say("from my laptop")
        await expect(a.widget.locator(".msg.visitor .meta")).to_contain_text("Delivered")
        # An image, uploaded cross-origin and shown by its signed link.
        await a.widget.locator("input[type=file]").set_input_files(
            {"name": "photo.png", "mimeType": "image/png", "buffer": png()}
        )
        await expect(a.widget.locator(".msg.visitor[data-id] img")).to_have_count(1)
        await a.page.wait_for_function(
            "(document.querySelector('#huiliu-widget').shadowRoot"
            ".querySelector('.msg.visitor img') || {}).naturalWidth === 1"
        )

        b = await visit(phone, page_url(site, huiliu, ch["id"], **user))
        await b.open()  # the contact already has an email: no form
        await expect(b.widget.locator(".msg.visitor .bubble")).to_have_text(["from my laptop", ""])
        await expect(b.widget.locator(".msg.visitor img")).to_have_count(1)
        await b.say("来自手机")
        await expect(a.widget.locator(".msg.visitor .bubble")).to_have_text(
            ["from my laptop", "", "来自手机"]
        )

        # The same id with a wrong HMAC is a stranger: no history, a contact of their own.
        forged = {**user, "hmac": sign("member-1002")}
        c = await visit(stranger, page_url(site, huiliu, ch["id"], **forged))
        await c.open()
        await c.widget.locator("form.form input[name=email]").fill("fake@example.com")
        await c.widget.locator("form.form input[name=email]").press("Enter")
        await c.say("我也是王小明")
        await expect(c.widget.locator(".msg.visitor[data-id] .bubble")).to_have_text(
            ["我也是王小明"]
        )  # stored (data-id), not just shown as sending

        items = await conversations(huiliu, admin["headers"])
        assert len(items) == 2
        async with huiliu.app.state.services.db.sessions() as session:
            rows = (await session.execute(select(ContactIdentity, Contact).join(Contact))).all()
        by_ext = {identity.external_id: contact for identity, contact in rows}
        assert by_ext["user:member-1001"].name == "王小明"
        assert by_ext["user:member-1001"].email == "wang@example.com"
        assert len(by_ext) == 2
        joined = next(i for i in items if i["contact"]["id"] == by_ext["user:member-1001"].id)
        history = await huiliu.api(
            "GET", f"/api/v1/conversations/{joined['id']}/messages", admin["headers"]
        )
        assert [m["content"] for m in history["items"]] == ["来自手机", "", "from my laptop"]

        # A site that is not on the allow-list gets no widget.
        other = await webchat_channel(huiliu.app, allowed_origin=["https://elsewhere.example"])
        page = await stranger.new_page()
        await page.goto(page_url(site, huiliu, other["id"]))
        await expect(page).to_have_title("widget refused")
        assert await page.locator(WIDGET).count() == 0
        for v in (a, b, c):
            v.check()
    finally:
        for context in (laptop, phone, stranger):
            await context.close()


async def test_flooding_answers_429_and_loses_nothing(
    servers: tuple[Huiliu, str], browser: Browser
) -> None:
    huiliu, site = servers
    huiliu.app.state.services.widget.set_limits(
        Limits(message_per_visitor=Rate(burst=2, per_second=1.0))
    )
    ch = await webchat_channel(huiliu.app)
    agent = await huiliu.factory.user("agent")
    context = await browser.new_context(locale="zh-CN")
    events = await agent_online(huiliu, agent["token"])
    try:
        v = await visit(context, page_url(site, huiliu, ch["id"]))
        await v.open()
        await expect(v.widget.locator(".dot.on")).to_be_visible()  # an agent is online
        sent = [f"第{i}条" for i in range(5)]
        for text in sent:
            await v.say(text)
        bubbles = v.widget.locator(".msg.visitor .bubble")
        await expect(v.widget.locator(".msg.visitor[data-id] .bubble")).to_have_text(
            sent, timeout=20_000
        )
        await expect(bubbles).to_have_count(5)
        assert any('"code": 429' in f for f in v.frames), v.frames
        async with huiliu.app.state.services.db.sessions() as session:
            stored = list(await session.scalars(select(Message.content).order_by(Message.id)))
        assert stored == sent  # each once, in the order typed
        v.check()
    finally:
        await events.close()
        await context.close()


async def test_the_widget_speaks_the_sites_language_then_the_browsers(
    servers: tuple[Huiliu, str], browser: Browser
) -> None:
    huiliu, site = servers
    ch = await webchat_channel(huiliu.app, allowed_origin=[site])
    english_browser = await browser.new_context(locale="en-US")
    chinese_browser = await browser.new_context(locale="zh-CN")
    try:
        cases = [
            (english_browser, "zh-CN", "现在没有客服在线"),  # the site's lang wins
            (chinese_browser, "en", "No one is online right now"),
            (chinese_browser, "", "现在没有客服在线"),  # no lang: the browser's
        ]
        for context, lang, offline_text in cases:
            v = await visit(context, page_url(site, huiliu, ch["id"], lang=lang))
            await v.open()
            await expect(v.widget.locator("form.form")).to_contain_text(offline_text)
            v.check()
    finally:
        await english_browser.close()
        await chinese_browser.close()
