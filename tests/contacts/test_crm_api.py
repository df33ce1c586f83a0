"""Customer record API (CONTRACT section 8): owner, tasks, dates, follow-up, orders."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

from sqlalchemy import func, select

from app.contacts.calendar import BUSINESS_TZ, next_occurrence, today
from app.models import AuditLog, Contact, EventLog, Order, Task
from tests.conftest import push


async def _world(client: Any, factory: Any) -> dict[str, Any]:
    ch = await factory.channel("A", "sa")
    await push(client, ch, {"id": "m1", "from": "u1", "name": "张三", "text": "在吗"})
    w = {
        "ch": ch,
        "admin": await factory.user("admin"),
        "sup": await factory.user("supervisor"),
        "agent": await factory.user("agent"),
        "agent2": await factory.user("agent"),
    }
    convs = (await client.get("/api/v1/conversations", headers=w["admin"]["headers"])).json()
    w["conv"] = convs["items"][0]
    w["contact_id"] = w["conv"]["contact"]["id"]
    return w


async def _events(app: Any, type: str) -> list[dict[str, Any]]:
    async with app.state.services.db.session() as s:
        rows = await s.scalars(select(EventLog).where(EventLog.type == type).order_by(EventLog.seq))
        return [r.data for r in rows]


async def test_first_reply_makes_owner_and_filters(client: Any, factory: Any, app: Any) -> None:
    w = await _world(client, factory)
    cid, h = w["contact_id"], w["agent"]["headers"]
    r = await client.get("/api/v1/contacts?owner=none", headers=h)
    assert [c["id"] for c in r.json()["items"]] == [cid]
    assert r.json()["items"][0]["owner"] is None
    # a private note does not make an owner
    conv = w["conv"]["id"]
    await client.post(
        f"/api/v1/conversations/{conv}/messages", json={"content": "n", "private": True}, headers=h
    )
    assert (await client.get(f"/api/v1/contacts/{cid}", headers=h)).json()["owner"] is None
    r = await client.post(
        f"/api/v1/conversations/{conv}/messages", json={"content": "您好"}, headers=h
    )
    assert r.status_code in (200, 201)
    detail = (await client.get(f"/api/v1/contacts/{cid}", headers=h)).json()
    assert detail["owner"] == {"id": w["agent"]["id"], "name": w["agent"]["name"]}
    # the second replier does not take it over
    await client.post(
        f"/api/v1/conversations/{conv}/messages",
        json={"content": "x"},
        headers=w["agent2"]["headers"],
    )
    r = await client.get("/api/v1/contacts?owner=me", headers=h)
    assert [c["id"] for c in r.json()["items"]] == [cid]
    r = await client.get(f"/api/v1/contacts?owner={w['agent2']['id']}", headers=h)
    assert r.json()["items"] == []
    assert (await client.get("/api/v1/contacts?owner=none", headers=h)).json()["items"] == []
    assert await _events(app, "contact.updated")


async def test_owner_permissions(client: Any, factory: Any) -> None:
    w = await _world(client, factory)
    cid = w["contact_id"]
    url = f"/api/v1/contacts/{cid}"

    async def owner() -> int | None:
        found = (await client.get(url, headers=w["sup"]["headers"])).json()["owner"]
        return found["id"] if found else None

    # an agent cannot give a customer to someone else
    r = await client.patch(url, json={"owner_id": w["agent2"]["id"]}, headers=w["agent"]["headers"])
    assert r.status_code == 403
    r = await client.patch(url, json={"owner_id": w["agent"]["id"]}, headers=w["agent"]["headers"])
    assert r.status_code == 200 and await owner() == w["agent"]["id"]
    # ... nor take one that has an owner
    r = await client.patch(
        url, json={"owner_id": w["agent2"]["id"]}, headers=w["agent2"]["headers"]
    )
    assert r.status_code == 403
    r = await client.patch(url, json={"owner_id": w["agent2"]["id"]}, headers=w["sup"]["headers"])
    assert r.status_code == 200 and await owner() == w["agent2"]["id"]
    r = await client.patch(url, json={"owner_id": 99999}, headers=w["sup"]["headers"])
    assert r.status_code == 400
    r = await client.patch(url, json={"owner_id": None}, headers=w["sup"]["headers"])
    assert r.status_code == 200 and await owner() is None


async def test_manual_task_lifecycle_and_events(client: Any, factory: Any, app: Any) -> None:
    w = await _world(client, factory)
    cid, h = w["contact_id"], w["agent"]["headers"]
    await client.patch(f"/api/v1/contacts/{cid}", json={"owner_id": w["agent"]["id"]}, headers=h)
    now = datetime.now(UTC)
    r = await client.post(
        "/api/v1/tasks",
        json={
            "contact_id": cid,
            "title": "<b>回电</b>",
            "due_at": (now - timedelta(days=2)).isoformat(),
        },
        headers=h,
    )
    assert r.status_code == 201, r.text
    task = r.json()
    assert task["kind"] == "manual" and task["assignee"]["id"] == w["agent"]["id"]
    assert task["title"] == "<b>回电</b>" and task["status"] == "open"
    assert task["reach"] in ("open_window", "closed")
    r = await client.get("/api/v1/tasks?assignee=me&due=overdue", headers=h)
    assert [t["id"] for t in r.json()["items"]] == [task["id"]]
    assert (await client.get("/api/v1/tasks?assignee=me&due=today", headers=h)).json()[
        "items"
    ] == []
    assert (await client.get("/api/v1/tasks/counts", headers=h)).json()["overdue"] == 1
    # snooze into the past is refused; into tomorrow moves it out of overdue
    r = await client.post(
        f"/api/v1/tasks/{task['id']}/snooze",
        json={"until": (now - timedelta(hours=1)).isoformat()},
        headers=h,
    )
    assert r.status_code == 400
    until = now + timedelta(days=1)
    r = await client.post(
        f"/api/v1/tasks/{task['id']}/snooze", json={"until": until.isoformat()}, headers=h
    )
    assert r.status_code == 200
    assert (await client.get("/api/v1/tasks?due=overdue", headers=h)).json()["items"] == []
    r = await client.post(
        f"/api/v1/tasks/{task['id']}/complete", json={"outcome": "已回电"}, headers=h
    )
    assert r.json()["status"] == "done" and r.json()["outcome"] == "已回电"
    r = await client.post(f"/api/v1/tasks/{task['id']}/cancel", headers=h)
    assert r.status_code == 409
    done = (await client.get("/api/v1/tasks?status=done", headers=h)).json()["items"]
    assert [t["id"] for t in done] == [task["id"]]
    assert len(await _events(app, "task.created")) == 1
    assert [e["status"] for e in await _events(app, "task.updated")] == ["open", "done"]
    r = await client.post(
        "/api/v1/tasks",
        json={"contact_id": cid, "title": "x", "due_at": "2026-01-01T00:00:00"},
        headers=h,
    )
    assert r.status_code == 400
    r = await client.post(
        "/api/v1/tasks",
        json={"contact_id": 9999, "title": "x", "due_at": now.isoformat()},
        headers=h,
    )
    assert r.status_code == 404


async def test_follow_up_cadence(client: Any, factory: Any, app: Any) -> None:
    w = await _world(client, factory)
    cid, h = w["contact_id"], w["agent"]["headers"]
    r = await client.patch(f"/api/v1/contacts/{cid}", json={"follow_up_days": 0}, headers=h)
    assert r.status_code == 422
    r = await client.patch(f"/api/v1/contacts/{cid}", json={"follow_up_days": 7}, headers=h)
    assert r.status_code == 200
    tasks = (await client.get(f"/api/v1/tasks?contact_id={cid}&kind=follow_up", headers=h)).json()[
        "items"
    ]
    assert len(tasks) == 1
    async with app.state.services.db.session() as s:
        contact = await s.get(Contact, cid)
        assert contact is not None
        first = contact.created_at
    due = datetime.fromisoformat(tasks[0]["due_at"])
    # no reply yet: last touch is the first interaction (the conversation's start)
    assert abs(due - (first + timedelta(days=7))) < timedelta(seconds=5)
    # an agent reply moves it; still one open follow-up
    await client.post(
        f"/api/v1/conversations/{w['conv']['id']}/messages", json={"content": "hi"}, headers=h
    )
    tasks2 = (await client.get(f"/api/v1/tasks?contact_id={cid}&kind=follow_up", headers=h)).json()[
        "items"
    ]
    assert [t["id"] for t in tasks2] == [tasks[0]["id"]]
    assert datetime.fromisoformat(tasks2[0]["due_at"]) > due
    r = await client.post(
        f"/api/v1/tasks/{tasks[0]['id']}/complete", json={"outcome": "  "}, headers=h
    )
    assert r.status_code == 400 and "outcome" in r.json()["detail"]
    r = await client.post(
        f"/api/v1/tasks/{tasks[0]['id']}/complete", json={"outcome": "满意"}, headers=h
    )
    assert r.status_code == 200
    nxt = (await client.get(f"/api/v1/tasks?contact_id={cid}&kind=follow_up", headers=h)).json()[
        "items"
    ]
    assert len(nxt) == 1 and nxt[0]["id"] != tasks[0]["id"]
    done_at = datetime.fromisoformat(r.json()["closed_at"])
    assert abs(
        datetime.fromisoformat(nxt[0]["due_at"]) - (done_at + timedelta(days=7))
    ) < timedelta(seconds=2)
    detail = (await client.get(f"/api/v1/contacts/{cid}", headers=h)).json()
    assert detail["follow_up_days"] == 7 and detail["next_follow_up_at"]
    await client.patch(f"/api/v1/contacts/{cid}", json={"follow_up_days": None}, headers=h)
    assert (await client.get(f"/api/v1/tasks?contact_id={cid}&kind=follow_up", headers=h)).json()[
        "items"
    ] == []


async def test_important_dates(client: Any, factory: Any, app: Any) -> None:
    w = await _world(client, factory)
    cid, h = w["contact_id"], w["agent"]["headers"]
    url = f"/api/v1/contacts/{cid}"
    for bad in (
        {"label": "生日", "month": 2, "day": 31},
        {"label": "生日", "month": 13, "day": 1},
        {"label": "生日", "month": 2, "day": 29, "year": 2023},
        {"label": "生日", "month": 1, "day": 31, "calendar": "lunar"},
        {"label": "", "month": 1, "day": 1},
    ):
        r = await client.patch(url, json={"important_dates": [bad], "notes": "changed"}, headers=h)
        assert r.status_code == 400, bad
        assert "important_dates" in r.json()["detail"]
    # nothing stored from a refused request
    assert (await client.get(url, headers=h)).json()["notes"] == ""
    soon = today() + timedelta(days=2)
    dates = [
        {"label": "生日", "month": soon.month, "day": soon.day, "calendar": "solar", "year": None},
        {"label": "农历生日", "month": 8, "day": 15, "calendar": "lunar", "year": 1990},
    ]
    r = await client.patch(url, json={"important_dates": dates}, headers=h)
    assert r.status_code == 200, r.text
    care = (await client.get(f"/api/v1/tasks?contact_id={cid}&kind=care", headers=h)).json()[
        "items"
    ]
    birthday = [t for t in care if "生日 (" in t["title"]]
    assert len(birthday) == 1
    expected = datetime.combine(soon - timedelta(days=3), datetime.min.time(), BUSINESS_TZ)
    assert datetime.fromisoformat(birthday[0]["due_at"]) == expected
    detail = (await client.get(url, headers=h)).json()
    assert detail["important_dates"][0]["days"] == 2
    # the same dates again create nothing new; removing the date cancels its task
    await client.patch(url, json={"important_dates": dates}, headers=h)
    assert len(
        (await client.get(f"/api/v1/tasks?contact_id={cid}&kind=care", headers=h)).json()["items"]
    ) == len(care)
    await client.patch(url, json={"important_dates": []}, headers=h)
    assert (await client.get(f"/api/v1/tasks?contact_id={cid}&kind=care", headers=h)).json()[
        "items"
    ] == []


def test_lunar_and_leap_day_occurrences() -> None:
    # 中秋 (lunar 8/15) 2026 is 25 September; 2027 is 15 September.
    lunar = {"label": "x", "month": 8, "day": 15, "calendar": "lunar"}
    assert next_occurrence(lunar, date(2026, 9, 1)) == date(2026, 9, 25)
    assert next_occurrence(lunar, date(2026, 9, 26)) == date(2027, 9, 15)
    leap = {"label": "x", "month": 2, "day": 29, "calendar": "solar"}
    assert next_occurrence(leap, date(2027, 1, 1)) == date(2027, 2, 28)
    assert next_occurrence(leap, date(2028, 1, 1)) == date(2028, 2, 29)


async def test_orders_by_hand_and_warranty(client: Any, factory: Any, app: Any) -> None:
    w = await _world(client, factory)
    cid, h = w["contact_id"], w["agent"]["headers"]
    url = f"/api/v1/contacts/{cid}/orders"
    ordered = today() - timedelta(days=30)
    good = {
        "order_no": "A-1",
        "ordered_at": ordered.isoformat(),
        "amount": "199.50",
        "items": [{"name": '=HYPERLINK("x")', "quantity": 1, "warranty_months": 12}],
    }
    for bad, field in (
        ({**good, "amount": "-1"}, "amount"),
        ({k: v for k, v in good.items() if k != "order_no"}, "order_no"),
        ({**good, "ordered_at": "2026-02-31"}, "ordered_at"),
    ):
        r = await client.post(url, json=bad, headers=h)
        assert r.status_code == 400 and field in r.json()["detail"], r.text
    r = await client.post(url, json=good, headers=h)
    assert r.status_code == 201, r.text
    assert r.json()["items"][0]["name"] == '=HYPERLINK("x")'
    assert (await client.post(url, json=good, headers=h)).status_code == 409
    orders = (await client.get(url, headers=h)).json()["items"]
    assert [o["order_no"] for o in orders] == ["A-1"]
    warranty = (
        await client.get(f"/api/v1/tasks?contact_id={cid}&kind=warranty", headers=h)
    ).json()["items"]
    assert len(warranty) == 1
    detail = (await client.get(f"/api/v1/contacts/{cid}", headers=h)).json()
    assert detail["orders_total"] == "199.50"
    found = (await client.get("/api/v1/contacts?q=A-1", headers=h)).json()["items"]
    assert [c["id"] for c in found] == [cid]


CSV = (
    "order_no,ordered_at,amount,item,quantity,warranty_months,external_id,phone\n"
    "N-1,2026-11-01,100,电视,1,24,u1,\n"
    "N-1,2026-11-01,100,支架,1,,u1,\n"
    "N-2,2026-11-02,50,=cmd|' /C calc'!A0,2,,,13900000000\n"
)


async def test_csv_import_idempotent_and_unmatched(client: Any, factory: Any, app: Any) -> None:
    w = await _world(client, factory)
    h = w["sup"]["headers"]
    r = await client.post("/api/v1/orders/import", content=CSV.encode(), headers=h)
    assert r.status_code == 200, r.text
    assert r.json() == {"created": 2, "updated": 0, "unmatched": 1}
    r = await client.post("/api/v1/orders/import", content=CSV.encode(), headers=h)
    assert r.json() == {"created": 0, "updated": 0, "unmatched": 1}
    changed = CSV.replace("N-1,2026-11-01,100,电视", "N-1,2026-11-01,100,电视机")
    r = await client.post("/api/v1/orders/import", content=changed.encode(), headers=h)
    assert r.json()["updated"] == 1
    mine = (await client.get(f"/api/v1/contacts/{w['contact_id']}/orders", headers=h)).json()[
        "items"
    ]
    assert [o["order_no"] for o in mine] == ["N-1"] and len(mine[0]["items"]) == 2
    unmatched = (await client.get("/api/v1/orders?unmatched=true", headers=h)).json()["items"]
    assert [o["order_no"] for o in unmatched] == ["N-2"]
    assert unmatched[0]["match_keys"] == {"phone": "13900000000"}
    r = await client.patch(
        f"/api/v1/orders/{unmatched[0]['id']}", json={"contact_id": w["contact_id"]}, headers=h
    )
    assert r.status_code == 200 and r.json()["contact_id"] == w["contact_id"]
    assert (await client.get("/api/v1/orders?unmatched=true", headers=h)).json()["items"] == []
    r = await client.post(
        "/api/v1/orders/import", content=CSV.encode(), headers=w["agent"]["headers"]
    )
    assert r.status_code == 403


async def test_csv_import_refuses_bad_files_whole(client: Any, factory: Any, app: Any) -> None:
    w = await _world(client, factory)
    h = w["sup"]["headers"]
    bad = CSV + "N-3,2026-02-31,10,x,1,,u1,\nN-4,2026-01-01,-5,x,1,,u1,\n,2026-01-01,5,x,1,,u1,\n"
    r = await client.post("/api/v1/orders/import", content=bad.encode(), headers=h)
    assert r.status_code == 400
    rows = {e["row"]: e["detail"] for e in r.json()["errors"]}
    assert set(rows) == {5, 6, 7}
    assert "ordered_at" in rows[5] and "amount" in rows[6] and "order_no" in rows[7]
    r = await client.post("/api/v1/orders/import", content=CSV.encode("gbk"), headers=h)
    assert r.status_code == 400 and "UTF-8" in r.json()["detail"]
    r = await client.post("/api/v1/orders/import", content=b"order_no,amount\nX,1\n", headers=h)
    assert r.status_code == 400 and "ordered_at" in r.json()["detail"]
    async with app.state.services.db.session() as s:
        assert await s.scalar(select(func.count()).select_from(Order)) == 0


async def test_offboarding_hands_over_customers_and_tasks(
    client: Any, factory: Any, app: Any
) -> None:
    w = await _world(client, factory)
    cid, h = w["contact_id"], w["agent"]["headers"]
    await client.patch(f"/api/v1/contacts/{cid}", json={"owner_id": w["agent"]["id"]}, headers=h)
    r = await client.post(
        "/api/v1/tasks",
        json={"contact_id": cid, "title": "t", "due_at": datetime.now(UTC).isoformat()},
        headers=h,
    )
    task_id = r.json()["id"]
    r = await client.post(
        f"/api/v1/users/{w['agent']['id']}/deactivate",
        json={"reassign_to": w["agent2"]["id"]},
        headers=w["admin"]["headers"],
    )
    assert r.status_code == 200, r.text
    assert r.json()["customers"] == [cid] and r.json()["tasks"] == [task_id]
    h2 = w["agent2"]["headers"]
    assert [
        c["id"] for c in (await client.get("/api/v1/contacts?owner=me", headers=h2)).json()["items"]
    ] == [cid]
    assert [
        t["id"] for t in (await client.get("/api/v1/tasks?assignee=me", headers=h2)).json()["items"]
    ] == [task_id]
    async with app.state.services.db.session() as s:
        audit = await s.scalar(select(AuditLog).where(AuditLog.action == "user.deactivated"))
        assert audit is not None and audit.details["customers"] == [cid]
        assert await s.scalar(select(func.count()).select_from(Task)) == 1


async def test_customers_csv_export_neutralises_formulas(client: Any, factory: Any) -> None:
    ch = await factory.channel("A", "sa")
    await push(
        client, ch, {"id": "m1", "from": "u1", "name": '=HYPERLINK("http://x")', "text": "hi"}
    )
    await push(client, ch, {"id": "m2", "from": "u2", "name": "@SUM(A1)", "text": "hi"})
    sup, agent = await factory.user("supervisor"), await factory.user("agent")
    assert (
        await client.get("/api/v1/customers/export", headers=agent["headers"])
    ).status_code == 403
    r = await client.get("/api/v1/customers/export", headers=sup["headers"])
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/csv")
    lines = r.text.lstrip("\ufeff").splitlines()
    assert lines[0].startswith("id,name,phone")
    assert any(',"\'=HYPERLINK(""http://x"")",' in line for line in lines[1:]), lines
    assert any(",'@SUM(A1)," in line for line in lines[1:]), lines


async def test_mark_lost_and_back(client: Any, factory: Any, app: Any) -> None:
    w = await _world(client, factory)
    cid, h = w["contact_id"], w["agent"]["headers"]
    url = f"/api/v1/contacts/{cid}/lifecycle"
    r = await client.post(url, json={"lifecycle": "lost"}, headers=h)
    assert r.status_code == 400 and "reason" in r.json()["detail"]
    r = await client.post(url, json={"lifecycle": "gone", "reason": "x"}, headers=h)
    assert r.status_code == 400
    r = await client.post(url, json={"lifecycle": "lost", "reason": "买了别家的"}, headers=h)
    assert r.status_code == 200 and r.json()["lifecycle"] == "lost"
    assert r.json()["lost_reason"] == "买了别家的"
    lost = (await client.get("/api/v1/contacts?lifecycle=lost", headers=h)).json()["items"]
    assert [c["id"] for c in lost] == [cid]
    assert (await client.get("/api/v1/contacts?lifecycle=active", headers=h)).json()["items"] == []
    r = await client.post(url, json={"lifecycle": "active"}, headers=h)
    assert r.json()["lifecycle"] == "active" and r.json()["lost_reason"] is None
    async with app.state.services.db.session() as s:
        n = await s.scalar(
            select(func.count()).where(AuditLog.action == "contact.lifecycle_changed")
        )
    assert n == 2


async def test_marking_lost_alerts_the_owner(client: Any, factory: Any, app: Any) -> None:
    """Issue 17: a customer marked lost by an agent is a hard churn event: a `churned`
    task for the owner, announced as task.created; the owner marking it makes none."""
    w = await _world(client, factory)
    cid, owner = w["contact_id"], w["agent2"]
    async with app.state.services.db.session() as s:
        contact = await s.get(Contact, cid)
        assert contact is not None
        contact.owner_id = owner["id"]
    url = f"/api/v1/contacts/{cid}/lifecycle"
    body = {"lifecycle": "lost", "reason": "买了别家的"}
    r = await client.post(url, json=body, headers=w["agent"]["headers"])
    assert r.status_code == 200
    # The same again is no new event.
    await client.post(url, json=body, headers=w["agent"]["headers"])
    [task] = [e for e in await _events(app, "task.created") if e["kind"] == "churned"]
    assert task["assignee"]["id"] == owner["id"] and "买了别家的" in task["title"]
    await client.post(url, json={"lifecycle": "active"}, headers=owner["headers"])
    await client.post(url, json=body, headers=owner["headers"])
    churned = [e for e in await _events(app, "task.created") if e["kind"] == "churned"]
    assert len(churned) == 1
