"""The ingest action: idempotent under races, events only after commit."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from sqlalchemy import func, select

from app.inbox.actions.inbound import record_inbound_message
from app.models import Channel, Contact, ContactIdentity, Conversation, EventLog, Message
from channels.base import ContentType, InboundContact, InboundMessage
from tests.conftest import push


def inbound(msg_id: str = "m1", sender: str = "openid-1", text: str = "你好") -> InboundMessage:
    return InboundMessage(
        external_id=msg_id,
        contact=InboundContact(external_id=sender, name="小明"),
        content_type=ContentType.TEXT,
        text=text,
    )


async def count(app: Any, model: Any) -> int:
    async with app.state.services.db.sessions() as session:
        return int(await session.scalar(select(func.count()).select_from(model)))


async def test_ten_concurrent_identical_calls_store_one_message(app: Any, factory: Any) -> None:
    ch = await factory.channel()
    published: list[list[int]] = []
    app.state.services.db.on_events = published.append

    async def once() -> bool:
        async with app.state.services.db.session() as session:
            channel = await session.get(Channel, ch["id"])
            return await record_inbound_message(session, channel, inbound()) is not None

    results = await asyncio.gather(*(once() for _ in range(10)))
    assert sum(results) == 1
    assert await count(app, Message) == 1
    assert await count(app, Conversation) == 1
    assert await count(app, Contact) == 1
    assert await count(app, ContactIdentity) == 1
    # one message.created and one conversation.created, published once
    assert len(published) == 1 and len(published[0]) == 2


async def test_concurrent_different_messages_of_a_new_customer_share_one_conversation(
    app: Any, factory: Any
) -> None:
    ch = await factory.channel()

    async def once(i: int) -> None:
        async with app.state.services.db.session() as session:
            channel = await session.get(Channel, ch["id"])
            await record_inbound_message(session, channel, inbound(f"m{i}", text=f"第{i}条"))

    await asyncio.gather(*(once(i) for i in range(8)))
    assert await count(app, Message) == 8
    assert await count(app, Conversation) == 1
    assert await count(app, Contact) == 1
    async with app.state.services.db.sessions() as session:
        conv = await session.scalar(select(Conversation))
        assert conv is not None and conv.unread_count == 8


async def test_webhook_retries_race_and_store_once(client: Any, factory: Any, app: Any) -> None:
    ch = await factory.channel()
    payload = {"id": "wx-123", "from": "u1", "name": "顾客", "text": "在吗"}
    responses = await asyncio.gather(*(push(client, ch, payload) for _ in range(3)))
    assert [r.status_code for r in responses] == [200, 200, 200]
    assert await count(app, Message) == 1


async def test_rollback_publishes_nothing(app: Any, factory: Any) -> None:
    ch = await factory.channel()
    published: list[list[int]] = []
    app.state.services.db.on_events = published.append
    with pytest.raises(RuntimeError):
        async with app.state.services.db.session() as session:
            channel = await session.get(Channel, ch["id"])
            assert await record_inbound_message(session, channel, inbound()) is not None
            raise RuntimeError("something failed after the insert")
    assert published == []
    assert await count(app, Message) == 0
    assert await count(app, EventLog) == 0


async def test_events_are_logged_with_increasing_seq(app: Any, factory: Any) -> None:
    ch = await factory.channel()
    published: list[list[int]] = []
    app.state.services.db.on_events = published.append
    for i in range(3):
        async with app.state.services.db.session() as session:
            channel = await session.get(Channel, ch["id"])
            await record_inbound_message(session, channel, inbound(f"m{i}"))
    seqs = [s for batch in published for s in batch]
    assert seqs == sorted(seqs) and len(set(seqs)) == 6
    async with app.state.services.db.sessions() as session:
        types = list(await session.scalars(select(EventLog.type).order_by(EventLog.seq)))
    assert types == [
        "message.created",
        "conversation.created",
        "message.created",
        "conversation.updated",
        "message.created",
        "conversation.updated",
    ]


async def test_bad_signature_and_malformed_body_store_nothing(
    client: Any, factory: Any, app: Any
) -> None:
    ch = await factory.channel()
    r = await client.post(
        f"/webhooks/test/{ch['id']}",
        content=b'{"id":"1","from":"u","text":"x"}',
        headers={"X-Test-Signature": "00" * 32},
    )
    assert r.status_code == 403
    from tests.conftest import signed

    body, headers = signed(ch["secret"], "not an object")
    r = await client.post(f"/webhooks/test/{ch['id']}", content=body, headers=headers)
    assert r.status_code == 400
    r = await client.post(
        f"/webhooks/test/{ch['id']}",
        content=b"{broken",
        headers={
            "X-Test-Signature": __import__("tests.support.loopback", fromlist=["sign"]).sign(
                ch["secret"], b"{broken"
            )
        },
    )
    assert r.status_code == 400
    assert await count(app, Message) == 0
    assert await count(app, EventLog) == 0


async def test_unknown_channel_and_oversized_body(client: Any, factory: Any, app: Any) -> None:
    ch = await factory.channel()
    assert (await push(client, {"id": ch["id"] + 99, "secret": "x"}, {})).status_code == 404
    assert (await client.post("/webhooks/nope/1", content=b"x")).status_code == 404
    big = b"x" * (app.state.services.settings.max_webhook_bytes + 1)
    r = await client.post(f"/webhooks/test/{ch['id']}", content=big)
    assert r.status_code == 413
    assert await count(app, Message) == 0


async def resolved_after_one_message(
    client: Any, ch: dict[str, Any], admin: dict[str, Any]
) -> dict[str, Any]:
    """The conversation of customer u1's one message ("1"), resolved by `admin`."""
    await push(client, ch, {"id": "1", "from": "u1", "text": "第一次"})
    conv = (await client.get("/api/v1/conversations", headers=admin["headers"])).json()["items"][0]
    r = await client.post(
        f"/api/v1/conversations/{conv['id']}/status",
        json={"status": "resolved"},
        headers=admin["headers"],
    )
    assert r.status_code == 200 and r.json()["resolved_at"]
    return dict(conv)


async def test_a_retried_push_after_the_conversation_was_resolved_opens_nothing(
    client: Any, factory: Any, app: Any
) -> None:
    """The platform retries a push already stored (its answer was lost) after an agent
    resolved the conversation: nothing is stored, opened or published. The duplicate
    check runs before the conversation is chosen; without it the retry would open an
    empty conversation beside the resolved one."""
    ch = await factory.channel()
    admin = await factory.user("admin")
    conv = await resolved_after_one_message(client, ch, admin)
    events = await count(app, EventLog)
    again = await push(client, ch, {"id": "1", "from": "u1", "text": "第一次"})
    assert again.status_code == 200
    assert await count(app, Message) == 1
    assert await count(app, Conversation) == 1
    assert await count(app, EventLog) == events
    r = await client.get(f"/api/v1/conversations/{conv['id']}", headers=admin["headers"])
    assert r.json()["status"] == "resolved"


async def test_message_to_resolved_conversation_opens_a_new_one(
    client: Any, factory: Any, app: Any
) -> None:
    ch = await factory.channel()
    admin = await factory.user("admin")
    conv = await resolved_after_one_message(client, ch, admin)
    # a lifecycle event does not reopen it
    await push(client, ch, {"id": "e1", "from": "u1", "type": "event", "text": "关注"})
    assert await count(app, Conversation) == 1
    await push(client, ch, {"id": "2", "from": "u1", "text": "又来了"})
    assert await count(app, Conversation) == 2
    contact = (
        await client.get(f"/api/v1/contacts/{conv['contact']['id']}", headers=admin["headers"])
    ).json()
    assert [c["status"] for c in contact["conversations"]] == ["open", "resolved"]
    # reopening the old one while a new one is open is refused with a reason
    r = await client.post(
        f"/api/v1/conversations/{conv['id']}/status",
        json={"status": "open"},
        headers=admin["headers"],
    )
    assert r.status_code == 409
