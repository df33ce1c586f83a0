"""A full pass writes a batch's cadences and tasks in bulk: the same tasks and due dates
as one customer at a time, announced once at the end (one by one up to 200, else one
`task.bulk_created`), and nothing again on the next pass."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import select

from app.contacts.actions.followup import TIER_FOLLOW_UP_DAYS
from app.models import Contact, EventLog, Order, RetentionScore, Task, utcnow_for_models
from app.retention.worker import refresh_once


async def _buyers(app: Any, n: int, owner: int | None) -> list[int]:
    """`n` customers who bought 10 days ago (every one gets a tier), no conversation."""
    today = utcnow_for_models().date()
    async with app.state.services.db.session() as s:
        contacts = [Contact(name=f"客户{i}", owner_id=owner if i % 2 else None) for i in range(n)]
        s.add_all(contacts)
        await s.flush()
        s.add_all(
            Order(
                order_no=f"B{i}",
                contact_id=c.id,
                ordered_at=today - timedelta(days=10),
                amount=Decimal(10 + i),
            )
            for i, c in enumerate(contacts)
        )
        return [c.id for c in contacts]


async def _task_events(app: Any) -> list[tuple[str, Any]]:
    async with app.state.services.db.session() as s:
        rows = await s.execute(select(EventLog.type, EventLog.data).order_by(EventLog.seq))
        return [(t, d) for t, d in rows if t.startswith("task.")]


async def _check_cadences(app: Any, ids: list[int]) -> None:
    """Each customer: one open follow-up, due at creation + the tier's days, as the
    customer's next follow-up (no conversation: the first touch is the record's creation)."""
    async with app.state.services.db.session() as s:
        tasks = {
            t.contact_id: t for t in await s.scalars(select(Task).where(Task.kind == "follow_up"))
        }
        assert sorted(tasks) == sorted(ids)
        for cid in ids:
            contact = await s.get(Contact, cid)
            row = await s.get(RetentionScore, cid)
            assert contact is not None and row is not None and row.tier is not None
            due = contact.created_at + timedelta(days=TIER_FOLLOW_UP_DAYS[row.tier])
            assert tasks[cid].due_at == due == contact.next_follow_up_at
            assert tasks[cid].status == "open" and tasks[cid].assignee_id == contact.owner_id
            assert tasks[cid].title == f"回访 客户{ids.index(cid)}"


async def test_a_big_first_pass_announces_its_tasks_once(
    factory: Any, app: Any, monkeypatch: Any
) -> None:
    from app.retention import actions

    monkeypatch.setattr(actions, "BATCH", 100)  # three batches, one summary
    agent = await factory.user("agent")
    ids = await _buyers(app, 250, agent["id"])
    db = app.state.services.db
    assert await refresh_once(db, utcnow_for_models(), full=True) == 250
    await _check_cadences(app, ids)
    events = await _task_events(app)
    assert [t for t, _ in events] == ["task.bulk_created"]
    assert events[0][1] == {
        "count": 250,
        "kinds": {"follow_up": 250},
        "assignees": {str(agent["id"]): 125, "none": 125},
        "source": "retention",
    }
    # the next pass changes no tier: no task made, moved or announced
    assert await refresh_once(db, utcnow_for_models(), full=True) == 250
    await _check_cadences(app, ids)
    assert len(await _task_events(app)) == 1


async def test_a_small_first_pass_announces_each_task(
    factory: Any, app: Any, monkeypatch: Any
) -> None:
    from app.retention import actions

    monkeypatch.setattr(actions, "BATCH", 2)
    ids = await _buyers(app, 3, None)
    assert await refresh_once(app.state.services.db, utcnow_for_models(), full=True) == 3
    await _check_cadences(app, ids)
    events = await _task_events(app)
    assert [t for t, _ in events] == ["task.created"] * 3
    assert sorted(d["contact"]["id"] for _, d in events) == ids
    assert {d["kind"] for _, d in events} == {"follow_up"}


async def test_tasks_made_in_bulk_skip_an_occasion_already_tasked(app: Any) -> None:
    from app.contacts.actions.task_events import create_tasks

    (cid,) = await _buyers(app, 1, None)
    now = utcnow_for_models()

    def row(key: str) -> dict[str, Any]:
        return {
            "kind": "at_risk",
            "title": "客户流失风险",
            "contact_id": cid,
            "due_at": now,
            "assignee_id": None,
            "occasion_key": key,
        }

    async with app.state.services.db.session() as s:
        (first,) = await create_tasks(s, [row("k1")], "retention")
    async with app.state.services.db.session() as s:
        made = await create_tasks(s, [row("k1"), row("k2"), row("k1")], "retention")
        assert len(made) == 1 and first not in made
    async with app.state.services.db.session() as s:
        keys = sorted(k for k in await s.scalars(select(Task.occasion_key)) if k)
        assert keys == ["k1", "k2"]
    assert [t for t, _ in await _task_events(app)] == ["task.created"] * 2
