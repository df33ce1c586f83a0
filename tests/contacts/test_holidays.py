"""China's working days: the admin's table, then the library, then weekends."""

from __future__ import annotations

from datetime import date
from typing import Any

from app.contacts.calendar import is_workday


async def test_holiday_table_overrides_library_and_weekends(
    client: Any, factory: Any, app: Any
) -> None:
    admin, agent = await factory.user("admin"), await factory.user("agent")
    r = await client.get("/api/v1/holidays/2099", headers=agent["headers"])
    assert r.json() == {"year": 2099, "library_knows_year": False, "days": []}
    async with app.state.services.db.session() as s:
        assert await is_workday(s, date(2099, 1, 1)) is True  # a Thursday: weekends only
        assert await is_workday(s, date(2099, 1, 3)) is False  # a Saturday
        assert await is_workday(s, date(2026, 10, 1)) is False  # National Day (library)
    body = {
        "days": [
            {"day": "2099-01-01", "workday": False, "name": "元旦"},
            {"day": "2099-01-03", "workday": True, "name": "调休上班"},
        ]
    }
    assert (
        await client.put("/api/v1/holidays/2099", json=body, headers=agent["headers"])
    ).status_code == 403
    bad = {"days": [{"day": "2098-12-31", "workday": False}]}
    r = await client.put("/api/v1/holidays/2099", json=bad, headers=admin["headers"])
    assert r.status_code == 400 and "2098-12-31" in r.json()["detail"]
    r = await client.put("/api/v1/holidays/2099", json=body, headers=admin["headers"])
    assert r.status_code == 200 and len(r.json()["days"]) == 2
    async with app.state.services.db.session() as s:
        assert await is_workday(s, date(2099, 1, 1)) is False
        assert await is_workday(s, date(2099, 1, 3)) is True
    r = await client.put("/api/v1/holidays/2099", json={"days": []}, headers=admin["headers"])
    assert r.json()["days"] == []
