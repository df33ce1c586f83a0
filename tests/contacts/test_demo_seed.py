"""The demo's customers make a non-empty to-do list: a follow-up due today, a birthday
this week, warranty tasks; seeding twice adds nothing."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select

from app.models import Order
from sandbox.customers import seed_customers


async def test_demo_customers_fill_the_todo_list(client: Any, factory: Any, app: Any) -> None:
    await factory.channel("A", "sa")
    agent = await factory.user("agent")
    assert await seed_customers(app.state.services.db) is True
    assert await seed_customers(app.state.services.db) is False
    async with app.state.services.db.session() as s:
        assert await s.scalar(select(func.count()).select_from(Order)) == 4
    h = agent["headers"]
    today = (await client.get("/api/v1/tasks?assignee=me&due=today", headers=h)).json()["items"]
    kinds = {t["kind"] for t in today}
    assert "follow_up" in kinds and "care" in kinds, today
    counts = (await client.get("/api/v1/tasks/counts", headers=h)).json()
    assert counts["due"] >= 2
    found = (await client.get("/api/v1/contacts?q=DEMO-2026-0002", headers=h)).json()["items"]
    assert [c["name"] for c in found] == ["陈静"]
