"""Admins add channels and renew a Douyin grant on /admin (issue 21, item 6): the form
shows the webhook URL (or the embed snippet) and the console steps; all audited."""

from __future__ import annotations

import re
from typing import Any

import httpx
from playwright.async_api import Browser, expect
from sqlalchemy import select

from app.models import AuditLog, Channel
from channels.base import STATE_REASON, STATE_REAUTHORIZATION_NEEDED
from tests.web.browser import LiveServer, shot
from tests.web.support import staff
from tests.web.test_archive_admin import staff_page

DOUYIN = {
    "client_key": "ck",
    "client_secret": "cs",
    "open_id": "oid",
    "access_token": "at-old",
    "refresh_token": "rt-old",
}


async def test_admin_adds_channels_and_reauthorizes_douyin(
    live: LiveServer, browser: Browser
) -> None:
    await staff(live.factory, "admin", name="管理员 孙")
    page, watch = await staff_page(browser, live.base, "admin1@example.com", "/admin")
    dialog = page.locator("#admin-dialog")

    await page.locator("#add-channel").click()
    await dialog.locator("#channel-name").fill("官方公众号")
    await dialog.locator("#cfg-app_id").fill("wx1234567890")
    await dialog.locator("#cfg-app_secret").fill("secret")
    await dialog.locator("#cfg-token").fill("tok123")
    await dialog.locator("#dialog-confirm").click()
    await expect(dialog.locator("#created-webhook")).to_have_text(
        re.compile(r"/webhooks/wechat/\d+$")
    )
    await expect(dialog.locator("#setup-steps")).to_contain_text("IP 白名单")
    await page.screenshot(path=shot("admin-add-channel.png"))
    await dialog.locator("#dialog-confirm").click()
    await expect(page.locator(".channel-row", has_text="官方公众号")).to_be_visible()

    await page.locator("#add-channel").click()
    await dialog.locator("#channel-type").select_option("webchat")
    await dialog.locator("#channel-name").fill("官网客服")
    await dialog.locator("#cfg-allowed_origin").fill("https://shop.example.com")
    await dialog.locator("#dialog-confirm").click()
    await expect(dialog.locator("#created-snippet")).to_contain_text("/widget/")
    await expect(dialog.locator("#created-secret")).not_to_be_empty()
    await dialog.locator("#dialog-confirm").click()

    # WeCom 微信客服: the corp, the kf secret, the callback's Token and key, two kf accounts.
    await page.locator("#add-channel").click()
    await dialog.locator("#channel-type").select_option("wecom")
    await dialog.locator("#channel-name").fill("视频号客服")
    await dialog.locator("#cfg-corp_id").fill("ww0123456789")
    await dialog.locator("#cfg-secret").fill("kf-secret")
    await dialog.locator("#cfg-token").fill("tok456")
    await dialog.locator("#cfg-aes_key").fill("a" * 43)
    await dialog.locator("#cfg-open_kfid").fill("wkA, wkB")
    await dialog.locator("#dialog-confirm").click()
    await expect(dialog.locator("#created-webhook")).to_have_text(
        re.compile(r"/webhooks/wecom/\d+$")
    )
    await expect(dialog.locator("#setup-steps")).to_contain_text("微信客服")
    await dialog.locator("#dialog-confirm").click()
    await expect(page.locator(".channel-row", has_text="视频号客服")).to_be_visible()
    async with live.app.state.services.db.sessions() as s:
        wecom = (await s.scalars(select(Channel).where(Channel.type == "wecom"))).one()
    assert wecom.config["corp_id"] == "ww0123456789"
    assert wecom.config["open_kfid"] == ["wkA", "wkB"]

    # A Douyin channel whose grant lapsed: 需要重新授权, and the button that fixes it.
    async with httpx.AsyncClient(base_url=live.base, headers=await _admin(live)) as http:
        r = await http.post(
            "/api/v1/channels", json={"type": "douyin", "name": "抖音旗舰店", "config": DOUYIN}
        )
        assert r.status_code == 201, r.text
        douyin_id = r.json()["id"]
    async with live.app.state.services.db.session() as session:
        channel = await session.get(Channel, douyin_id)
        assert channel is not None
        channel.state = {STATE_REAUTHORIZATION_NEEDED: True, STATE_REASON: "refresh token expired"}
    await page.reload()
    row = page.locator(f'.channel-row[data-channel-id="{douyin_id}"]')
    await expect(row).to_contain_text("需要重新授权")
    await row.locator("button.reauthorize").click()
    await dialog.locator("#reauth-access_token").fill("at-new")
    await dialog.locator("#reauth-refresh_token").fill("rt-new")
    await dialog.locator("#dialog-confirm").click()
    await expect(row).not_to_contain_text("需要重新授权")
    await expect(row.locator("button.reauthorize")).to_have_count(0)
    async with live.app.state.services.db.sessions() as session:
        channel = await session.get(Channel, douyin_id)
        assert channel is not None
        assert channel.config["access_token"] == "at-new"
        assert channel.config["refresh_token"] == "rt-new"
        assert STATE_REAUTHORIZATION_NEEDED not in channel.state
        actions = list(await session.scalars(select(AuditLog.action)))
    assert actions.count("channel.created") == 4 and "channel.reauthorized" in actions
    watch.check(allow_socket_errors=True)


async def _admin(live: LiveServer) -> dict[str, str]:
    admin = await live.factory.user("admin")
    return dict(admin["headers"])


async def test_channel_setup_refuses_bad_input(client: httpx.AsyncClient, factory: Any) -> None:
    admin = (await factory.user("admin"))["headers"]
    agent = (await factory.user("agent"))["headers"]
    body = {"type": "wechat", "name": "公众号", "config": {"app_id": "wx1", "token": "t"}}
    assert (await client.post("/api/v1/channels", json=body, headers=agent)).status_code == 403
    for bad in (
        body,  # app_secret missing
        {**body, "type": "test"},
        {**body, "name": ""},
        {"type": "wechat", "name": "x", "config": {"nope": 1}},
    ):
        r = await client.post("/api/v1/channels", json=bad, headers=admin)
        assert r.status_code in (400, 422), (bad, r.text)
    assert (await client.get("/api/v1/channels", headers=admin)).json()["items"] == []
    site = await factory.channel()
    r = await client.post(
        f"/api/v1/channels/{site['id']}/reauthorize",
        json={"access_token": "a", "refresh_token": "r"},
        headers=admin,
    )
    assert r.status_code == 400
    r = await client.post(
        "/api/v1/channels/999/reauthorize",
        json={"access_token": "a", "refresh_token": "r"},
        headers=admin,
    )
    assert r.status_code == 404
