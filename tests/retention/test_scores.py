"""Scores written by the retention action: risk with reasons, lifecycle, tier, the
at_risk task made once, and what the customer list shows."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from sqlalchemy import select, update

from app.models import Message, RetentionScore, Task, utcnow_for_models
from app.retention.worker import refresh_once
from tests.conftest import push


async def test_refresh_scores_explains_and_makes_one_at_risk_task(
    client: Any, factory: Any, app: Any
) -> None:
    ch = await factory.channel("A", "sa")
    sup = await factory.user("supervisor")
    now = utcnow_for_models()
    texts = {120: "在吗", 110: "价格多少", 100: "好的", 20: "我要投诉，太慢了"}
    for days, text in texts.items():
        await push(client, ch, {"id": f"m{days}", "from": "u1", "name": "张三", "text": text})
    db = app.state.services.db
    async with db.session() as s:
        for days in texts:
            await s.execute(
                update(Message)
                .where(Message.external_id == f"m{days}")
                .values(created_at=now - timedelta(days=days))
            )
    contact_id = (await client.get("/api/v1/contacts", headers=sup["headers"])).json()["items"][0][
        "id"
    ]
    r = await client.post(
        f"/api/v1/contacts/{contact_id}/orders",
        json={
            "order_no": "A1",
            "ordered_at": str((now - timedelta(days=100)).date()),
            "amount": "10",
        },
        headers=sup["headers"],
    )
    assert r.status_code in (200, 201), r.text

    now = utcnow_for_models()  # after every change above
    assert await refresh_once(db, now, full=True) == 1
    item = (await client.get("/api/v1/contacts", headers=sup["headers"])).json()["items"][0]
    risk = item["risk"]
    # gaps 10, 10, 80 (median 10) and 20 days silent: 2x -> 20; 1 interaction in the last
    # 90 days against 4 before (3 messages and the order): 15; unanswered 20; 投诉/太慢: 15
    codes = {f["code"]: f["points"] for f in risk["factors"]}
    assert codes == {"silence": 20, "frequency_drop": 15, "unanswered": 20, "negative": 15}
    assert risk["score"] == 70 and risk["band"] == "high" and risk["week_ago"] is None
    assert item["lifecycle"] == "at_risk"
    for lc, expected in (("at_risk", [contact_id]), ("new", []), ("active", []), ("lost", [])):
        r = await client.get(f"/api/v1/contacts?lifecycle={lc}", headers=sup["headers"])
        assert [c["id"] for c in r.json()["items"]] == expected, lc
    assert item["tier"] == "important_value" and item["high_value"] is True
    async with db.session() as s:
        tasks = list(await s.scalars(select(Task).where(Task.kind == "at_risk")))
        assert len(tasks) == 1 and "投诉" in tasks[0].title and tasks[0].contact_id == contact_id
        # leaving high and entering again within 7 days makes no second task
        await s.execute(update(RetentionScore).values(band="low"))
    await refresh_once(db, now, full=True)
    async with db.session() as s:
        assert len(list(await s.scalars(select(Task).where(Task.kind == "at_risk")))) == 1
        row = await s.get(RetentionScore, contact_id)
        assert row is not None and row.band == "high"

    # only changed customers are rescored between full passes
    assert await refresh_once(db, now) == 0
    await push(client, ch, {"id": "m-new", "from": "u1", "name": "张三", "text": "还在吗"})
    assert await refresh_once(db, utcnow_for_models() + timedelta(seconds=1)) == 1


async def test_an_agent_reply_in_time_is_not_unanswered(
    client: Any, factory: Any, app: Any
) -> None:
    ch = await factory.channel("A", "sa")
    sup = await factory.user("supervisor")
    for uid in ("u1", "u2"):
        await push(client, ch, {"id": f"q-{uid}", "from": uid, "name": uid, "text": "在吗"})
    convs = (await client.get("/api/v1/conversations", headers=sup["headers"])).json()["items"]
    by_name = {c["contact"]["name"]: c for c in convs}
    r = await client.post(
        f"/api/v1/conversations/{by_name['u1']['id']}/messages",
        json={"content": "您好"},
        headers=sup["headers"],
    )
    assert r.status_code in (200, 201)
    db = app.state.services.db
    now = utcnow_for_models()
    # everything happened three days ago: refresh as of three days on
    await refresh_once(db, now + timedelta(days=3), full=True)
    async with db.session() as s:
        rows = {
            r.contact_id: {f["code"] for f in r.factors}
            for r in await s.scalars(select(RetentionScore))
        }
    assert rows[by_name["u1"]["contact"]["id"]] == set()
    assert rows[by_name["u2"]["contact"]["id"]] == {"unanswered"}


async def test_owner_left_without_successor_is_orphaned(
    client: Any, factory: Any, app: Any
) -> None:
    ch = await factory.channel("A", "sa")
    admin, agent = await factory.user("admin"), await factory.user("agent")
    await push(client, ch, {"id": "o1", "from": "u1", "name": "u1", "text": "在吗"})
    conv = (await client.get("/api/v1/conversations", headers=admin["headers"])).json()["items"][0]
    r = await client.post(
        f"/api/v1/conversations/{conv['id']}/messages",
        json={"content": "您好"},
        headers=agent["headers"],
    )
    assert r.status_code in (200, 201)  # the first reply makes the agent the owner
    r = await client.post(
        f"/api/v1/users/{agent['id']}/deactivate", json={}, headers=admin["headers"]
    )
    assert r.status_code == 200, r.text
    db = app.state.services.db
    await refresh_once(db, utcnow_for_models(), full=True)
    async with db.session() as s:
        row = await s.get(RetentionScore, conv["contact"]["id"])
        assert row is not None
        assert [f["detail"] for f in row.factors] == ["负责人已离职，未交接"]


async def test_the_last_rating_counts_and_a_channels_target_sets_slow(
    client: Any, factory: Any, app: Any
) -> None:
    """low_csat reads the newest rating in the conversation facts; the first-response
    factor uses the channel's own target (here 60 minutes: a 30-minute answer is in time)."""
    from app.models import Conversation, ConversationFacts, ServiceSettings

    ch = await factory.channel("A", "sa")
    sup = await factory.user("supervisor")
    await push(client, ch, {"id": "r1", "from": "u9", "name": "李四", "text": "你好"})
    db = app.state.services.db
    now = utcnow_for_models()
    async with db.session() as s:
        conv = (await s.scalars(select(Conversation))).one()
        conv.first_response_at = conv.created_at + timedelta(minutes=30)
        s.add(ServiceSettings(channel_id=ch["id"], first_response_minutes=60))
        facts = await s.get(ConversationFacts, conv.id)
        assert facts is not None  # kept as the message was stored
        facts.csat_score, facts.csat_rated_at = 4, now - timedelta(days=3)
    await refresh_once(db, utcnow_for_models(), full=True)
    item = (await client.get("/api/v1/contacts", headers=sup["headers"])).json()["items"][0]
    assert "low_csat" not in {f["code"] for f in item["risk"]["factors"]}
    assert "unanswered" not in {f["code"] for f in item["risk"]["factors"]}
    async with db.session() as s:
        facts = await s.get(ConversationFacts, conv.id)
        assert facts is not None
        facts.csat_score, facts.csat_rated_at = 1, now - timedelta(days=1)
    await refresh_once(db, utcnow_for_models(), full=True)
    item = (await client.get("/api/v1/contacts", headers=sup["headers"])).json()["items"][0]
    factors = {f["code"]: f for f in item["risk"]["factors"]}
    assert factors["low_csat"]["points"] == 15 and "1 星" in factors["low_csat"]["detail"]


async def test_a_full_pass_commits_batch_by_batch(
    client: Any, factory: Any, app: Any, monkeypatch: Any
) -> None:
    """A full pass over many customers is many short transactions, not one that holds
    SQLite's writer (and every webhook) until it ends."""
    from app.retention import actions

    ch = await factory.channel("A", "sa")
    for i in range(5):
        await push(client, ch, {"id": f"m{i}", "from": f"u{i}", "text": "在吗"})
    monkeypatch.setattr(actions, "BATCH", 2)
    db = app.state.services.db
    commits: list[int] = []
    real_commit = db.commit

    async def counting_commit(session: Any) -> None:
        commits.append(1)
        await real_commit(session)

    monkeypatch.setattr(db, "commit", counting_commit)
    assert await refresh_once(db, utcnow_for_models(), full=True) == 5
    # 2 + 2 + 1 customers: three batches committed as they end, then the session's own.
    assert len(commits) == 4
    async with db.sessions() as s:
        assert len(list(await s.scalars(select(RetentionScore)))) == 5


async def test_the_worker_rescores_what_changed_since_its_last_pass(
    client: Any, factory: Any, app: Any, monkeypatch: Any
) -> None:
    """After its first (full) pass the worker reads the customers stamped since its last
    pass began, less the overlap (a late commit is still seen), not every score row."""
    from app.retention import worker as retention_worker
    from app.retention.worker import RetentionWorker

    ch = await factory.channel("A", "sa")
    for uid in ("u1", "u2"):
        await push(client, ch, {"id": f"w-{uid}", "from": uid, "text": "在吗"})
    w = RetentionWorker(app.state.services.db)
    assert await w.run_once() == 2  # the day's first pass: everyone
    monkeypatch.setattr(retention_worker, "OVERLAP_SECONDS", 0.0)
    assert await w.run_once() == 0  # nothing stamped since
    await push(client, ch, {"id": "w-u1-2", "from": "u1", "text": "还在吗"})
    assert await w.run_once() == 1
    assert await w.run_once() == 0
    # within the overlap, changes already scored are read again: every push of this test
    # is less than 30 seconds old (the rows are fresh: the old scan would find none)
    monkeypatch.setattr(retention_worker, "OVERLAP_SECONDS", 30.0)
    assert await w.run_once() == 2


async def test_a_restart_the_same_day_rescores_only_the_changes(
    client: Any, factory: Any, app: Any, monkeypatch: Any
) -> None:
    """A worker that starts after another's full pass today does not pass over everyone
    again; once a score row is older than today's midnight, it does."""
    from app.retention import worker as retention_worker
    from app.retention.worker import RetentionWorker

    passes: list[bool] = []
    real = retention_worker.refresh_once

    async def spy(*args: Any, full: bool = False, **kwargs: Any) -> int:
        passes.append(full)
        return await real(*args, full=full, **kwargs)

    monkeypatch.setattr(retention_worker, "refresh_once", spy)
    ch = await factory.channel("A", "sa")
    for uid in ("u1", "u2"):
        await push(client, ch, {"id": f"r-{uid}", "from": uid, "text": "在吗"})
    db = app.state.services.db
    assert await RetentionWorker(db).run_once() == 2  # the day's first pass: everyone
    assert await RetentionWorker(db).run_once() == 0  # restarted: nothing changed since
    assert passes == [True, False]
    async with db.session() as s:
        await s.execute(
            update(RetentionScore).values(
                computed_at=utcnow_for_models() - timedelta(days=1, hours=1)
            )
        )
    await RetentionWorker(db).run_once()
    assert passes == [True, False, True]  # yesterday's scores: a full pass again
