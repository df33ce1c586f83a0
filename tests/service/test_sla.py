"""The SLA view: overdue first responses counted for supervisors, and the inbox list's
"waiting longest" order."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import update

from app.models import Conversation
from tests.conftest import push


async def _age(app: Any, conversation_id: int, minutes: int) -> None:
    """Move the conversation and its deadline `minutes` into the past."""
    async with app.state.services.db.session() as session:
        conversation = await session.get(Conversation, conversation_id)
        assert conversation is not None and conversation.first_response_due_at is not None
        ago = timedelta(minutes=minutes)
        await session.execute(
            update(Conversation)
            .where(Conversation.id == conversation_id)
            .values(
                created_at=conversation.created_at - ago,
                first_response_due_at=conversation.first_response_due_at - ago,
            )
        )


async def test_overdue_count_and_waiting_order(client: Any, factory: Any, app: Any) -> None:
    a = await factory.channel("A", "sa")
    b = await factory.channel("B", "sb")
    admin = await factory.user("admin")
    boss = await factory.user("supervisor")
    agent = await factory.user("agent")
    r = await client.patch(
        f"/api/v1/channels/{b['id']}", json={"first_response_minutes": 30}, headers=admin["headers"]
    )
    assert r.status_code == 200
    for i, ch in enumerate((a, a, b, b)):
        await push(client, ch, {"id": f"m{i}", "from": f"u{i}", "text": "在吗"})
    # 1: A, 10 min (over the default 5); 2: A, 2 min; 3: B, 20 min (under 30); 4: B, 40 min.
    for conv_id, minutes in ((1, 10), (2, 2), (3, 20), (4, 40)):
        await _age(app, conv_id, minutes)
    h = boss["headers"]
    assert (await client.get("/api/v1/service/overdue", headers=h)).json() == {"count": 2}
    r = await client.get("/api/v1/service/targets", headers=agent["headers"])
    assert r.json() == {"default_minutes": 5, "channels": {str(b["id"]): 30}}
    # Answered: no longer overdue, and it sorts after the unanswered ones.
    r = await client.post(
        "/api/v1/conversations/4/messages", json={"content": "您好"}, headers=agent["headers"]
    )
    assert r.status_code == 201
    assert (await client.get("/api/v1/service/overdue", headers=h)).json() == {"count": 1}
    r = await client.get("/api/v1/conversations?sort=waiting", headers=h)
    assert [c["id"] for c in r.json()["items"]] == [3, 1, 2, 4]  # longest waiting first
    assert r.json()["next_cursor"] is None
    # Agents do not get the count; a cursor with the one-page view is refused.
    assert (
        await client.get("/api/v1/service/overdue", headers=agent["headers"])
    ).status_code == 403
    r = await client.get("/api/v1/conversations?sort=waiting&cursor=abc", headers=h)
    assert r.status_code == 400
    assert (await client.get("/api/v1/conversations?sort=oldest", headers=h)).status_code == 422


async def test_the_deadline_counts_business_hours_only(client: Any, factory: Any, app: Any) -> None:
    ch = await factory.channel("A", "sa")
    admin = await factory.user("admin")
    boss = await factory.user("supervisor")
    # Closed all week (no day listed): a message waits for the next opening, so it is
    # not overdue however long ago it came, where a wall-clock target would count it.
    r = await client.patch(
        f"/api/v1/channels/{ch['id']}",
        json={"business_hours": {}, "first_response_minutes": 5},
        headers=admin["headers"],
    )
    assert r.status_code == 200, r.text
    await push(client, ch, {"id": "m1", "from": "u1", "text": "在吗"})
    (conv,) = (await client.get("/api/v1/conversations", headers=boss["headers"])).json()["items"]
    created = datetime.fromisoformat(conv["created_at"])
    due = datetime.fromisoformat(conv["first_response_due_at"])
    assert due - created > timedelta(days=60)
    async with app.state.services.db.session() as session:
        await session.execute(
            update(Conversation)
            .where(Conversation.id == conv["id"])
            .values(created_at=created - timedelta(hours=3))
        )
    r = await client.get("/api/v1/service/overdue", headers=boss["headers"])
    assert r.json() == {"count": 0}
