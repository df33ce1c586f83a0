"""What a channel-limited agent may not read (other channels' contact tags, colleagues'
emails), and `channel_ids: []` no longer silently meaning "every channel"."""

from __future__ import annotations

from typing import Any

import httpx
from sqlalchemy import select

from app.models import Contact, ContactIdentity, UserChannel
from tests.conftest import push


async def contact_on(app: Any, channel_id: int, external_id: str) -> int:
    async with app.state.services.db.sessions() as s:
        contact_id = await s.scalar(
            select(Contact.id)
            .join(ContactIdentity, ContactIdentity.contact_id == Contact.id)
            .where(ContactIdentity.channel_id == channel_id)
            .where(ContactIdentity.external_id == external_id)
        )
    assert contact_id is not None
    return int(contact_id)


async def test_limited_agent_sees_only_tags_of_their_channels(
    app: Any, client: httpx.AsyncClient, factory: Any
) -> None:
    mine, other = await factory.channel("A"), await factory.channel("B")
    await push(client, mine, {"id": "a1", "from": "ca", "text": "hi"})
    await push(client, other, {"id": "b1", "from": "cb", "text": "hi"})
    admin = await factory.user("admin")
    for channel, ext, tags in ((mine, "ca", ["VIP"]), (other, "cb", ["投诉", "退款中"])):
        contact_id = await contact_on(app, channel["id"], ext)
        r = await client.patch(
            f"/api/v1/contacts/{contact_id}", json={"tags": tags}, headers=admin["headers"]
        )
        assert r.status_code == 200
    limited = await factory.user("agent", channels=[mine["id"]])
    everyone = await factory.user("agent")
    r = await client.get("/api/v1/contact-tags", headers=limited["headers"])
    assert r.json()["items"] == ["VIP"]
    r = await client.get("/api/v1/contact-tags", headers=everyone["headers"])
    assert sorted(r.json()["items"]) == sorted(["VIP", "投诉", "退款中"])


async def test_agents_do_not_read_colleagues_emails(
    client: httpx.AsyncClient, factory: Any
) -> None:
    admin = await factory.user("admin")
    agent = await factory.user("agent")
    supervisor = await factory.user("supervisor")
    seen = {
        u["id"]: u["email"]
        for u in (await client.get("/api/v1/users", headers=agent["headers"])).json()["items"]
    }
    assert seen[agent["id"]] == f"agent{2}@example.com"  # their own
    assert seen[admin["id"]] is None and seen[supervisor["id"]] is None
    for boss in (admin, supervisor):
        items = (await client.get("/api/v1/users", headers=boss["headers"])).json()["items"]
        assert all(u["email"] for u in items)


async def test_an_empty_channel_list_is_refused_and_all_is_explicit(
    app: Any, client: httpx.AsyncClient, factory: Any
) -> None:
    admin = await factory.user("admin")
    channel = await factory.channel()
    agent = await factory.user("agent", channels=[channel["id"]])
    url = f"/api/v1/users/{agent['id']}"

    async def limits() -> list[int]:
        async with app.state.services.db.sessions() as s:
            rows = await s.scalars(
                select(UserChannel.channel_id).where(UserChannel.user_id == agent["id"])
            )
            return list(rows)

    for body in ({"channel_ids": []}, {"channel_ids": [channel["id"]], "every_channel": True}):
        r = await client.patch(url, json=body, headers=admin["headers"])
        assert r.status_code == 422 and isinstance(r.json()["detail"], list)
        assert await limits() == [channel["id"]]  # unchanged
    r = await client.patch(url, json={"every_channel": True}, headers=admin["headers"])
    assert r.status_code == 200 and r.json()["channel_ids"] is None
    assert await limits() == []
    new = {"email": "n@example.com", "name": "N", "role": "agent", "channel_ids": []}
    r = await client.post("/api/v1/users", json=new, headers=admin["headers"])
    assert r.status_code == 422
