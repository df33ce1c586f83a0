"""The SLA view: overdue first responses counted for supervisors, and the inbox list's
"waiting longest" order."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from sqlalchemy import update

from app.models import Conversation, utcnow_for_models
from tests.conftest import push


async def _age(app: Any, conversation_id: int, minutes: int) -> None:
    async with app.state.services.db.session() as session:
        await session.execute(
            update(Conversation)
            .where(Conversation.id == conversation_id)
            .values(created_at=utcnow_for_models() - timedelta(minutes=minutes))
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
