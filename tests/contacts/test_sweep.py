"""The sweep: due care tasks at the next occurrence, once per occasion, only due contacts."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

from sqlalchemy import func, select

from app.contacts.calendar import day_start, today
from app.contacts.sweep import sweep_once
from app.models import Contact, EventLog, Task
from tests.conftest import push


async def test_sweep_creates_care_task_when_date_comes_into_reach(
    client: Any, factory: Any, app: Any
) -> None:
    ch = await factory.channel("A", "sa")
    await push(client, ch, {"id": "m1", "from": "u1", "name": "王五", "text": "hi"})
    await push(client, ch, {"id": "m2", "from": "u2", "name": "赵六", "text": "hi"})
    agent = await factory.user("agent")
    h = agent["headers"]
    contacts = (await client.get("/api/v1/contacts", headers=h)).json()["items"]
    cid = contacts[0]["id"]
    far = today() + timedelta(days=40)
    r = await client.patch(
        f"/api/v1/contacts/{cid}",
        json={"important_dates": [{"label": "纪念日", "month": far.month, "day": far.day}]},
        headers=h,
    )
    assert r.status_code == 200
    db = app.state.services.db
    async with db.session() as s:
        assert await s.scalar(select(func.count()).select_from(Task)) == 0
        contact = await s.get(Contact, cid)
        assert contact is not None and contact.next_care_check_at == day_start(
            far - timedelta(days=10)
        )
    # nothing due now: no contact is even looked at
    assert await sweep_once(db) == {"contacts": 0, "tasks": 0}
    later = day_start(far - timedelta(days=5))
    # two workers sweeping at once make one task
    results = await asyncio.gather(sweep_once(db, later), sweep_once(db, later))
    assert sum(r["tasks"] for r in results) == 1
    assert await sweep_once(db, later) == {"contacts": 0, "tasks": 0}
    async with db.session() as s:
        task = await s.scalar(select(Task))
        assert task is not None and task.kind == "care" and task.contact_id == cid
        assert task.due_at == day_start(far - timedelta(days=3))
        contact = await s.get(Contact, cid)
        assert contact is not None and contact.next_care_check_at == day_start(
            far + timedelta(days=1)
        )
    # after the day, the next year's occurrence is checked again later
    after = day_start(far + timedelta(days=1))
    assert (await sweep_once(db, after))["tasks"] == 0
    async with db.session() as s:
        contact = await s.get(Contact, cid)
        assert contact is not None and contact.next_care_check_at is not None
        assert contact.next_care_check_at > after + timedelta(days=300)


async def _due_birthdays(app: Any, n: int, owner: int | None) -> None:
    soon = today() + timedelta(days=5)
    item = {"label": "生日", "month": soon.month, "day": soon.day, "calendar": "solar"}
    async with app.state.services.db.session() as s:
        s.add_all(
            Contact(
                name=f"客户{i}",
                owner_id=owner if i % 2 else None,
                important_dates=[item],
                next_care_check_at=day_start(today()) - timedelta(hours=1),
            )
            for i in range(n)
        )


async def _events(app: Any) -> list[tuple[str, Any]]:
    async with app.state.services.db.session() as s:
        return [(t, d) for t, d in await s.execute(select(EventLog.type, EventLog.data))]


async def test_a_big_sweep_announces_its_tasks_once(factory: Any, app: Any) -> None:
    agent = await factory.user("agent")
    await _due_birthdays(app, 250, agent["id"])
    # the sweep reads 200 contacts per transaction: the summary covers all batches
    assert await sweep_once(app.state.services.db) == {"contacts": 250, "tasks": 250}
    events = await _events(app)
    assert [t for t, _ in events if t.startswith("task.")] == ["task.bulk_created"]
    (summary,) = [d for t, d in events if t == "task.bulk_created"]
    assert summary == {
        "count": 250,
        "kinds": {"care": 250},
        "assignees": {str(agent["id"]): 125, "none": 125},
        "source": "sweep",
    }


async def test_a_small_sweep_announces_each_task(factory: Any, app: Any) -> None:
    agent = await factory.user("agent")
    await _due_birthdays(app, 200, agent["id"])  # the limit itself: still one by one
    assert (await sweep_once(app.state.services.db))["tasks"] == 200
    events = await _events(app)
    created = [d for t, d in events if t == "task.created"]
    assert len(created) == 200 and not [t for t, _ in events if t == "task.bulk_created"]
    assert {d["kind"] for d in created} == {"care"}
    async with app.state.services.db.session() as s:
        ids = set(await s.scalars(select(Task.id)))
    assert {d["id"] for d in created} == ids


async def test_a_big_import_announces_its_warranty_tasks_once(
    client: Any, factory: Any, app: Any
) -> None:
    sup = await factory.user("supervisor")
    async with app.state.services.db.session() as s:
        s.add(Contact(name="老客户", phone="13800000001"))
    bought = today() - timedelta(days=10)
    rows = [f"W-{n},{bought.isoformat()},10,配件{n},1,12,13800000001" for n in range(1, 202)]
    body = "order_no,ordered_at,amount,item,quantity,warranty_months,phone\n" + "\n".join(rows)
    r = await client.post("/api/v1/orders/import", content=body.encode(), headers=sup["headers"])
    assert r.status_code == 200 and r.json()["created"] == 201, r.text
    events = await _events(app)
    assert [t for t, _ in events if t.startswith("task.")] == ["task.bulk_created"]
    (summary,) = [d for t, d in events if t == "task.bulk_created"]
    assert summary == {
        "count": 201,
        "kinds": {"warranty": 201},
        "assignees": {"none": 201},
        "source": "import",
    }
