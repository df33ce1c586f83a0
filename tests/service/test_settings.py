"""Channel service settings (PATCH /api/v1/channels/{id}) and business-hours arithmetic."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from app.service.hours import (
    ScheduleError,
    business_deadline,
    business_seconds,
    is_open,
    parse_schedule,
)

CST = ZoneInfo("Asia/Shanghai")
WEEKDAYS = {d: [["09:00", "18:00"]] for d in ("mon", "tue", "wed", "thu", "fri")}


async def test_patch_and_read_back(client: Any, factory: Any) -> None:
    ch = await factory.channel("A", "sa")
    admin = await factory.user("admin")
    body = {
        "name": " 旗舰店 ",
        "business_hours": {"mon": [["13:00", "18:00"], ["09:00", "12:00"]], "sat": []},
        "holidays": ["2026-12-24", "2026-12-24"],
        "greeting": "您好，欢迎光临",
        "away_message": "现在是下班时间",
        "csat_enabled": True,
        "first_response_minutes": 10,
    }
    r = await client.patch(f"/api/v1/channels/{ch['id']}", json=body, headers=admin["headers"])
    assert r.status_code == 200, r.text
    got = r.json()
    assert got["name"] == "旗舰店"
    assert got["business_hours"] == {"mon": [["09:00", "12:00"], ["13:00", "18:00"]], "sat": []}
    assert got["holidays"] == ["2026-12-24"]
    assert (got["csat_enabled"], got["first_response_minutes"]) == (True, 10)
    # Only what is sent changes; null hours = always open.
    r = await client.patch(
        f"/api/v1/channels/{ch['id']}", json={"business_hours": None}, headers=admin["headers"]
    )
    assert r.json()["business_hours"] is None and r.json()["greeting"] == "您好，欢迎光临"
    r = await client.get(f"/api/v1/channels/{ch['id']}/service", headers=admin["headers"])
    assert r.json()["first_response_minutes"] == 10


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        ({"business_hours": {"mon": [["09:00", "25:00"]]}}, "25:00"),
        ({"business_hours": {"mon": [["18:00", "09:00"]]}}, "not after"),
        ({"business_hours": {"someday": [["09:00", "18:00"]]}}, "unknown day"),
        ({"business_hours": {"mon": [["09:00", "12:00"], ["11:00", "13:00"]]}}, "overlap"),
        ({"business_hours": {"mon": "09:00-18:00"}}, "list"),
        ({"holidays": ["2026-13-01"]}, "not a date"),
        ({"first_response_minutes": 0}, "first_response_minutes"),
        ({"csat_enabled": "yes"}, "csat_enabled"),
        ({"name": ""}, "name"),
    ],
)
async def test_bad_input_is_400_and_changes_nothing(
    client: Any, factory: Any, body: dict[str, Any], reason: str
) -> None:
    ch = await factory.channel("A", "sa")
    admin = await factory.user("admin")
    url = f"/api/v1/channels/{ch['id']}"
    ok = {"business_hours": WEEKDAYS, "greeting": "你好"}
    assert (await client.patch(url, json=ok, headers=admin["headers"])).status_code == 200
    r = await client.patch(url, json={**body, "greeting": "变了"}, headers=admin["headers"])
    assert r.status_code == 400 and reason in r.json()["detail"], r.text
    got = (await client.get(f"{url}/service", headers=admin["headers"])).json()
    assert got["business_hours"] == WEEKDAYS and got["greeting"] == "你好"
    assert got["name"] == "A"


async def test_only_admins(client: Any, factory: Any) -> None:
    ch = await factory.channel("A", "sa")
    for role in ("agent", "supervisor"):
        user = await factory.user(role)
        r = await client.patch(
            f"/api/v1/channels/{ch['id']}", json={"greeting": "x"}, headers=user["headers"]
        )
        assert r.status_code == 403
    admin = await factory.user("admin")
    r = await client.patch("/api/v1/channels/999", json={"greeting": "x"}, headers=admin["headers"])
    assert r.status_code == 404
    r = await client.patch(
        f"/api/v1/channels/{ch['id']}", json={"colour": "red"}, headers=admin["headers"]
    )
    assert r.status_code == 422


def test_schedule_shapes() -> None:
    assert parse_schedule(None) is None
    assert parse_schedule({"sun": [["00:00", "24:00"]]}) == {"sun": [(0, 1440)]}
    for bad in ({"mon": [["9:00", "18:00"]]}, {"mon": [["09:00"]]}, [], {"mon": [[9, 18]]}):
        with pytest.raises(ScheduleError):
            parse_schedule(bad)


async def test_business_seconds_with_china_holidays(app: Any) -> None:
    schedule = parse_schedule(WEEKDAYS)
    async with app.state.services.db.session() as session:
        # Wed 30 Sep 17:00 to Sat 10 Oct 10:00 (2026): 1 h on the 30th, National Day 1-7 Oct
        # closed, 9 h on Thu 8th and Fri 9th, Sat 10th an adjusted working day on Monday's
        # hours: 1 h. 20 h in all.
        start = datetime(2026, 9, 30, 17, 0, tzinfo=CST)
        end = datetime(2026, 10, 10, 10, 0, tzinfo=CST)
        assert await business_seconds(session, schedule, (), start, end) == 20 * 3600
        # The channel's own closed day removes Friday's 9 h.
        assert await business_seconds(session, schedule, ("2026-10-09",), start, end) == 11 * 3600
        # Always open: wall-clock.
        assert await business_seconds(session, None, (), start, end) == int(
            (end - start).total_seconds()
        )
        assert await is_open(session, schedule, (), datetime(2026, 10, 8, 9, 0, tzinfo=CST))
        assert not await is_open(session, schedule, (), datetime(2026, 10, 8, 18, 0, tzinfo=CST))
        assert not await is_open(session, schedule, (), datetime(2026, 10, 1, 10, 0, tzinfo=CST))
        assert await is_open(session, schedule, (), datetime(2026, 10, 10, 10, 0, tzinfo=CST))
        assert not await is_open(session, schedule, (), datetime(2026, 10, 11, 10, 0, tzinfo=CST))


async def test_business_deadline_counts_only_open_time(app: Any) -> None:
    schedule = parse_schedule(WEEKDAYS)
    async with app.state.services.db.session() as session:

        async def due(start: datetime, minutes: int, holidays: tuple[str, ...] = ()) -> datetime:
            return await business_deadline(session, schedule, holidays, start, minutes * 60)

        # Inside hours: the wall clock. Wed 2 Dec 2026 10:00 + 30 min.
        wed = datetime(2026, 12, 2, 10, 0, tzinfo=CST)
        assert await due(wed, 30) == datetime(2026, 12, 2, 10, 30, tzinfo=CST)
        # Fri 4 Dec 17:50 + 30 min: 10 min on Friday, 20 on Monday 7 Dec.
        fri = datetime(2026, 12, 4, 17, 50, tzinfo=CST)
        assert await due(fri, 30) == datetime(2026, 12, 7, 9, 20, tzinfo=CST)
        # The channel's own closed Monday moves it to Tuesday.
        assert await due(fri, 30, ("2026-12-07",)) == datetime(2026, 12, 8, 9, 20, tzinfo=CST)
        # Written on Sunday night: Monday 09:05.
        sun = datetime(2026, 12, 6, 23, 0, tzinfo=CST)
        assert await due(sun, 5) == datetime(2026, 12, 7, 9, 5, tzinfo=CST)
        # National Day: Wed 30 Sep 17:30 + 60 min = 30 min that day, 30 min on Thu 8 Oct.
        sep = datetime(2026, 9, 30, 17, 30, tzinfo=CST)
        assert await due(sep, 60) == datetime(2026, 10, 8, 9, 30, tzinfo=CST)
        # The inverse of business_seconds.
        deadline = await due(fri, 30)
        assert await business_seconds(session, schedule, (), fri, deadline) == 30 * 60
        # Always open: the wall clock.
        assert await business_deadline(session, None, (), fri, 1800) == fri + timedelta(minutes=30)
        # Never open: the end of the span counted, never "now".
        closed = await business_deadline(session, {}, (), fri, 60)
        assert closed > fri + timedelta(days=60)


async def test_the_holiday_table_is_read_once_per_transaction(app: Any) -> None:
    """Business hours walk day by day: the admin's table is read once a year per
    transaction, and read again after it changes (`forget_admin_table`)."""
    from datetime import date

    from app.contacts.calendar import forget_admin_table, is_workday
    from app.models import HolidayDay, utcnow_for_models

    saturday = date(2026, 12, 5)
    async with app.state.services.db.session() as session:
        assert not await is_workday(session, saturday)
        session.add(
            HolidayDay(day=saturday, workday=True, name="调休", updated_at=utcnow_for_models())
        )
        await session.flush()
        assert not await is_workday(session, saturday)  # this transaction's copy
        forget_admin_table(session)
        assert await is_workday(session, saturday)
        await session.rollback()
