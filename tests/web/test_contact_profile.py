"""The customer's name, phone, email and attributes in the sidebar: shown, edited, saved
(issue 21, item 11), with bad input refused by the API and changing nothing."""

from __future__ import annotations

from typing import Any

import httpx
from playwright.async_api import Browser, expect
from sqlalchemy import select

from app.models import AuditLog, Contact
from tests.conftest import push
from tests.web.browser import LiveServer, open_inbox
from tests.web.support import staff

XSS = "<img src=x onerror=alert(1)>"


async def test_agent_edits_the_profile_in_the_sidebar(live: LiveServer, browser: Browser) -> None:
    ch = await live.factory.channel()
    agent = await staff(live.factory, name="客服 李娜")
    other = await staff(live.factory, name="客服 张伟")
    await live.push(ch, {"id": "1", "from": "u1", "name": "", "text": "在吗"})
    async with live.app.state.services.db.session() as session:
        contact = await session.scalar(select(Contact))
        assert contact is not None
        contact.attributes = {"会员等级": "金卡", "积分": 1200}
    page, watch = await open_inbox(browser, live.base, agent["email"])
    watcher, watch_other = await open_inbox(browser, live.base, other["email"])
    await page.locator(".conv-item button").click()
    form = page.locator("#profile-form")
    await expect(form.locator("#profile-name")).to_have_value("客户 u1")
    keys = form.locator(".attr-key")
    await expect(keys).to_have_count(2)
    pairs = await form.locator(".attribute-row").evaluate_all(
        "rows => rows.map(r => [r.querySelector('.attr-key').value,"
        " r.querySelector('.attr-value').value])"
    )
    assert sorted(pairs) == sorted([["会员等级", "金卡"], ["积分", "1200"]])  # any order (JSONB)

    await form.locator("#profile-name").fill("王小明（老客户）")
    await form.locator("#profile-phone").fill("138 0013 8000")
    await form.locator("#profile-email").fill("wang@example.com")
    level = form.locator(".attribute-row").filter(has=page.locator('.attr-key[value="会员等级"]'))
    await level.locator(".attr-value").fill(XSS)
    await form.locator("#attr-add").click()
    await form.locator(".attr-key").last.fill("城市")
    await form.locator(".attr-value").last.fill("杭州")
    await form.locator("#profile-save").click()
    await expect(form.locator(".profile-state")).to_have_text("已保存")
    await expect(page.locator(".contact-name")).to_have_text("王小明（老客户）")
    # The new name reaches every list and the thread header live.
    await expect(page.locator("#thread-name")).to_have_text("王小明（老客户）")
    await expect(watcher.locator(".conv-name")).to_have_text("王小明（老客户）")
    async with live.app.state.services.db.sessions() as session:
        saved = await session.scalar(select(Contact))
        assert saved is not None
        assert saved.phone == "138 0013 8000" and saved.email == "wang@example.com"
        assert saved.attributes == {"会员等级": XSS, "积分": 1200, "城市": "杭州"}
        audit = (await session.scalars(select(AuditLog).order_by(AuditLog.id.desc()))).first()
        assert audit is not None and audit.action == "contact.updated"
        assert set(audit.details["fields"]) == {"name", "phone", "email", "attributes"}

    # Removing an attribute; after a reload everything shows as saved.
    await form.locator(".attr-remove").first.click()
    await form.locator("#profile-save").click()
    await expect(form.locator(".profile-state")).to_have_text("已保存")
    await page.reload()
    await page.locator(".conv-item button").click()
    await expect(page.locator("#profile-phone")).to_have_value("138 0013 8000")
    await expect(page.locator(".attr-value")).to_have_count(2)
    assert await page.locator("img[src=x]").count() == 0
    watch.check()
    watch_other.check()


async def test_bad_profile_input_is_refused_and_changes_nothing(
    client: httpx.AsyncClient, factory: Any, app: Any
) -> None:
    ch = await factory.channel()
    agent = await factory.user("agent")
    await push(client, ch, {"id": "1", "from": "u1", "name": "王小明", "text": "在吗"})
    async with app.state.services.db.sessions() as session:
        contact = await session.scalar(select(Contact))
        assert contact is not None
    path = f"/api/v1/contacts/{contact.id}"
    for body in (
        {"name": "   "},
        {"phone": "call me maybe"},
        {"email": "not-an-email"},
        {"attributes": {"": "x"}},
        {"attributes": {"k": "x" * 501}},
        {"attributes": {"k": {"nested": 1}}},
        {"name": "新名字", "email": "bad"},  # one bad field: nothing is saved
    ):
        r = await client.patch(path, json=body, headers=agent["headers"])
        assert 400 <= r.status_code < 500, (body, r.text)
    async with app.state.services.db.sessions() as session:
        same = await session.get(Contact, contact.id)
        assert same is not None and same.name == "王小明" and same.email is None
    r = await client.patch(path, json={"phone": "", "email": ""}, headers=agent["headers"])
    assert r.status_code == 200 and r.json()["phone"] is None


async def test_made_up_names_carry_a_hint_and_can_be_renamed(
    live: LiveServer, browser: Browser
) -> None:
    ch = await live.factory.channel("微信公众号")
    agent = await staff(live.factory, name="客服 李娜")
    # Two followers whose platform sends no nickname, with the same last four characters.
    await live.push(ch, {"id": "1", "from": "oAAAA-er01", "name": "", "text": "在吗"})
    await live.push(ch, {"id": "2", "from": "oBBBB-er01", "name": "", "text": "你好"})
    await live.push(ch, {"id": "3", "from": "u3", "name": "陈静", "text": "发票"})
    async with httpx.AsyncClient(base_url=live.base, headers=agent["headers"]) as http:
        items = (await http.get("/api/v1/conversations")).json()["items"]
        (first,) = [i for i in items if i["contact"]["external_id"] == "oAAAA-er01"]
        r = await http.post(  # the first follower's last order, its number hostile
            f"/api/v1/contacts/{first['contact']['id']}/orders",
            json={"order_no": XSS, "ordered_at": "2026-11-02", "amount": "9", "items": []},
        )
        assert r.status_code == 201, r.text
    page, watch = await open_inbox(browser, live.base, agent["email"])
    rows = page.locator(".conv-item", has_text="客户 er01")
    await expect(rows).to_have_count(2)
    await expect(rows.locator(".conv-hint")).to_have_text(
        ["微信公众号 · oBBBB-er01", f"微信公众号 · oAAAA-er01 · 最近订单 {XSS}（2026-11-02）"]
    )
    await rows.nth(1).locator("button").click()
    await expect(page.locator("#thread-hint")).to_have_text(
        f"微信公众号 · oAAAA-er01 · 最近订单 {XSS}（2026-11-02）"
    )
    assert await page.locator(".conv-hint img, #thread-hint img").count() == 0
    await expect(page.locator(".conv-item", has_text="陈静").locator(".conv-hint")).to_have_count(0)
    await rows.first.locator("button").click()
    await expect(page.locator("#thread-hint")).to_have_text("微信公众号 · oBBBB-er01")
    await page.locator("#profile-phone").fill("+86 138-0013-8000")
    await page.locator("#profile-save").click()
    await expect(rows.first.locator(".conv-hint")).to_have_text("手机尾号 8000")
    await page.locator("#profile-name").fill("王小明")
    await page.locator("#profile-save").click()
    await expect(page.locator("#thread-name")).to_have_text("王小明")
    await expect(page.locator("#thread-hint")).to_have_count(0)
    await expect(page.locator(".conv-item", has_text="王小明").locator(".conv-hint")).to_have_count(
        0
    )
    watch.check()
