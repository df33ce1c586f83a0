"""The tier filter on the customers list and the tier's default follow-up cadence
(CONTRACT section 8): a customer without `follow_up_days` is followed up on their
tier's default, rescheduled when a full retention pass changes the tier."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from sqlalchemy import select

from app.contacts.actions.followup import TIER_FOLLOW_UP_DAYS
from app.models import Contact, Conversation, Task, utcnow_for_models
from app.retention.tiers import TIERS
from app.retention.worker import refresh_once
from tests.conftest import push


def test_every_tier_has_a_default_cadence() -> None:
    assert set(TIER_FOLLOW_UP_DAYS) == set(TIERS.values())
    assert all(1 <= d <= 365 for d in TIER_FOLLOW_UP_DAYS.values())


async def _follow_ups(app: Any, contact_id: int) -> tuple[list[Task], Contact, Any]:
    async with app.state.services.db.session() as s:
        tasks = list(
            await s.scalars(
                select(Task).where(
                    Task.contact_id == contact_id, Task.kind == "follow_up", Task.status == "open"
                )
            )
        )
        contact = await s.get(Contact, contact_id)
        first = await s.scalar(
            select(Conversation.created_at).where(Conversation.contact_id == contact_id)
        )
        assert contact is not None
        return tasks, contact, first


async def _due_days(app: Any, contact_id: int) -> int | None:
    """Days from the first interaction to the one open follow-up task (None: no task)."""
    tasks, contact, first = await _follow_ups(app, contact_id)
    if not tasks:
        assert contact.next_follow_up_at is None
        return None
    assert len(tasks) == 1 and contact.next_follow_up_at == tasks[0].due_at
    gap = tasks[0].due_at - first
    assert gap.seconds == 0 and gap.microseconds == 0
    return gap.days


async def test_tier_filter_and_tier_default_cadence(client: Any, factory: Any, app: Any) -> None:
    ch = await factory.channel("A", "sa")
    sup = await factory.user("supervisor")
    h = sup["headers"]
    for user in ("u1", "u2", "u3"):
        await push(client, ch, {"id": f"m-{user}", "from": user, "name": user, "text": "在吗"})
    items = (await client.get("/api/v1/contacts", headers=h)).json()["items"]
    ids = {c["name"]: c["id"] for c in items}
    a, b, c = ids["u1"], ids["u2"], ids["u3"]
    today = utcnow_for_models().date()

    async def order(cid: int, no: str, days_ago: int, amount: str) -> None:
        r = await client.post(
            f"/api/v1/contacts/{cid}/orders",
            json={
                "order_no": no,
                "ordered_at": str(today - timedelta(days=days_ago)),
                "amount": amount,
            },
            headers=h,
        )
        assert r.status_code in (200, 201), r.text

    # a: recent and big (important_value); b: old and small, same frequency (general_keep);
    # c: no order, so no tier and no automatic follow-up.
    await order(a, "A1", 10, "1000")
    await order(b, "B1", 200, "10")
    assert await _due_days(app, a) is None  # no tier yet
    db = app.state.services.db
    await refresh_once(db, utcnow_for_models(), full=True)
    assert await _due_days(app, a) == TIER_FOLLOW_UP_DAYS["important_value"] == 30
    assert await _due_days(app, b) == TIER_FOLLOW_UP_DAYS["general_keep"] == 90
    assert await _due_days(app, c) is None

    async def listed(query: str) -> Any:
        return await client.get(f"/api/v1/contacts?{query}", headers=h)

    for tier, expected in (("important_value", [a]), ("general_keep", [b]), ("general_value", [])):
        r = await listed(f"tier={tier}")
        assert r.status_code == 200 and [i["id"] for i in r.json()["items"]] == expected, tier
        assert all(i["tier"] == tier for i in r.json()["items"])
    assert [i["id"] for i in (await listed("tier=important_value&sort=risk")).json()["items"]] == [
        a
    ]
    assert {i["id"] for i in (await listed("tier=")).json()["items"]} == {a, b, c}
    for bad in ("bogus", "IMPORTANT_VALUE", "x" * 31):
        r = await listed(f"tier={bad}")
        assert r.status_code == 400, bad
        assert "Traceback" not in r.text

    # b buys twice recently and big: the tiers swap, and both open tasks move (not doubled).
    await order(b, "B2", 5, "5000")
    await refresh_once(db, utcnow_for_models(), full=True)
    assert (await listed("tier=important_value")).json()["items"][0]["id"] == b
    assert await _due_days(app, b) == 30
    assert await _due_days(app, a) == TIER_FOLLOW_UP_DAYS["general_retain"] == 90

    # the customer's own cadence wins; clearing it falls back to the tier's default
    r = await client.patch(f"/api/v1/contacts/{a}", json={"follow_up_days": 7}, headers=h)
    assert r.status_code == 200, r.text
    assert await _due_days(app, a) == 7
    await refresh_once(db, utcnow_for_models(), full=True)
    assert await _due_days(app, a) == 7
    r = await client.patch(f"/api/v1/contacts/{a}", json={"follow_up_days": None}, headers=h)
    assert r.status_code == 200, r.text
    assert await _due_days(app, a) == 90
