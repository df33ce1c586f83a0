"""GET /api/v1/reports/service: hand-worked figures from conversation facts."""

from __future__ import annotations

import csv
import io
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import update

from app.models import ConversationFacts
from app.service.reports import percentile
from tests.conftest import push

CST = ZoneInfo("Asia/Shanghai")
RANGE = "since=2026-11-02&until=2026-11-05"


def _at(day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(2026, 11, day, hour, minute, tzinfo=CST)


async def _world(client: Any, factory: Any, app: Any) -> dict[str, Any]:
    a = await factory.channel("A", "sa")
    b = await factory.channel("=B", "sb")
    admin = await factory.user("admin")
    x = await factory.user("agent", name="Agent X")
    y = await factory.user("agent", name="Agent Y")
    r = await client.patch(
        f"/api/v1/channels/{b['id']}", json={"first_response_minutes": 1}, headers=admin["headers"]
    )
    assert r.status_code == 200
    # (channel, created, agent, in, out, first response s, resolution s, csat)
    rows = [
        (a, _at(2, 10), x, 3, 2, 60, 3600, 5),
        (a, _at(2, 11), x, 1, 1, 400, 7200, 2),
        (a, _at(3, 9), y, 2, 1, 120, None, None),
        (b, _at(3, 23, 30), y, 1, 3, 30, 600, 4),
        # 00:30 on the 4th in China is still the 3rd in UTC: counted on the 4th.
        (b, _at(4, 0, 30), None, 2, 0, None, None, None),
        (a, _at(5, 0, 0), x, 1, 1, 10, 10, 1),  # on `until`: outside the range
    ]
    for i, (ch, created, agent, n_in, n_out, first, resolution, score) in enumerate(rows):
        await push(client, ch, {"id": f"m{i}", "from": f"u{i}", "text": "你好"})
        async with app.state.services.db.session() as session:
            await session.execute(
                update(ConversationFacts)
                .where(ConversationFacts.conversation_id == i + 1)
                .values(
                    created_at=created,
                    messages_in=n_in,
                    messages_out=n_out,
                    first_response_business_s=first,
                    first_response_s=first,
                    first_response_agent_id=agent["id"] if agent else None,
                    resolution_s=resolution,
                    csat_score=score,
                )
            )
    return {"a": a, "b": b, "admin": admin, "x": x, "y": y}


def _strip(item: dict[str, Any]) -> tuple[Any, ...]:
    return (
        item["group"],
        item["conversations"],
        item["messages_in"],
        item["messages_out"],
        item["first_response_p50_s"],
        item["first_response_p90_s"],
        item["first_response_within_target"],
        item["resolution_p50_s"],
        item["resolved"],
        item["csat_responses"],
        item["csat_score"],
    )


def test_percentile_nearest_rank() -> None:
    assert percentile([], 0.5) is None
    assert percentile([7], 0.9) == 7
    assert percentile([1, 2, 3, 4], 0.5) == 2
    assert percentile(list(range(1, 11)), 0.9) == 9
    assert percentile(list(range(1, 12)), 0.9) == 10


async def test_by_day_agent_channel(client: Any, factory: Any, app: Any) -> None:
    w = await _world(client, factory, app)
    h = w["admin"]["headers"]
    r = await client.get(f"/api/v1/reports/service?{RANGE}&by=day", headers=h)
    assert r.status_code == 200, r.text
    assert [_strip(i) for i in r.json()["items"]] == [
        ("2026-11-02", 2, 4, 3, 60, 400, 0.5, 3600, 2, 2, 0.5),
        ("2026-11-03", 2, 3, 4, 30, 120, 1.0, 600, 1, 1, 1.0),
        ("2026-11-04", 1, 2, 0, None, None, None, None, 0, 0, None),
    ]
    assert r.json()["total"]["conversations"] == 5
    r = await client.get(f"/api/v1/reports/service?{RANGE}&by=agent", headers=h)
    assert [_strip(i) for i in r.json()["items"]] == [
        ("Agent X", 2, 4, 3, 60, 400, 0.5, 3600, 2, 2, 0.5),
        ("Agent Y", 2, 3, 4, 30, 120, 1.0, 600, 1, 1, 1.0),
        (None, 1, 2, 0, None, None, None, None, 0, 0, None),
    ]
    r = await client.get(f"/api/v1/reports/service?{RANGE}&by=channel", headers=h)
    assert [_strip(i) for i in r.json()["items"]] == [
        ("=B", 2, 3, 3, 30, 30, 1.0, 600, 1, 1, 1.0),
        ("A", 3, 6, 4, 120, 400, 0.6667, 3600, 2, 2, 0.5),
    ]
    # An agent sees their own figures only; a supervisor everyone's.
    r = await client.get(f"/api/v1/reports/service?{RANGE}&by=channel", headers=w["x"]["headers"])
    assert [_strip(i) for i in r.json()["items"]] == [
        ("A", 2, 4, 3, 60, 400, 0.5, 3600, 2, 2, 0.5),
    ]
    sup = await factory.user("supervisor")
    r = await client.get(f"/api/v1/reports/service?{RANGE}", headers=sup["headers"])
    assert r.json()["total"]["conversations"] == 5


async def test_csv_is_the_same_and_neutralised(client: Any, factory: Any, app: Any) -> None:
    w = await _world(client, factory, app)
    r = await client.get(
        f"/api/v1/reports/service?{RANGE}&by=channel&format=csv", headers=w["admin"]["headers"]
    )
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/csv")
    rows = list(csv.reader(io.StringIO(r.text)))
    assert rows[0][:3] == ["group", "conversations", "messages_in"]
    assert rows[1] == ["'=B", "2", "3", "3", "30", "30", "1.0", "600", "1", "1", "1.0"]
    assert rows[2][0] == "A" and rows[2][6] == "0.6667"


@pytest.mark.parametrize(
    ("query", "status"),
    [
        ("since=2026-11-05&until=2026-11-02", 400),
        ("since=2026-11-05&until=2026-11-05", 400),
        ("since=2024-01-01&until=2026-01-02", 400),
        ("since=2024-01-01&until=2026-01-01", 200),
        ("since=yesterday", 400),
        ("since=2026-11-02T10:00:00%2B08:00&until=2026-11-02T10:30:00", 200),
        ("by=week", 422),
        ("format=xml", 422),
    ],
)
async def test_bad_ranges(client: Any, factory: Any, query: str, status: int) -> None:
    admin = await factory.user("admin")
    r = await client.get(f"/api/v1/reports/service?{query}", headers=admin["headers"])
    assert r.status_code == status, r.text


async def test_time_range_edges(client: Any, factory: Any, app: Any) -> None:
    w = await _world(client, factory, app)
    # since inclusive, until exclusive, naive times in the workspace zone.
    r = await client.get(
        "/api/v1/reports/service?since=2026-11-02T10:00:00&until=2026-11-02T11:00:00",
        headers=w["admin"]["headers"],
    )
    assert r.json()["total"]["conversations"] == 1
    assert r.json()["total"]["first_response_p50_s"] == 60
