"""Browser test support: Debian's Chromium via Playwright, a restartable live server,
signing in through the form, and a watch for page errors, dialogs and CSP violations."""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.async_api import Browser, ConsoleMessage, Dialog, Page, expect

from app.config import Settings
from app.main import create_app
from tests.conftest import Factory, signed
from tests.support.chromium import chromium_browser
from tests.support.server import free_port, running
from tests.web.support import PASSWORD

SCREENSHOTS = Path(__file__).resolve().parents[2] / "var" / "screenshots"
# No sandbox (containers), no GPU, and no phoning home: the suite runs offline.
expect.set_options(timeout=20_000)  # generous: CI shares 2 cores


class LiveServer:
    """The app on a fixed loopback port, stoppable and startable again on that port."""

    def __init__(self, settings: Settings, port: int) -> None:
        self.settings = settings
        self.port = port
        self.base = f"http://127.0.0.1:{port}"
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

    async def push(self, channel: dict[str, Any], payload: Any) -> None:
        body, headers = signed(channel["secret"], payload)
        async with httpx.AsyncClient(base_url=self.base) as http:
            r = await http.post(f"/webhooks/test/{channel['id']}", content=body, headers=headers)
        assert r.status_code == 200, r.text


@pytest.fixture
async def live(settings: Settings) -> AsyncIterator[LiveServer]:
    port = free_port()
    # The page's websocket is checked against the public URL's origin (CSWSH guard).
    server = LiveServer(
        settings.model_copy(update={"public_url": f"http://127.0.0.1:{port}"}), port
    )
    await server.start()
    try:
        yield server
    finally:
        await server.stop()


@pytest.fixture
async def browser() -> AsyncIterator[Browser]:
    async with chromium_browser() as chromium:
        yield chromium


class Watch:
    """Everything that must never happen on the page: script errors, dialogs (an XSS
    payload that ran), console errors (CSP refusals show up there)."""

    def __init__(self, page: Page) -> None:
        self.errors: list[str] = []
        self.dialogs: list[str] = []
        self.console: list[str] = []
        page.on("pageerror", lambda exc: self.errors.append(str(exc)))
        page.on("dialog", self._dialog)
        page.on("console", self._console)

    def _dialog(self, dialog: Dialog) -> None:
        self.dialogs.append(dialog.message)
        asyncio.get_running_loop().create_task(dialog.dismiss())

    def _console(self, message: ConsoleMessage) -> None:
        if message.type == "error":
            self.console.append(message.text)

    def check(self, *, allow_socket_errors: bool = False) -> None:
        console = [m for m in self.console if not (allow_socket_errors and "WebSocket" in m)]
        assert self.dialogs == [], self.dialogs
        assert self.errors == [], self.errors
        assert console == [], console


async def open_inbox(
    browser: Browser, base: str, email: str, viewport: tuple[int, int] = (1366, 768)
) -> tuple[Page, Watch]:
    context = await browser.new_context(
        viewport={"width": viewport[0], "height": viewport[1]}, locale="zh-CN"
    )
    page = await context.new_page()
    watch = Watch(page)
    await page.goto(f"{base}/login")
    await page.fill('input[name="email"]', email)
    await page.fill('input[name="password"]', PASSWORD)
    await page.click('button[type="submit"]')
    await expect(page).to_have_url(re.compile(r"/inbox$"))
    await expect(page.locator("#conv-list")).to_be_attached()
    return page, watch


def shot(name: str) -> str:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    return str(SCREENSHOTS / name)
