"""Per-conversation facts kept up to date by the inbox's actions (app/service/actions/facts.py)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from app.models import ConversationFacts, Message
from tests.conftest import push


async def _facts(app: Any) -> list[ConversationFacts]:
    async with app.state.services.db.session() as session:
        return list(await session.scalars(select(ConversationFacts).order_by("conversation_id")))


async def _conversation(client: Any, headers: dict[str, str]) -> dict[str, Any]:
    items = (await client.get("/api/v1/conversations?status=all", headers=headers)).json()["items"]
    return items[0]


async def test_counts_first_response_resolution(client: Any, factory: Any, app: Any) -> None:
    ch = await factory.channel("A", "sa")
    agent = await factory.user("agent", name="王五")
    h = agent["headers"]
    await push(client, ch, {"id": "m1", "from": "u1", "name": "张三", "text": "你好"})
    await push(client, ch, {"id": "m2", "from": "u1", "text": "在吗"})
    # A retried push is counted once.
    await push(client, ch, {"id": "m2", "from": "u1", "text": "在吗"})
    (facts,) = await _facts(app)
    assert (facts.messages_in, facts.messages_out, facts.first_response_at) == (2, 0, None)
    conv = await _conversation(client, h)
    url = f"/api/v1/conversations/{conv['id']}"
    # A private note is not a response.
    r = await client.post(f"{url}/messages", json={"content": "备注", "private": True}, headers=h)
    assert r.status_code == 201
    (facts,) = await _facts(app)
    assert facts.first_response_at is None and facts.messages_out == 0
    r = await client.post(f"{url}/messages", json={"content": "您好"}, headers=h)
    assert r.status_code == 201
    await client.post(f"{url}/messages", json={"content": "请稍等"}, headers=h)
    (facts,) = await _facts(app)
    assert facts.messages_out == 2
    assert facts.first_response_at is not None and facts.first_response_s is not None
    assert 0 <= facts.first_response_s < 60
    assert facts.first_response_business_s == facts.first_response_s  # no business hours
    assert facts.first_response_agent_id == agent["id"] and facts.last_agent_id == agent["id"]
    r = await client.post(f"{url}/status", json={"status": "resolved"}, headers=h)
    assert r.status_code == 200
    (facts,) = await _facts(app)
    assert facts.resolved_at is not None and facts.resolution_s is not None
    r = await client.post(f"{url}/status", json={"status": "open"}, headers=h)
    (facts,) = await _facts(app)
    assert facts.resolved_at is None and facts.resolution_s is None


async def test_follower_events_make_no_facts(client: Any, factory: Any, app: Any) -> None:
    ch = await factory.channel("A", "sa")
    r = await push(client, ch, {"id": "e1", "from": "u1", "type": "event", "text": "subscribe"})
    assert r.status_code == 200
    assert await _facts(app) == []


async def test_the_bench_switch_stops_the_upkeep(client: Any, factory: Any, app: Any) -> None:
    """The "off" side of the ingest bench's facts A/B (tests/bench/facts_server.py) stores
    customer messages without the facts upkeep (no `after_inbound`, no counting trigger);
    switched back on, it counts again."""
    from tests.bench.facts_server import counting, facts_upkeep

    ch = await factory.channel("A", "sa")
    db = app.state.services.db
    facts_upkeep(False)
    await counting(db, False)
    try:
        r = await push(client, ch, {"id": "m1", "from": "u1", "text": "你好"})
        assert r.status_code == 200
    finally:
        facts_upkeep(True)
        await counting(db, True)
    assert await _facts(app) == []
    async with db.session() as session:
        assert len(list(await session.scalars(select(Message)))) == 1
    assert (await push(client, ch, {"id": "m2", "from": "u2", "text": "在吗"})).status_code == 200
    (row,) = await _facts(app)
    assert row.messages_in == 1


async def test_one_batch_counts_each_conversation_once_per_customer_message(
    app: Any, factory: Any
) -> None:
    """The database counts a batch as it is stored (app/service/inbound_counts.py: a row
    trigger on SQLite, one grouped statement per INSERT on PostgreSQL): several messages of
    one customer, a lifecycle event, a repeat of a stored message, two customers."""
    from app.inbox.actions.inbound import record_inbound_batch
    from app.models import Channel, Conversation
    from channels.base import ContentType, InboundContact, InboundMessage

    def msg(i: str, who: str, kind: ContentType = ContentType.TEXT) -> InboundMessage:
        return InboundMessage(
            external_id=i, contact=InboundContact(external_id=who), content_type=kind, text=i
        )

    ch = await factory.channel()
    db = app.state.services.db
    batch = [msg("a1", "A"), msg("b1", "B"), msg("a2", "A"), msg("e", "A", ContentType.EVENT)]
    async with db.session() as session:
        channel = await session.get(Channel, ch["id"])
        stored = await record_inbound_batch(session, channel, batch)
        await session.commit()
    firsts = {m.content: m.created_at for m in stored if m is not None}
    async with db.session() as session:
        channel = await session.get(Channel, ch["id"])
        again = await record_inbound_batch(session, channel, [msg("a2", "A"), msg("a3", "A")])
        await session.commit()
        assert [m is None for m in again] == [True, False]
        who = {
            c.id: c.contact_id
            for c in await session.scalars(select(Conversation).order_by(Conversation.id))
        }
    rows = {who[f.conversation_id]: f for f in await _facts(app)}
    assert len(rows) == 2
    a, b = sorted(rows.values(), key=lambda f: f.messages_in, reverse=True)
    assert (a.messages_in, b.messages_in) == (3, 1)
    assert a.first_inbound_at == firsts["a1"] and b.first_inbound_at == firsts["b1"]
    assert a.created_at is not None and a.messages_out == 0 and not a.greeted
