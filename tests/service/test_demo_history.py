"""The demo's week of service history fills /reports: every day has conversations, some
rated; seeding twice adds nothing."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sandbox.service_history import seed_service_history


async def test_a_week_of_history_with_ratings(client: Any, factory: Any, app: Any) -> None:
    await factory.channel("A", "sa")
    await factory.channel("B", "sb")
    await factory.user("agent", name="客服 甲")
    await factory.user("agent", name="客服 乙")
    boss = await factory.user("supervisor")
    db = app.state.services.db
    assert await seed_service_history(db, per_day=6) is True
    assert await seed_service_history(db, per_day=6) is False
    today = datetime.now(ZoneInfo("Asia/Shanghai")).date()
    week = f"since={today - timedelta(days=7)}&until={today + timedelta(days=1)}"
    r = await client.get(f"/api/v1/reports/service?by=day&{week}", headers=boss["headers"])
    items = r.json()["items"]
    assert len(items) == 8  # the last 7 days and today
    assert [i["conversations"] for i in items[:7]] == [6] * 7 and items[7]["conversations"] == 0
    total = r.json()["total"]
    assert total["conversations"] == 42 and total["resolved"] == 42
    assert total["csat_responses"] > 0 and total["first_response_p50_s"] is not None
    by_agent = (
        await client.get(f"/api/v1/reports/service?by=agent&{week}", headers=boss["headers"])
    ).json()["items"]
    assert {i["group"] for i in by_agent} == {"客服 甲", "客服 乙"}
    r = await client.get("/api/v1/conversations?status=resolved", headers=boss["headers"])
    assert len(r.json()["items"]) > 0
