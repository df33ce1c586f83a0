"""Invitation campaigns API (CONTRACT section 10): the state machine, tasks, capacity, bad input."""

from __future__ import annotations

import csv
import io
from datetime import UTC, date, datetime, timedelta
from typing import Any

from sqlalchemy import select

from app.campaigns.mix import segment_for
from app.contacts.calendar import BUSINESS_TZ, day_start
from app.models import (
    CampaignTransition,
    CannedReply,
    Contact,
    EventLog,
    HolidayDay,
    Order,
    Task,
)
from tests.conftest import push

# Thursday 17 December 2026, 14:00 in China.
STARTS = datetime(2026, 12, 17, 14, 0, tzinfo=BUSINESS_TZ)


async def _world(client: Any, factory: Any, app: Any, names: list[str]) -> dict[str, Any]:
    ch = await factory.channel("A", "sa")
    for n, name in enumerate(names):
        await push(client, ch, {"id": f"m{n}", "from": f"u{n}", "name": name, "text": "在吗"})
    w: dict[str, Any] = {"ch": ch, "agent": await factory.user("agent")}
    w["h"] = w["agent"]["headers"]
    async with app.state.services.db.session() as s:
        contacts = list(await s.scalars(select(Contact).order_by(Contact.id)))
        for c in contacts:
            c.owner_id = w["agent"]["id"]
        w["ids"] = [c.id for c in contacts]
    return w


async def _campaign(client: Any, h: dict[str, str], **over: Any) -> dict[str, Any]:
    body = {"title": "品鉴会", "starts_at": STARTS.isoformat(), "capacity": 2, "location": "门店"}
    r = await client.post("/api/v1/campaigns", json={**body, **over}, headers=h)
    assert r.status_code == 201, r.text
    return dict(r.json())


async def _move(client: Any, h: Any, camp: int, cid: int, state: str, note: str = "") -> Any:
    return await client.post(
        f"/api/v1/campaigns/{camp}/invitees/{cid}", json={"state": state, "note": note}, headers=h
    )


async def test_create_list_get_and_bad_input(client: Any, factory: Any, app: Any) -> None:
    w = await _world(client, factory, app, ["张三"])
    h = w["h"]
    camp = await _campaign(client, h)
    assert camp["counts"]["listed"] == 0 and camp["capacity"] == 2 and camp["location"] == "门店"
    assert camp["mix"]["suggested_ratio"] == {"new": 5, "returning": 2, "loyal": 1}
    listed = (await client.get("/api/v1/campaigns", headers=h)).json()
    assert [c["id"] for c in listed["items"]] == [camp["id"]]
    assert (await client.get(f"/api/v1/campaigns/{camp['id']}", headers=h)).json()[
        "title"
    ] == "品鉴会"
    assert (await client.get("/api/v1/campaigns/9999", headers=h)).status_code == 404
    past = (datetime.now(UTC) - timedelta(minutes=1)).isoformat()
    bad = [
        {"title": "x", "starts_at": past, "capacity": 5},
        {"title": "x", "starts_at": "2026-12-30T10:00:00", "capacity": 5},  # no time zone
        {"title": "   ", "starts_at": STARTS.isoformat(), "capacity": 5},
    ]
    for body in bad:
        r = await client.post("/api/v1/campaigns", json=body, headers=h)
        assert r.status_code == 400, (body, r.text)
        assert r.json()["detail"]
    for body in ({"title": "x", "starts_at": STARTS.isoformat(), "capacity": 0}, {"title": "x"}):
        assert (await client.post("/api/v1/campaigns", json=body, headers=h)).status_code == 422
    assert len((await client.get("/api/v1/campaigns", headers=h)).json()["items"]) == 1
    assert (await client.get("/api/v1/campaigns")).status_code == 401
    r = await client.patch(f"/api/v1/campaigns/{camp['id']}", json={"starts_at": past}, headers=h)
    assert r.status_code == 400


async def test_invite_tasks_due_on_previous_working_day_and_no_duplicates(
    client: Any, factory: Any, app: Any
) -> None:
    w = await _world(client, factory, app, ["张三", "李四"])
    h, ids = w["h"], w["ids"]
    # 3 days before Thursday 17 December is Monday 14; an admin marks it a holiday, so the
    # task moves past the weekend to Friday 11.
    async with app.state.services.db.session() as s:
        s.add(HolidayDay(day=date(2026, 12, 14), workday=False, name="test"))
    camp = await _campaign(client, h)
    url = f"/api/v1/campaigns/{camp['id']}/invitees"
    r = await client.post(url, json={"contact_ids": [ids[0], ids[0]]}, headers=h)
    assert r.status_code == 200, r.text
    assert r.json()["added"] == [ids[0]] and r.json()["already"] == []
    r = await client.post(url, json={"contact_ids": ids}, headers=h)
    assert r.json()["added"] == [ids[1]] and r.json()["already"] == [ids[0]]
    assert r.json()["campaign"]["counts"]["listed"] == 2
    r = await client.post(url, json={"contact_ids": [ids[0], 99999]}, headers=h)
    assert r.status_code == 400 and "99999" in r.json()["detail"]
    assert (await client.post(url, json={"contact_ids": []}, headers=h)).status_code == 422
    tasks = (await client.get("/api/v1/tasks?kind=invite", headers=h)).json()["items"]
    assert len(tasks) == 2
    assert {t["assignee"]["id"] for t in tasks} == {w["agent"]["id"]}
    due = {datetime.fromisoformat(t["due_at"].replace("Z", "+00:00")) for t in tasks}
    assert due == {day_start(date(2026, 12, 11))}
    async with app.state.services.db.session() as s:
        events = list(await s.scalars(select(EventLog).where(EventLog.type == "task.created")))
        assert len(events) == 2
    # Without the holiday, Monday 14 itself.
    camp2 = await _campaign(client, h, starts_at=STARTS.replace(day=18).isoformat())
    await client.post(
        f"/api/v1/campaigns/{camp2['id']}/invitees", json={"contact_ids": [ids[0]]}, headers=h
    )
    async with app.state.services.db.session() as s:
        task = await s.scalar(
            select(Task).where(Task.occasion_key == f"invite:{camp2['id']}:{ids[0]}")
        )
        assert task is not None and task.due_at == day_start(date(2026, 12, 15))


async def test_every_transition_capacity_and_history(client: Any, factory: Any, app: Any) -> None:
    w = await _world(client, factory, app, ["a", "b", "c", "d"])
    h, ids = w["h"], w["ids"]
    camp = await _campaign(client, h, capacity=2)
    cid = camp["id"]
    await client.post(f"/api/v1/campaigns/{cid}/invitees", json={"contact_ids": ids}, headers=h)
    a, b, c, d = ids
    # listed -> (not confirmed) 409 with the reason
    r = await _move(client, h, cid, a, "confirmed")
    assert r.status_code == 409 and "listed" in r.json()["detail"]
    assert (await _move(client, h, cid, a, "flying")).status_code == 400
    for x in ids:
        r = await _move(client, h, cid, x, "contacted", "电话")
        assert r.status_code == 200 and r.json()["state"] == "contacted"
    # the invite task is done once the customer is contacted
    assert (await client.get("/api/v1/tasks?kind=invite", headers=h)).json()["items"] == []
    r = await _move(client, h, cid, a, "confirmed")
    assert r.status_code == 200
    remind = (await client.get("/api/v1/tasks?kind=remind", headers=h)).json()["items"]
    assert len(remind) == 1 and remind[0]["contact"]["id"] == a
    assert datetime.fromisoformat(remind[0]["due_at"].replace("Z", "+00:00")) == day_start(
        date(2026, 12, 16)
    )
    assert (await _move(client, h, cid, b, "no_answer")).status_code == 200
    assert (await _move(client, h, cid, b, "confirmed")).status_code == 409
    assert (await _move(client, h, cid, b, "contacted")).status_code == 200
    assert (await _move(client, h, cid, b, "confirmed")).status_code == 200
    # the third confirmation is beyond capacity 2
    r = await _move(client, h, cid, c, "confirmed")
    assert r.status_code == 409 and "full" in r.json()["detail"]
    assert (await _move(client, h, cid, c, "declined")).status_code == 200
    assert (await _move(client, h, cid, c, "contacted")).status_code == 409  # final
    r = await client.patch(f"/api/v1/campaigns/{cid}", json={"capacity": 1}, headers=h)
    assert r.status_code == 409
    assert (await _move(client, h, cid, a, "attended")).status_code == 409  # not reminded yet
    assert (await _move(client, h, cid, a, "reminded")).status_code == 200
    assert (await client.get(f"/api/v1/tasks?kind=remind&contact_id={a}", headers=h)).json()[
        "items"
    ] == []
    assert (await _move(client, h, cid, b, "reminded")).status_code == 200
    assert (await _move(client, h, cid, a, "attended")).status_code == 200
    assert (await _move(client, h, cid, b, "no_show")).status_code == 200
    assert (await _move(client, h, cid, b, "attended")).status_code == 409
    assert (await _move(client, h, cid, 99999, "contacted")).status_code == 404
    got = (await client.get(f"/api/v1/campaigns/{cid}", headers=h)).json()
    assert got["counts"] == {
        "listed": 0,
        "contacted": 1,
        "confirmed": 0,
        "declined": 1,
        "no_answer": 0,
        "reminded": 0,
        "attended": 1,
        "no_show": 1,
    }
    assert got["funnel"] == {
        "listed": 4,
        "contacted": 4,
        "confirmed": 2,
        "reminded": 2,
        "attended": 1,
    }
    invitees = (await client.get(f"/api/v1/campaigns/{cid}/invitees", headers=h)).json()["items"]
    hist = {i["contact"]["id"]: [s["to_state"] for s in i["history"]] for i in invitees}
    assert hist[b] == [
        "listed",
        "contacted",
        "no_answer",
        "contacted",
        "confirmed",
        "reminded",
        "no_show",
    ]
    step = invitees[0]["history"][1]
    assert step["actor"]["id"] == w["agent"]["id"] and step["note"] == "电话" and step["at"]
    async with app.state.services.db.session() as s:
        n = len(list(await s.scalars(select(CampaignTransition))))
        assert n == 4 + 4 + 1 + 3 + 1 + 2 + 2
    assert (
        await client.get(f"/api/v1/campaigns/{cid}/invitees?state=bogus", headers=h)
    ).status_code == 400


async def test_csv_export_neutralises_formulas(client: Any, factory: Any, app: Any) -> None:
    w = await _world(client, factory, app, ['=HYPERLINK("http://x")', "@SUM(A1)", "王五"])
    h, ids = w["h"], w["ids"]
    camp = await _campaign(client, h, title="+cmd")
    await client.post(
        f"/api/v1/campaigns/{camp['id']}/invitees", json={"contact_ids": ids}, headers=h
    )
    r = await client.get(f"/api/v1/campaigns/{camp['id']}/export.csv", headers=h)
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/csv")
    rows = list(csv.reader(io.StringIO(r.text.lstrip("\ufeff"))))
    cells = [cell for row in rows for cell in row]
    assert not any(cell[:1] in "=+-@" and cell for cell in cells)
    assert '\'=HYPERLINK("http://x")' in cells and "'@SUM(A1)" in cells and "'+cmd" in cells
    assert ["funnel", "listed", "3"] in rows
    assert "王五" in cells


async def test_segments_and_mix(client: Any, factory: Any, app: Any) -> None:
    now = datetime.now(UTC)
    assert segment_for(0, now - timedelta(days=900), now) == "new"
    assert segment_for(5, now - timedelta(days=30), now) == "new"
    assert segment_for(1, now - timedelta(days=200), now) == "returning"
    assert segment_for(3, now - timedelta(days=200), now) == "returning"
    assert segment_for(3, now - timedelta(days=365), now) == "loyal"
    w = await _world(client, factory, app, ["a", "b", "c"])
    h, ids = w["h"], w["ids"]
    async with app.state.services.db.session() as s:
        old = now.date() - timedelta(days=400)
        for n in range(3):
            s.add(Order(order_no=f"L{n}", contact_id=ids[0], ordered_at=old, amount=10))
        s.add(Order(order_no="R1", contact_id=ids[1], ordered_at=old, amount=10))
    camp = await _campaign(client, h)
    r = await client.post(
        f"/api/v1/campaigns/{camp['id']}/invitees", json={"contact_ids": ids}, headers=h
    )
    mix = r.json()["campaign"]["mix"]
    assert (mix["new"], mix["returning"], mix["loyal"], mix["total"]) == (1, 1, 1, 3)


async def test_task_reach_opens_window_or_gives_phone(client: Any, factory: Any, app: Any) -> None:
    w = await _world(client, factory, app, ["<img src=x onerror=alert(1)>"])
    h, cid = w["h"], w["ids"][0]
    camp = await _campaign(client, h)
    await client.post(
        f"/api/v1/campaigns/{camp['id']}/invitees", json={"contact_ids": [cid]}, headers=h
    )
    (task,) = (await client.get("/api/v1/tasks?kind=invite", headers=h)).json()["items"]
    r = await client.get(f"/api/v1/campaigns/tasks/{task['id']}/reach", headers=h)
    out = r.json()
    assert out["reach"] == "open_window" and out["conversation_id"]
    assert (
        "品鉴会" in out["suggested_text"]
        and "<img src=x onerror=alert(1)>" in out["suggested_text"]
    )
    async with app.state.services.db.session() as s:
        s.add(
            CannedReply(
                owner_id=None, shortcut="邀约", content="{name}: {title} @ {location} {name"
            )
        )
    out = (await client.get(f"/api/v1/campaigns/tasks/{task['id']}/reach", headers=h)).json()
    assert out["suggested_text"] == "<img src=x onerror=alert(1)>: 品鉴会 @ 门店 {name"
    async with app.state.services.db.session() as s:
        contact = await s.get(Contact, cid)
        assert contact is not None
        contact.phone = "13800000000"
        from app.models import Conversation

        for conv in await s.scalars(select(Conversation)):
            conv.reply_window_expires_at = datetime.now(UTC) - timedelta(hours=1)
    out = (await client.get(f"/api/v1/campaigns/tasks/{task['id']}/reach", headers=h)).json()
    assert out["reach"] == "closed" and out["conversation_id"] is None
    assert out["phone"] == "13800000000"
    assert (await client.get("/api/v1/campaigns/tasks/9999/reach", headers=h)).status_code == 404


async def test_started_campaign_refuses_new_invitees(client: Any, factory: Any, app: Any) -> None:
    w = await _world(client, factory, app, ["a"])
    h = w["h"]
    soon = datetime.now(UTC) + timedelta(seconds=2)
    camp = await _campaign(client, h, starts_at=soon.isoformat())
    from app.models import Campaign

    async with app.state.services.db.session() as s:
        row = await s.get(Campaign, camp["id"])
        assert row is not None
        row.starts_at = datetime.now(UTC) - timedelta(hours=1)
    r = await client.post(
        f"/api/v1/campaigns/{camp['id']}/invitees", json={"contact_ids": w["ids"]}, headers=h
    )
    assert r.status_code == 409 and "started" in r.json()["detail"]


async def test_demo_campaign_has_every_state(client: Any, factory: Any, app: Any) -> None:
    from sandbox.campaigns import seed_campaign

    await factory.channel("A", "sa")
    agent = await factory.user("agent")
    assert await seed_campaign(app.state.services.db) is True
    assert await seed_campaign(app.state.services.db) is False
    h = agent["headers"]
    (camp,) = (await client.get("/api/v1/campaigns", headers=h)).json()["items"]
    assert datetime.fromisoformat(camp["starts_at"].replace("Z", "+00:00")) > datetime.now(UTC)
    assert set(camp["counts"].values()) == {1}
    assert len((await client.get("/api/v1/tasks?kind=invite", headers=h)).json()["items"]) == 1
    assert len((await client.get("/api/v1/tasks?kind=remind", headers=h)).json()["items"]) == 1


def test_every_state_and_segment_has_its_words() -> None:
    from app.campaigns.mix import SEGMENTS
    from app.i18n import page_texts
    from app.models import InviteeState

    for lang in ("zh-CN", "en"):
        words = page_texts(lang, "inbox", "pages")
        for state in InviteeState:
            assert f"camp_state_{state}" in words
        for segment in SEGMENTS:
            assert f"camp_segment_{segment}" in words
        assert "crm_kind_invite" in words and "crm_kind_remind" in words
