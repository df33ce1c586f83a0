"""The CSAT survey in the widget (Chromium): buttons 1-5 and an optional comment, recorded
on the resolved conversation without opening a new one."""

from __future__ import annotations

import asyncio
from typing import Any

from playwright.async_api import Browser, expect

from tests.widget.support import webchat_channel
from tests.widget.test_browser import (
    SCREENSHOTS,
    Huiliu,
    agent_online,
    browser,
    conversations,
    page_url,
    servers,
    visit,
)

__all__ = ["browser", "servers"]


async def _conversation(huiliu: Huiliu, headers: dict[str, str], conv_id: int) -> Any:
    return await huiliu.api("GET", f"/api/v1/conversations/{conv_id}", headers)


async def test_visitor_rates_with_buttons_and_a_comment(
    servers: tuple[Huiliu, str], browser: Browser
) -> None:
    huiliu, site = servers
    ch = await webchat_channel(huiliu.app, "汇流小店", allowed_origin=[site])
    admin = await huiliu.factory.user("admin")
    agent = await huiliu.factory.user("agent", name="客服 李娜")
    await huiliu.api(
        "PATCH", f"/api/v1/channels/{ch['id']}", admin["headers"], json={"csat_enabled": True}
    )
    context = await browser.new_context(locale="zh-CN", viewport={"width": 1280, "height": 800})
    events = await agent_online(huiliu, agent["token"])
    try:
        v = await visit(context, page_url(site, huiliu, ch["id"]))
        await v.open()
        await v.say("发票怎么开？")
        await expect(v.widget.locator(".msg.visitor[data-id]")).to_have_count(1)
        [conv] = await conversations(huiliu, agent["headers"])
        url = f"/api/v1/conversations/{conv['id']}"
        await huiliu.api("POST", f"{url}/messages", agent["headers"], json={"content": "已开好"})
        await huiliu.api("POST", f"{url}/status", agent["headers"], json={"status": "resolved"})
        survey = v.widget.locator(".survey")
        await expect(survey.locator(".survey-score")).to_have_text(["1", "2", "3", "4", "5"])
        await survey.locator(".survey-score[data-score='4']").click()
        await survey.locator(".survey-comment").fill("速度<b>很快</b>")
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        await v.page.screenshot(path=str(SCREENSHOTS / "widget-survey.png"))
        await survey.locator(".survey-submit").click()
        await expect(v.widget.locator(".survey.done")).to_have_text("感谢您的评价！")
        for _ in range(100):
            got = await _conversation(huiliu, agent["headers"], conv["id"])
            if got["csat"]:
                break
            await asyncio.sleep(0.1)
        assert got["status"] == "resolved"
        assert got["csat"]["score"] == 4 and got["csat"]["comment"] == "速度<b>很快</b>"
        assert got["csat"]["agent"]["name"] == "客服 李娜"
        assert len(await conversations(huiliu, agent["headers"])) == 1
        # The answer stays in the history; after a reload the survey stays answered.
        await v.page.reload()
        await v.open()
        await expect(v.widget.locator(".msg.visitor[data-id] .bubble").last).to_have_text(
            "4 速度<b>很快</b>"
        )
        await expect(v.widget.locator(".survey.done")).to_have_count(1)
        await expect(v.widget.locator(".survey-score")).to_have_count(0)
        v.check()
    finally:
        await events.close()
        await context.close()
