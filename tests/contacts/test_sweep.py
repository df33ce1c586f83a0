"""The sweep: due care tasks at the next occurrence, once per occasion, only due contacts."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

from sqlalchemy import func, select

from app.contacts.calendar import day_start, today
from app.contacts.sweep import sweep_once
from app.models import Contact, Task
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
