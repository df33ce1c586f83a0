"""GET /api/v1/reports/churn and /reports/churn/lost over real rows (CONTRACT section 11)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from sqlalchemy import select, update

from app.models import Contact, Conversation, Message, utcnow_for_models
from app.retention.periods import local_date, local_midnight, period_start
from tests.conftest import push


async def _customer(client: Any, app: Any, ch: dict[str, Any], uid: str, days_ago: float) -> int:
    """A customer whose one message was `days_ago` before the start of this month."""
    await push(client, ch, {"id": f"m-{uid}", "from": uid, "name": uid, "text": "在吗"})
    start = local_midnight(period_start(local_date(utcnow_for_models()), "month"))
    async with app.state.services.db.session() as s:
        conv = await s.scalar(
            select(Conversation)
            .join(Message, Message.conversation_id == Conversation.id)
            .where(Message.external_id == f"m-{uid}")
        )
        assert conv is not None
        if days_ago:
            await s.execute(
                update(Message)
                .where(Message.conversation_id == conv.id)
                .values(created_at=start - timedelta(days=days_ago))
            )
        return conv.contact_id


async def test_churn_report_and_lost_customers(client: Any, factory: Any, app: Any) -> None:
    ch = await factory.channel("A", "sa")
    sup, agent = await factory.user("supervisor"), await factory.user("agent")
    a = await _customer(client, app, ch, "a", 10)
    b = await _customer(client, app, ch, "b", 5)
    c = await _customer(client, app, ch, "c", 0)  # writes now, in the period
    r = await client.post(
        f"/api/v1/contacts/{c}/orders",
        json={
            "order_no": "O1",
            "ordered_at": str(local_date(utcnow_for_models()) - timedelta(days=200)),
            "amount": "80",
        },
        headers=sup["headers"],
    )
    assert r.status_code in (200, 201), r.text
    r = await client.post(
        f"/api/v1/contacts/{a}/lifecycle",
        json={"lifecycle": "lost", "reason": "换了别家"},
        headers=sup["headers"],
    )
    assert r.status_code == 200, r.text
    async with app.state.services.db.session() as s:
        await s.execute(update(Contact).where(Contact.id == b).values(owner_id=agent["id"]))

    r = await client.get("/api/v1/reports/churn?period=month", headers=sup["headers"])
    assert r.status_code == 200, r.text
    last = r.json()["items"][-1]
    assert last["period_start"] == str(period_start(local_date(utcnow_for_models()), "month"))
    assert (last["customers_at_start"], last["lost"], last["recovered"]) == (2, 1, 1)
    assert last["churn_rate"] == 0.5 and last["revenue_churn_rate"] is None
    assert len(r.json()["items"]) == 12

    by_channel = (
        await client.get("/api/v1/reports/churn?period=month&by=channel", headers=sup["headers"])
    ).json()["items"]
    # c was known only by an order before the period: the group without channel
    assert {(i["group"], i["group_name"]) for i in by_channel} == {(ch["id"], "A"), (None, None)}
    now = [i for i in by_channel if i["period_start"] == last["period_start"]]
    assert [i["recovered"] for i in now if i["group"] is None] == [1]

    # an agent sees their own customers only
    mine = (await client.get("/api/v1/reports/churn", headers=agent["headers"])).json()
    assert (mine["items"][-1]["customers_at_start"], mine["items"][-1]["lost"]) == (1, 0)

    r = await client.get(
        f"/api/v1/reports/churn/lost?period=month&period_start={last['period_start']}",
        headers=sup["headers"],
    )
    assert r.status_code == 200, r.text
    (lost,) = r.json()["items"]
    assert lost["contact"]["id"] == a and lost["lost_reason"] == "换了别家"
    assert lost["unanswered"] == 1 and lost["owner_left"] is False


async def test_churn_report_refuses_bad_ranges(client: Any, factory: Any) -> None:
    sup = await factory.user("supervisor")
    for q in (
        "since=2026-03-01&until=2026-02-01",
        "period=week&since=2000-01-01&until=2026-01-01",
        "since=0001-01-01",
        "until=9999-12-31",
        "period=year",
        "window_days=0",
        "by=agent",
    ):
        r = await client.get(f"/api/v1/reports/churn?{q}", headers=sup["headers"])
        assert 400 <= r.status_code < 500, (q, r.status_code)


async def test_histories_take_orders_by_china_date(client: Any, factory: Any, app: Any) -> None:
    from app.retention.queries import load_histories

    ch = await factory.channel("A", "sa")
    sup = await factory.user("supervisor")
    cid = await _customer(client, app, ch, "d", 3)
    today = local_date(utcnow_for_models())
    r = await client.post(
        f"/api/v1/contacts/{cid}/orders",
        json={"order_no": "T1", "ordered_at": str(today), "amount": "5"},
        headers=sup["headers"],
    )
    assert r.status_code in (200, 201), r.text
    async with app.state.services.db.session() as s:
        # until the end of today in Shanghai: today's order is in
        (h,) = await load_histories(s, local_midnight(today + timedelta(days=1)))
        assert [a for _, a in h.orders] == [5] and h.interactions[-1][1] is None
        (h,) = await load_histories(s, local_midnight(today))
        assert h.orders == []
