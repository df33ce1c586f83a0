"""Replying takes an unassigned conversation (audited, published), and the queue summary
supervisors watch: how many wait and the longest wait (issue 21, item 2)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from sqlalchemy import select, update

from app.models import AuditLog, Conversation, EventLog, utcnow_for_models
from tests.conftest import push


async def _conversation(client: Any, headers: dict[str, str]) -> dict[str, Any]:
    items = (await client.get("/api/v1/conversations", headers=headers)).json()["items"]
    assert len(items) == 1
    return items[0]


async def test_a_reply_takes_an_unassigned_conversation(
    client: Any, factory: Any, app: Any
) -> None:
    ch = await factory.channel()
    li = await factory.user("agent", name="客服 李娜")
    zhang = await factory.user("agent", name="客服 张伟")
    await push(client, ch, {"id": "1", "from": "u1", "name": "王小明", "text": "在吗"})
    conv = await _conversation(client, li["headers"])
    assert conv["assignee"] is None

    # A private note does not take it.
    r = await client.post(
        f"/api/v1/conversations/{conv['id']}/messages",
        json={"content": "先看看", "private": True},
        headers=zhang["headers"],
    )
    assert r.status_code == 201
    assert (await _conversation(client, li["headers"]))["assignee"] is None

    async with app.state.services.db.sessions() as s:
        seq_before = await s.scalar(select(EventLog.seq).order_by(EventLog.seq.desc()).limit(1))
    r = await client.post(
        f"/api/v1/conversations/{conv['id']}/messages",
        json={"content": "在的"},
        headers=li["headers"],
    )
    assert r.status_code == 201
    after = await _conversation(client, li["headers"])
    assert after["assignee"] == {"id": li["id"], "name": "客服 李娜"}
    async with app.state.services.db.sessions() as s:
        audit = (
            await s.scalars(
                select(AuditLog)
                .where(AuditLog.action == "conversation.assigned")
                .order_by(AuditLog.id.desc())
            )
        ).first()
        events = list(await s.scalars(select(EventLog).where(EventLog.seq > seq_before)))
    assert audit is not None and audit.action == "conversation.assigned"
    assert audit.actor_id == li["id"]
    assert audit.details == {"from": None, "to": li["id"], "rule": "reply"}
    assigned = [e for e in events if e.type == "conversation.assigned"]
    assert len(assigned) == 1 and assigned[0].data["assignee"]["id"] == li["id"]

    # A second agent's reply leaves it with the first.
    r = await client.post(
        f"/api/v1/conversations/{conv['id']}/messages",
        json={"content": "我也来"},
        headers=zhang["headers"],
    )
    assert r.status_code == 201
    assert (await _conversation(client, li["headers"]))["assignee"]["id"] == li["id"]
    async with app.state.services.db.sessions() as s:
        actions = list(await s.scalars(select(AuditLog.action)))
    assert actions.count("conversation.assigned") == 1


async def test_queue_counts_the_waiting_and_the_longest_wait(
    client: Any, factory: Any, app: Any
) -> None:
    a = await factory.channel("A", "sa")
    b = await factory.channel("B", "sb")
    boss = await factory.user("supervisor")
    agent_a = await factory.user("agent", channels=[a["id"]])
    empty = (await client.get("/api/v1/queue", headers=boss["headers"])).json()
    assert empty == {
        "waiting": 0,
        "oldest_since": None,
        "longest_wait_seconds": None,
        "agents_online": 0,
    }
    await push(client, a, {"id": "1", "from": "u1", "name": "甲", "text": "在吗"})
    await push(client, b, {"id": "2", "from": "u2", "name": "乙", "text": "在吗"})
    await push(client, b, {"id": "3", "from": "u3", "name": "丙", "text": "在吗"})
    async with app.state.services.db.session() as s:
        await s.execute(
            update(Conversation)
            .where(Conversation.channel_id == b["id"])
            .values(created_at=utcnow_for_models() - timedelta(minutes=30))
        )
    q = (await client.get("/api/v1/queue", headers=boss["headers"])).json()
    assert q["waiting"] == 3
    assert 30 * 60 <= q["longest_wait_seconds"] < 31 * 60
    # An agent limited to channel A sees A's queue only.
    qa = (await client.get("/api/v1/queue", headers=agent_a["headers"])).json()
    assert qa["waiting"] == 1 and qa["longest_wait_seconds"] < 60
    # Taking one (by replying) shortens the queue.
    conv = next(
        c
        for c in (await client.get("/api/v1/conversations", headers=boss["headers"])).json()[
            "items"
        ]
        if c["contact"]["name"] == "甲"
    )
    r = await client.post(
        f"/api/v1/conversations/{conv['id']}/messages",
        json={"content": "您好"},
        headers=agent_a["headers"],
    )
    assert r.status_code == 201
    assert (await client.get("/api/v1/queue", headers=boss["headers"])).json()["waiting"] == 2
    assert (await client.get("/api/v1/queue")).status_code == 401
