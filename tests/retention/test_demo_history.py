"""The demo's generated year of history makes the retention figures meaningful."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select

from app.models import RetentionScore
from sandbox.retention_history import seed_history


async def test_history_fills_the_retention_figures(client: Any, factory: Any, app: Any) -> None:
    await factory.channel("A", "sa")
    sup = await factory.user("supervisor")
    await factory.user("agent")
    db = app.state.services.db
    assert await seed_history(db) is True
    assert await seed_history(db) is False  # once
    items = (await client.get("/api/v1/reports/churn", headers=sup["headers"])).json()["items"]
    assert sum(i["customers_at_start"] for i in items) > 0
    assert sum(i["lost"] for i in items) > 0
    async with db.session() as s:
        bands = dict(
            (
                await s.execute(
                    select(RetentionScore.band, func.count()).group_by(RetentionScore.band)
                )
            ).all()
        )
        tiers = await s.scalar(select(func.count()).where(RetentionScore.tier.is_not(None)))
    assert bands.get("high", 0) + bands.get("medium", 0) > 0 and tiers
    r = await client.get("/retention", headers=sup["headers"])
    assert r.status_code in (200, 303)

    # the customer list by risk: highest first, every customer once across pages
    seen: list[tuple[int, int]] = []
    cursor = None
    while True:
        q = "/api/v1/contacts?sort=risk&limit=7" + (f"&cursor={cursor}" if cursor else "")
        page = (await client.get(q, headers=sup["headers"])).json()
        seen += [(c["risk"]["score"] if c["risk"] else 0, c["id"]) for c in page["items"]]
        cursor = page["next_cursor"]
        if not cursor:
            break
    assert len(seen) == len({i for _, i in seen}) >= 60
    assert [s for s, _ in seen] == sorted((s for s, _ in seen), reverse=True)
    assert seen[0][0] > 0
