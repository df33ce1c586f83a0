"""Automatic assignment: round robin among online agents, capacity, returning customers,
the presence heartbeat, and the re-queue sweep (offline, unanswered)."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

from sqlalchemy import select, update

from app.inbox.actions.assignment import requeue_stale
from app.models import AgentPresence, AuditLog, Conversation, EventLog, Message, User
from app.models import utcnow_for_models as now
from app.realtime.subscribers import Subscriber
from tests.conftest import push


async def set_online(app: Any, *user_ids: int, ago: timedelta = timedelta(0)) -> None:
    """What the heartbeat writes for agents with an open inbox."""
    async with app.state.services.db.session() as session:
        for uid in user_ids:
            row = await session.get(AgentPresence, uid)
            if row is None:
                session.add(AgentPresence(user_id=uid, last_seen_at=now() - ago))
            else:
                row.last_seen_at = now() - ago


async def assignees(app: Any) -> list[int | None]:
    async with app.state.services.db.session() as session:
        rows = await session.scalars(select(Conversation).order_by(Conversation.id))
        return [c.assignee_id for c in rows]


async def test_round_robin_among_online_agents_of_the_channel(
    client: Any, factory: Any, app: Any
) -> None:
    ch = await factory.channel("A", "sa")
    other = await factory.channel("B", "sb")
    a = await factory.user("agent")
    b = await factory.user("agent")
    elsewhere = await factory.user("agent", channels=[other["id"]])
    offline = await factory.user("agent")
    supervisor = await factory.user("supervisor")
    await set_online(app, a["id"], b["id"], elsewhere["id"], supervisor["id"])
    await set_online(app, offline["id"], ago=timedelta(minutes=5))
    for i in range(4):
        await push(client, ch, {"id": str(i), "from": f"u{i}", "text": "你好"})
    assert await assignees(app) == [a["id"], b["id"], a["id"], b["id"]]

    async with app.state.services.db.session() as session:
        created = (
            await session.scalars(
                select(EventLog)
                .where(EventLog.type == "conversation.created")
                .order_by(EventLog.seq)
            )
        ).all()
        audits = (
            await session.scalars(
                select(AuditLog).where(AuditLog.action == "conversation.assigned")
            )
        ).all()
    # The created event already names the assignee: no extra event per conversation.
    assert [e.data["assignee"]["id"] for e in created] == [a["id"], b["id"], a["id"], b["id"]]
    assert {(x.actor_id, x.details["rule"]) for x in audits} == {(None, "round robin")}

    # A follow-up message in an assigned conversation changes nothing.
    await push(client, ch, {"id": "again", "from": "u0", "text": "在吗"})
    assert await assignees(app) == [a["id"], b["id"], a["id"], b["id"]]


async def test_capacity_is_respected_and_the_rest_waits_in_the_queue(
    client: Any, factory: Any, app: Any
) -> None:
    app.state.services.settings.assignment_capacity = 2
    ch = await factory.channel()
    a = await factory.user("agent")
    await set_online(app, a["id"])
    for i in range(3):
        await push(client, ch, {"id": str(i), "from": f"u{i}", "text": "hi"})
    assert await assignees(app) == [a["id"], a["id"], None]

    # Pending conversations do not count against capacity.
    first = (await client.get("/api/v1/conversations?assignee=me", headers=a["headers"])).json()
    r = await client.post(
        f"/api/v1/conversations/{first['items'][0]['id']}/status",
        json={"status": "pending"},
        headers=a["headers"],
    )
    assert r.status_code == 200
    await push(client, ch, {"id": "3", "from": "u3", "text": "hi"})
    assert (await assignees(app))[-1] == a["id"]

    app.state.services.settings.assignment_capacity = 0  # automatic assignment off
    await push(client, ch, {"id": "4", "from": "u4", "text": "hi"})
    assert (await assignees(app))[-1] is None


async def test_concurrent_arrivals_cannot_overfill_an_agent(
    client: Any, factory: Any, app: Any
) -> None:
    app.state.services.settings.assignment_capacity = 1
    ch = await factory.channel()
    a = await factory.user("agent")
    await set_online(app, a["id"])
    results = await asyncio.gather(
        *(push(client, ch, {"id": str(i), "from": f"u{i}", "text": "hi"}) for i in range(6))
    )
    assert all(r.status_code == 200 for r in results)
    got = await assignees(app)
    assert len(got) == 6 and got.count(a["id"]) == 1


async def test_returning_customer_goes_to_their_previous_agent_when_online(
    client: Any, factory: Any, app: Any
) -> None:
    ch = await factory.channel()
    a = await factory.user("agent")
    b = await factory.user("agent")
    await set_online(app, b["id"])
    await push(client, ch, {"id": "1", "from": "vip", "text": "第一次"})
    (conv,) = (await client.get("/api/v1/conversations", headers=b["headers"])).json()["items"]
    assert conv["assignee"]["id"] == b["id"]
    await client.post(
        f"/api/v1/conversations/{conv['id']}/status",
        json={"status": "resolved"},
        headers=b["headers"],
    )
    # Round robin alone would now pick A (never assigned); the customer gets B again.
    await set_online(app, a["id"])
    await push(client, ch, {"id": "2", "from": "vip", "text": "又来了"})
    assert await assignees(app) == [b["id"], b["id"]]
    async with app.state.services.db.session() as session:
        rules = list(
            await session.scalars(
                select(AuditLog.details)
                .where(AuditLog.action == "conversation.assigned")
                .order_by(AuditLog.id)
            )
        )
    assert [r["rule"] for r in rules if "rule" in r] == ["round robin", "returning customer"]

    # The previous agent is offline: round robin instead.
    latest = await _latest(app)
    await client.post(
        f"/api/v1/conversations/{latest.id}/status",
        json={"status": "resolved"},
        headers=b["headers"],
    )
    await set_online(app, b["id"], ago=timedelta(minutes=10))
    await push(client, ch, {"id": "3", "from": "vip", "text": "第三次"})
    assert (await assignees(app))[-1] == a["id"]


async def _latest(app: Any) -> Conversation:
    async with app.state.services.db.session() as session:
        found = await session.scalar(select(Conversation).order_by(Conversation.id.desc()))
        assert found is not None
        return found


async def test_heartbeat_records_presence_and_closes_deactivated_users(
    factory: Any, app: Any
) -> None:
    a = await factory.user("agent")
    b = await factory.user("agent")
    hub, worker = app.state.services.hub, app.state.services.assignment
    sub_a = Subscriber(accepts=lambda _e: True, user_id=a["id"])
    sub_b = Subscriber(accepts=lambda _e: True, user_id=b["id"])
    hub.subscribe(sub_a)
    hub.subscribe(sub_b)
    try:
        assert await worker.beat() == {a["id"], b["id"]}
        async with app.state.services.db.session() as session:
            seen = set(await session.scalars(select(AgentPresence.user_id)))
            await session.execute(update(User).where(User.id == b["id"]).values(active=False))
        assert seen == {a["id"], b["id"]}
        # b was deactivated elsewhere (the CLI): the next beat closes b's socket.
        assert await worker.beat() == {a["id"]}
        assert sub_b.queue.get_nowait() is None and sub_a.queue.empty()
    finally:
        hub.unsubscribe(sub_a)
        hub.unsubscribe(sub_b)


async def _assign(client: Any, admin: Any, conversation_id: int, user_id: int) -> None:
    r = await client.post(
        f"/api/v1/conversations/{conversation_id}/assignment",
        json={"assignee_id": user_id},
        headers=admin["headers"],
    )
    assert r.status_code == 200, r.text


async def _age(app: Any, conversation_id: int, **minutes: int) -> None:
    """Move a conversation's clocks into the past."""
    t = now()
    values = {k: t - timedelta(minutes=v) for k, v in minutes.items()}
    async with app.state.services.db.session() as session:
        await session.execute(
            update(Conversation).where(Conversation.id == conversation_id).values(**values)
        )


async def test_offline_assignee_returns_the_conversation_to_the_queue(
    client: Any, factory: Any, app: Any
) -> None:
    app.state.services.settings.assignment_capacity = 0
    ch = await factory.channel()
    admin = await factory.user("admin")
    gone = await factory.user("agent", name="小周")
    here = await factory.user("agent")
    for i in range(3):
        await push(client, ch, {"id": str(i), "from": f"u{i}", "text": "hi"})
    c1, c2, c3 = [c.id for c in await _conversations(app)]
    for cid, uid in ((c1, gone["id"]), (c2, here["id"]), (c3, gone["id"])):
        await _assign(client, admin, cid, uid)
    await set_online(app, gone["id"], ago=timedelta(minutes=10))
    await set_online(app, here["id"], ago=timedelta(minutes=10))
    await set_online(app, here["id"])
    await _age(app, c1, assigned_at=10, last_message_at=0)
    await _age(app, c2, assigned_at=10)
    # c3 was assigned to the offline agent a moment ago: they get their time.

    worker = app.state.services.assignment
    assert await worker.sweep() == []  # just started: presence may be stale after a restart
    worker.started -= app.state.services.settings.assignment_offline_seconds
    assert await worker.sweep() == [c1]
    assert await assignees(app) == [None, here["id"], gone["id"]]
    async with app.state.services.db.session() as session:
        note = await session.scalar(
            select(Message).where(Message.conversation_id == c1).order_by(Message.id.desc())
        )
        events = (
            await session.scalars(
                select(EventLog.type).where(EventLog.conversation_id == c1).order_by(EventLog.seq)
            )
        ).all()
        audit = await session.scalar(
            select(AuditLog).where(AuditLog.action == "conversation.requeued")
        )
    assert note is not None and note.private and note.sender_type == "system"
    assert note.content == "小周 离线，会话回到待分配队列"
    assert events[-2:] == ["message.created", "conversation.assigned"]
    assert audit is not None and audit.details == {"from": gone["id"], "reason": "离线"}


async def _conversations(app: Any) -> list[Conversation]:
    async with app.state.services.db.session() as session:
        return list((await session.scalars(select(Conversation).order_by(Conversation.id))).all())


async def test_unanswered_conversation_returns_to_the_queue(
    client: Any, factory: Any, app: Any
) -> None:
    app.state.services.settings.assignment_capacity = 0
    ch = await factory.channel()
    admin = await factory.user("admin")
    agent = await factory.user("agent", name="小李")
    await set_online(app, agent["id"])
    for i in range(2):
        await push(client, ch, {"id": str(i), "from": f"u{i}", "text": "hi"})
    c1, c2 = [c.id for c in await _conversations(app)]
    await _assign(client, admin, c1, agent["id"])
    await _assign(client, admin, c2, agent["id"])
    r = await client.post(
        f"/api/v1/conversations/{c2}/messages", json={"content": "马上"}, headers=agent["headers"]
    )
    assert r.status_code == 201
    # c1: the customer has waited 20 minutes; c2: answered (its last message is ours).
    await _age(app, c1, assigned_at=30, last_inbound_at=20, last_message_at=20)
    await _age(app, c2, assigned_at=30, last_inbound_at=20)
    async with app.state.services.db.session() as session:
        assert await requeue_stale(session, check_offline=False) == [c1]
    assert await assignees(app) == [None, agent["id"]]
    async with app.state.services.db.session() as session:
        note = await session.scalar(
            select(Message.content).where(Message.conversation_id == c1).order_by(Message.id.desc())
        )
    assert note == "小李 15 分钟未回复，会话回到待分配队列"
