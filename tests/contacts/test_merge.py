"""Merge two customers and undo it exactly; both audited."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import select

from app.contacts.calendar import today
from app.models import AuditLog
from tests.conftest import push


async def _snapshot(client: Any, cid: int, h: dict[str, str]) -> dict[str, Any]:
    c = (await client.get(f"/api/v1/contacts/{cid}", headers=h)).json()
    orders = (await client.get(f"/api/v1/contacts/{cid}/orders", headers=h)).json()["items"]
    tasks = (await client.get(f"/api/v1/tasks?contact_id={cid}", headers=h)).json()["items"]
    return {
        "identities": sorted(i["external_id"] for i in c["identities"]),
        "conversations": sorted(x["id"] for x in c["conversations"]),
        "orders": sorted(o["order_no"] for o in orders),
        "tasks": sorted(t["id"] for t in tasks),
        "dates": [(d["label"], d["month"], d["day"]) for d in c["important_dates"]],
        "owner": c["owner"],
    }


async def test_merge_and_unmerge_restore_exactly(client: Any, factory: Any, app: Any) -> None:
    a_ch, b_ch = await factory.channel("A", "sa"), await factory.channel("B", "sb")
    await push(
        client,
        a_ch,
        {"id": "m1", "from": "wx-1", "name": "<img src=x onerror=alert(1)>", "text": "hi"},
    )
    await push(client, b_ch, {"id": "m2", "from": "dy-1", "name": "李四", "text": "hello"})
    sup = await factory.user("supervisor")
    h = sup["headers"]
    items = (await client.get("/api/v1/contacts", headers=h)).json()["items"]
    by_name = {c["name"]: c["id"] for c in items}
    a, b = by_name["<img src=x onerror=alert(1)>"], by_name["李四"]
    soon = today() + timedelta(days=4)
    await client.patch(
        f"/api/v1/contacts/{b}",
        json={"important_dates": [{"label": "生日", "month": soon.month, "day": soon.day}]},
        headers=h,
    )
    await client.post(
        f"/api/v1/contacts/{b}/orders",
        json={"order_no": "B-1", "ordered_at": "2026-11-01", "amount": "10", "items": []},
        headers=h,
    )
    await client.post(
        "/api/v1/tasks",
        json={"contact_id": b, "title": "call", "due_at": datetime.now(UTC).isoformat()},
        headers=h,
    )
    before_a, before_b = await _snapshot(client, a, h), await _snapshot(client, b, h)
    assert len(before_b["tasks"]) == 2  # the care task and the manual one

    r = await client.post(f"/api/v1/contacts/{a}/merge", json={"other_id": a}, headers=h)
    assert r.status_code == 400
    r = await client.post(f"/api/v1/contacts/{a}/merge", json={"other_id": b}, headers=h)
    assert r.status_code == 200, r.text
    merge_id = r.json()["merge_id"]
    merged = await _snapshot(client, a, h)
    assert merged["identities"] == sorted(before_a["identities"] + before_b["identities"])
    assert merged["orders"] == ["B-1"]
    assert merged["tasks"] == sorted(before_a["tasks"] + before_b["tasks"])
    assert merged["dates"] == before_b["dates"]
    listed = [c["id"] for c in (await client.get("/api/v1/contacts", headers=h)).json()["items"]]
    assert listed == [a]
    # the merged-away customer is no longer addressable: a second merge finds nothing
    r = await client.post(f"/api/v1/contacts/{a}/merge", json={"other_id": b}, headers=h)
    assert r.status_code == 404

    r = await client.post(f"/api/v1/contacts/{a}/unmerge", json={"merge_id": merge_id}, headers=h)
    assert r.status_code == 200, r.text
    assert await _snapshot(client, a, h) == before_a
    assert await _snapshot(client, b, h) == before_b
    r = await client.post(f"/api/v1/contacts/{a}/unmerge", json={"merge_id": merge_id}, headers=h)
    assert r.status_code == 409
    async with app.state.services.db.session() as s:
        actions = list(
            await s.scalars(
                select(AuditLog.action).where(
                    AuditLog.action.in_(["contact.merged", "contact.unmerged"])
                )
            )
        )
    assert sorted(actions) == ["contact.merged", "contact.unmerged"]
