"""Canned replies (shared and personal) and the contact's notes and tags, through the API."""

from __future__ import annotations

from typing import Any

import httpx
from sqlalchemy import select

from app.models import AuditLog
from tests.conftest import push


async def test_canned_replies_shared_and_personal(client: httpx.AsyncClient, factory: Any) -> None:
    agent = (await factory.user("agent"))["headers"]
    other = (await factory.user("agent"))["headers"]
    boss = (await factory.user("supervisor"))["headers"]
    url = "/api/v1/canned-replies"
    r = await client.post(url, json={"shortcut": "/hi", "content": "您好！"}, headers=agent)
    assert r.status_code == 201
    mine = r.json()
    assert mine["shortcut"] == "hi" and not mine["shared"] and mine["editable"]
    r = await client.post(
        url, json={"shortcut": "x", "content": "y", "shared": True}, headers=agent
    )
    assert r.status_code == 403
    r = await client.post(
        url, json={"shortcut": "ship", "content": "48 小时内发货", "shared": True}, headers=boss
    )
    assert r.status_code == 201
    shared = r.json()
    assert (
        await client.post(url, json={"shortcut": "a b", "content": "c"}, headers=agent)
    ).status_code == 400

    seen = {c["shortcut"]: c for c in (await client.get(url, headers=agent)).json()["items"]}
    assert set(seen) == {"hi", "ship"} and not seen["ship"]["editable"]
    assert [c["shortcut"] for c in (await client.get(url, headers=other)).json()["items"]] == [
        "ship"
    ]
    r = await client.patch(f"{url}/{shared['id']}", json={"content": "改"}, headers=agent)
    assert r.status_code == 403
    r = await client.patch(f"{url}/{mine['id']}", json={"content": "你好呀"}, headers=other)
    assert r.status_code == 404  # someone else's personal reply does not exist for you
    r = await client.patch(f"{url}/{mine['id']}", json={"content": "你好呀"}, headers=agent)
    assert r.status_code == 200 and r.json()["content"] == "你好呀"
    assert (await client.delete(f"{url}/{mine['id']}", headers=agent)).status_code == 204
    assert (await client.delete(f"{url}/{shared['id']}", headers=boss)).status_code == 204
    assert (await client.get(url, headers=agent)).json()["items"] == []


async def test_contact_notes_and_tags(app: Any, client: httpx.AsyncClient, factory: Any) -> None:
    a = await factory.channel("A", "sa")
    b = await factory.channel("B", "sb")
    await push(client, a, {"id": "1", "from": "u1", "name": "张三", "text": "hi"})
    agent = (await factory.user("agent"))["headers"]
    limited_to_b = (await factory.user("agent", channels=[b["id"]]))["headers"]
    conv = (await client.get("/api/v1/conversations", headers=agent)).json()["items"][0]
    contact = conv["contact"]["id"]

    r = await client.patch(
        f"/api/v1/contacts/{contact}",
        json={"notes": "老客户 <b>VIP</b>", "tags": [" VIP ", "投诉", "vip", "", "退款  中"]},
        headers=agent,
    )
    assert r.status_code == 200
    assert r.json() == {
        "id": contact,
        "notes": "老客户 <b>VIP</b>",
        "tags": ["VIP", "投诉", "退款 中"],
        "name": "张三",
        "phone": None,
        "email": None,
        "attributes": {},
        "owner_id": None,
        "follow_up_days": None,
        "important_dates": [],
        "marketing_consent": False,
    }
    r = await client.get(f"/api/v1/contacts/{contact}/notes", headers=agent)
    assert r.json()["tags"] == ["VIP", "投诉", "退款 中"]
    assert (await client.get(f"/api/v1/contacts/{contact}", headers=agent)).json()["notes"] == (
        "老客户 <b>VIP</b>"
    )
    r = await client.patch(f"/api/v1/contacts/{contact}", json={"tags": ["投诉"]}, headers=agent)
    assert r.json()["tags"] == ["投诉"]
    r = await client.get("/api/v1/contact-tags", headers=agent)
    assert r.json()["items"] == ["投诉"]

    too_long = {"tags": ["x" * 31]}
    r = await client.patch(f"/api/v1/contacts/{contact}", json=too_long, headers=agent)
    assert r.status_code == 400
    for method, path in (("GET", "/notes"), ("PATCH", "")):
        r = await client.request(
            method, f"/api/v1/contacts/{contact}{path}", json={"notes": "x"}, headers=limited_to_b
        )
        assert r.status_code == 404
    async with app.state.services.db.sessions() as session:
        audits = (await session.scalars(select(AuditLog.action))).all()
    assert audits.count("contact.updated") == 2
