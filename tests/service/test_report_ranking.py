"""The service report's ranking on each database against a plain reference computation.

PostgreSQL ranks in SQL (`percentile_disc`, `ROLLUP` for the total); SQLite hands each
group's values over and the total is ranked across the groups' sorted runs. Both must
give what sorting every group's values by hand gives (nearest rank), on random facts
with ties, NULLs, empty groups and rows outside the range.
"""

from __future__ import annotations

import math
import random
from collections import defaultdict
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import event, select, update

from app.models import ConversationFacts
from app.service.reports import FIELDS, percentile, percentile_of_runs
from tests.conftest import push

CST = ZoneInfo("Asia/Shanghai")
SINCE, UNTIL = datetime(2026, 11, 2, tzinfo=CST), datetime(2026, 11, 5, tzinfo=CST)


def _nearest_rank(values: list[int], p: float) -> int | None:
    """The definition, written out: the value at rank ceil(p x n) of the sorted values."""
    if not values:
        return None
    return sorted(values)[max(1, math.ceil(p * len(values))) - 1]


def test_percentile_of_runs_hand_worked() -> None:
    runs = [[1, 5, 9], [2, 3], [], [7]]  # all: 1 2 3 5 7 9
    assert percentile_of_runs(runs, 0.5) == 3  # rank 3 of 6
    assert percentile_of_runs(runs, 0.9) == 9  # rank ceil(5.4) = 6
    assert percentile_of_runs([[4, 4, 4], [4]], 0.5) == 4
    assert percentile_of_runs([[], []], 0.5) is None
    assert percentile_of_runs([[0, 0, 10**9]], 0.9) == 10**9


def test_percentile_of_runs_is_the_rank_of_all_values() -> None:
    rng = random.Random(16)
    for _ in range(300):
        runs = [
            sorted(
                rng.choice([5, 60, 61, 300]) if rng.random() < 0.3 else rng.randint(0, 5000)
                for _ in range(rng.randint(0, 12))
            )
            for _ in range(rng.randint(1, 9))
        ]
        everything = sorted(v for run in runs for v in run)
        for p in (0.5, 0.9):
            assert percentile_of_runs(runs, p) == percentile(everything, p)
            assert percentile(everything, p) == _nearest_rank(everything, p)


async def _random_world(client: Any, factory: Any, app: Any) -> dict[str, Any]:
    rng = random.Random(1604)
    a = await factory.channel("A", "sa")
    b = await factory.channel("B", "sb")
    admin = await factory.user("admin")
    agents = [await factory.user("agent", name=f"Agent {i}") for i in range(3)]
    r = await client.patch(
        f"/api/v1/channels/{b['id']}", json={"first_response_minutes": 1}, headers=admin["headers"]
    )
    assert r.status_code == 200
    rows = []
    for i in range(48):
        channel = a if i % 3 else b
        assert (
            await push(client, channel, {"id": f"m{i}", "from": f"u{i}", "text": "在吗"})
        ).status_code == 200
        # Mostly inside the range (three local days), some just outside either end.
        created = SINCE + timedelta(minutes=rng.randint(-120, 3 * 1440 + 120))
        first = None if rng.random() < 0.2 else rng.choice([30, 60, 61, 300, rng.randint(0, 900)])
        rows.append(
            {
                "conversation_id": i + 1,
                "created_at": created.astimezone(UTC),
                "messages_in": rng.randint(1, 6),
                "messages_out": rng.randint(0, 4),
                "first_response_business_s": first,
                "first_response_s": first,
                "first_response_agent_id": (None if first is None else rng.choice(agents)["id"]),
                "resolution_s": None
                if rng.random() < 0.3
                else rng.choice([600, rng.randint(1, 9000)]),
                "csat_score": rng.choice([None, None, 1, 2, 3, 4, 5]),
            }
        )
    async with app.state.services.db.session() as session:
        for row in rows:
            values = {k: v for k, v in row.items() if k != "conversation_id"}
            await session.execute(
                update(ConversationFacts)
                .where(ConversationFacts.conversation_id == row["conversation_id"])
                .values(**values)
            )
        channel_of = dict(
            (
                await session.execute(
                    select(ConversationFacts.conversation_id, ConversationFacts.channel_id)
                )
            ).all()
        )
    for row in rows:
        row["channel_id"] = channel_of[row["conversation_id"]]
    return {
        "rows": rows,
        "admin": admin,
        "agents": agents,
        "targets": {a["id"]: 300, b["id"]: 60},
    }


def _reference(
    rows: list[dict[str, Any]], targets: dict[int, int], by: str
) -> dict[Any, tuple[Any, ...]]:
    groups: dict[Any, list[dict[str, Any]]] = defaultdict(list)
    for row in rows:
        if not SINCE <= row["created_at"] < UNTIL:
            continue
        key = {
            "day": row["created_at"].astimezone(CST).date().isoformat(),
            "agent": row["first_response_agent_id"],
            "channel": row["channel_id"],
        }[by]
        groups[key].append(row)
        groups["total"].append(row)
    out = {}
    for key, members in groups.items():
        firsts = [
            m["first_response_business_s"]
            for m in members
            if m["first_response_business_s"] is not None
        ]
        within = sum(
            1
            for m in members
            if m["first_response_business_s"] is not None
            and m["first_response_business_s"] <= targets[m["channel_id"]]
        )
        done = [m["resolution_s"] for m in members if m["resolution_s"] is not None]
        rated = [m["csat_score"] for m in members if m["csat_score"] is not None]
        out[key] = (
            len(members),
            sum(m["messages_in"] for m in members),
            sum(m["messages_out"] for m in members),
            _nearest_rank(firsts, 0.5),
            _nearest_rank(firsts, 0.9),
            round(within / len(firsts), 4) if firsts else None,
            _nearest_rank(done, 0.5),
            len(done),
            len(rated),
            round(sum(1 for s in rated if s >= 4) / len(rated), 4) if rated else None,
        )
    return out


def _figures(item: dict[str, Any]) -> tuple[Any, ...]:
    return tuple(item[name] for name in FIELDS if name != "group")


@pytest.mark.parametrize("by", ["day", "agent", "channel"])
async def test_report_matches_the_reference(client: Any, factory: Any, app: Any, by: str) -> None:
    w = await _random_world(client, factory, app)
    r = await client.get(
        f"/api/v1/reports/service?since=2026-11-02&until=2026-11-05&by={by}",
        headers=w["admin"]["headers"],
    )
    assert r.status_code == 200, r.text
    body = r.json()
    expected = _reference(w["rows"], w["targets"], by)
    got = {
        (item["group"] if by == "day" else item["group_id"]): _figures(item)
        for item in body["items"]
        if item["conversations"]
    }
    got["total"] = _figures(body["total"])
    assert got == expected
    assert len(expected) >= 3 and expected["total"][0] < len(w["rows"])  # some rows left out
    # An agent's own figures: the same ranking over their conversations only.
    agent = w["agents"][1]
    r = await client.get(
        f"/api/v1/reports/service?since=2026-11-02&until=2026-11-05&by={by}",
        headers=agent["headers"],
    )
    body = r.json()
    mine = [row for row in w["rows"] if row["first_response_agent_id"] == agent["id"]]
    got = {
        (item["group"] if by == "day" else item["group_id"]): _figures(item)
        for item in body["items"]
        if item["conversations"]
    }
    got["total"] = _figures(body["total"])
    assert got == _reference(mine, w["targets"], by)
    assert 0 < got["total"][0] < expected["total"][0]


async def test_sqlite_report_reads_only_the_covering_index(
    client: Any, factory: Any, app: Any
) -> None:
    """Every column the report reads is in `ix_conversation_facts_report`: a column added to
    the report but not to the index would make a year's report read every table row."""
    db = app.state.services.db
    if db.is_postgres:
        pytest.skip("SQLite's plan (PostgreSQL reads the table: its covering index is empty)")
    w = await _random_world(client, factory, app)
    seen: list[tuple[str, Any]] = []

    def capture(_conn: Any, _cursor: Any, statement: str, parameters: Any, *_: Any) -> None:
        if "conversation_facts" in statement and "group_concat" in statement:
            seen.append((statement, parameters))

    event.listen(db.engine.sync_engine, "before_cursor_execute", capture)
    try:
        for by in ("day", "agent", "channel"):
            r = await client.get(
                f"/api/v1/reports/service?since=2026-11-02&until=2026-11-05&by={by}",
                headers=w["admin"]["headers"],
            )
            assert r.status_code == 200
    finally:
        event.remove(db.engine.sync_engine, "before_cursor_execute", capture)
    assert len(seen) == 3
    async with db.session() as session:
        conn = await session.connection()
        for statement, parameters in seen:
            plan = await conn.exec_driver_sql(f"EXPLAIN QUERY PLAN {statement}", parameters)
            details = " | ".join(str(row[-1]) for row in plan)
            assert "USING COVERING INDEX ix_conversation_facts_report" in details, details
    # The check can fail: a column outside the index needs the table.
    async with db.session() as session:
        conn = await session.connection()
        plan = await conn.exec_driver_sql(
            "EXPLAIN QUERY PLAN SELECT count(csat_comment) FROM conversation_facts "
            "WHERE created_at >= '2026-11-01' AND created_at < '2026-11-05'"
        )
        assert "COVERING" not in " | ".join(str(row[-1]) for row in plan)


def test_sqlite_day_bounds_follow_the_zone_across_daylight_saving() -> None:
    """SQLite searches each local day's bounds: computed in the zone, 25 hours on the day
    clocks go back, clipped to the range at both ends."""
    from app.service.reports import Range, _day_bounds

    berlin = ZoneInfo("Europe/Berlin")
    span = Range(
        datetime(2026, 10, 24, 12, tzinfo=berlin).astimezone(UTC),
        datetime(2026, 10, 27, tzinfo=berlin).astimezone(UTC),
        berlin,
    )
    bounds = _day_bounds(span)
    assert [day for day, _, _ in bounds] == ["2026-10-24", "2026-10-25", "2026-10-26"]
    assert bounds[0][1] == span.since  # clipped: the range starts at noon
    assert bounds[0][2] == datetime(2026, 10, 24, 22, tzinfo=UTC)  # midnight, summer time
    assert bounds[1][2] - bounds[1][1] == timedelta(hours=25)
    assert bounds[2] == ("2026-10-26", datetime(2026, 10, 25, 23, tzinfo=UTC), span.until)
    assert all(end == nxt for (_, _, end), (_, nxt, _) in zip(bounds, bounds[1:], strict=False))
