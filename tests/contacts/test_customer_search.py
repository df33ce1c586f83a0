"""The customers list's search and paging (issue 15, performance): the indexed `q=`
finds exactly what an ILIKE over name, phone and email finds, hostile text included,
and scrolling by cursor lists every customer once, in order, across the customers
who never interacted."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import insert, or_, select

from app.contacts.customers_queries import like_pattern
from app.models import Contact, ContactIdentity, Order, RetentionScore

NAMES = [
    ("王小明", "13812345678", None),
    ("王", None, "wang@example.com"),
    ("小王子", "13900001111", None),
    ("Alice Smith", "+86 138 0000 5678", "Alice@Example.COM"),
    ("ALICE", None, None),
    ("alİce Ünïcode", None, "ünï@例子.中国"),
    ("50%_off\\x", "100%", "under_score@x.io"),
    ('=HYPERLINK("http://evil")', "+1234", None),
    ("<script>alert(1)</script>", None, "a'b\"c@x.io"),
    ("Robert'); DROP TABLE contacts;--", None, None),
    ("e\u0301cole", None, None),  # decomposed é
    ("", "", ""),
    ("张\n三", "1\t2", None),
]
QUERIES = [
    "王",
    "小明",
    "王子",
    "alice",
    "ALI",
    "Ü",
    "ünï",
    "例子",
    "%",
    "_",
    "\\",
    "50%_",
    "%_o",
    "138",
    "5678",
    "0000 5678",
    "example.com",
    "EXAMPLE",
    "<script>",
    "=HYPER",
    '"',
    "'",
    "DROP TABLE",
    "cole",
    "\u0301",
    "\n",
    "张\n三",
    "1\t2",
    "zzz",
    "İ",
    "a'b\"c",
    "ORD-1",
    "x",
    "1",
    "13",
]


async def _seed(app: Any) -> list[int]:
    now = datetime.now(UTC).replace(microsecond=0)
    async with app.state.services.db.session() as s:
        ids = []
        for n, (name, phone, email) in enumerate(NAMES):
            # Every third never interacted: the list puts them last, by id.
            at = None if n % 3 == 2 else now - timedelta(hours=n)
            contact = Contact(name=name, phone=phone, email=email, last_interaction_at=at)
            s.add(contact)
            await s.flush()
            ids.append(contact.id)
        # An order number is matched whole: ORD-1 finds its customer, ORD- does not.
        await s.execute(
            insert(Order),
            [
                {
                    "order_no": "ORD-1",
                    "contact_id": ids[4],
                    "ordered_at": now.date(),
                    "amount": 1,
                    "match_keys": {},
                    "source": "manual",
                }
            ],
        )
    return ids


async def _seed_ids(app: Any) -> dict[str, int]:
    async with app.state.services.db.session() as s:
        return {name: cid for cid, name in await s.execute(select(Contact.id, Contact.name))}


async def _all_pages(client: Any, h: dict[str, str], query: str, **more: str) -> list[int]:
    """Every page of the customers list (2 a page unless `limit` is given), in order."""
    out: list[int] = []
    cursor = None
    for _ in range(50):
        params = {"limit": "2", **({"q": query} if query else {}), **more}
        if cursor is not None:
            params["cursor"] = cursor
        r = await client.get("/api/v1/contacts", params=params, headers=h)
        assert r.status_code == 200, r.text
        out += [c["id"] for c in r.json()["items"]]
        cursor = r.json()["next_cursor"]
        if cursor is None:
            return out
    raise AssertionError("paging did not end")


async def _ilike(app: Any, query: str) -> list[int]:
    """The reference: the ILIKE scan the list used to run, in the list's order."""
    pattern = like_pattern(query)
    async with app.state.services.db.session() as s:
        rows = (
            await s.execute(
                select(Contact.id, Contact.last_interaction_at).where(
                    Contact.merged_into_id.is_(None),
                    or_(
                        Contact.name.ilike(pattern, escape="\\"),
                        Contact.phone.ilike(pattern, escape="\\"),
                        Contact.email.ilike(pattern, escape="\\"),
                        Contact.id.in_(select(Order.contact_id).where(Order.order_no == query)),
                    ),
                )
            )
        ).all()
    recent = sorted((r for r in rows if r[1] is not None), key=lambda r: (r[1], r[0]), reverse=True)
    never = sorted((r for r in rows if r[1] is None), key=lambda r: r[0], reverse=True)
    return [r[0] for r in recent + never]


async def test_search_equals_ilike_on_hostile_text(client: Any, factory: Any, app: Any) -> None:
    await _seed(app)
    h = (await factory.user("admin"))["headers"]
    found_any = 0
    for query in QUERIES:
        expected = await _ilike(app, query.strip())
        got = await _all_pages(client, h, query)
        assert got == expected, query  # recall 1.0, nothing extra, same order
        found_any += bool(got)
    assert found_any >= 25  # the sample is not a set of misses
    # hand-checked cases
    ids = await _seed_ids(app)
    assert await _all_pages(client, h, "王") == [ids["王小明"], ids["王"], ids["小王子"]]
    # name or email, whatever the case; one customer listed once
    assert set(await _all_pages(client, h, "alice")) >= {ids["Alice Smith"], ids["ALICE"]}
    assert await _all_pages(client, h, "%") == [ids["50%_off\\x"]]  # a literal %
    assert len(await _all_pages(client, h, "ORD-1")) == 1
    assert await _all_pages(client, h, "ORD-") == []


async def test_scrolling_lists_everyone_once_in_order(client: Any, factory: Any, app: Any) -> None:
    ids = await _seed(app)
    h = (await factory.user("admin"))["headers"]
    got = await _all_pages(client, h, "")
    assert sorted(got) == sorted(ids) and len(got) == len(ids)
    assert got == await _ilike(app, "")  # recent first, then never-interacted by id desc
    never = [ids[n] for n in range(len(NAMES)) if n % 3 == 2]
    assert got[-len(never) :] == sorted(never, reverse=True)
    # a cursor in the never-interacted part, and a forged one
    bad = await client.get("/api/v1/contacts?cursor=nonsense", headers=h)
    assert bad.status_code == 400


async def test_lifecycle_tier_and_channel_filters(client: Any, factory: Any, app: Any) -> None:
    ids = await _seed(app)
    ch = await factory.channel("B", "sb")
    h = (await factory.user("admin"))["headers"]
    async with app.state.services.db.session() as s:
        for cid, life, tier in [
            (ids[0], "at_risk", "important_value"),
            (ids[1], "active", "general_retain"),
            (ids[2], "lost", "important_value"),
        ]:
            s.add(
                RetentionScore(
                    contact_id=cid,
                    score=50,
                    band="medium",
                    factors=[],
                    history={},
                    lifecycle=life,
                    tier=tier,
                    high_value=False,
                    spend_365="0.00",
                )
            )
        marked = await s.get(Contact, ids[3])
        assert marked is not None
        marked.lifecycle = "lost"  # an agent marked them lost: lost whatever the score says
        s.add(ContactIdentity(contact_id=ids[5], channel_id=ch["id"], external_id="u-b"))

    async def listed(query: str) -> set[int]:
        r = await client.get(f"/api/v1/contacts?limit=100&{query}", headers=h)
        assert r.status_code == 200, r.text
        return {c["id"] for c in r.json()["items"]}

    assert await listed("lifecycle=at_risk") == {ids[0]}
    assert await listed("lifecycle=lost") == {ids[2], ids[3]}
    assert await listed("lifecycle=lost&q=王") == {ids[2]}
    # active: scored active, or not scored and not marked lost
    assert await listed("lifecycle=active") == set(ids) - {ids[0], ids[2], ids[3]}
    assert await listed("tier=important_value") == {ids[0], ids[2]}
    assert await listed("tier=important_value&q=小明") == {ids[0]}
    assert await listed(f"channel_id={ch['id']}") == {ids[5]}


async def test_todo_counts_by_window(client: Any, factory: Any, app: Any) -> None:
    from datetime import timedelta as td

    from app.contacts.task_queries import due_bounds
    from app.models import Task

    ids = await _seed(app)
    agent, other = await factory.user("agent"), await factory.user("agent")
    _, today_start = due_bounds("overdue")
    _, tomorrow = due_bounds("today")
    _, week_end = due_bounds("week")
    later_this_week = tomorrow + td(minutes=1) if tomorrow < week_end else None
    plan = [
        (agent, today_start - td(days=3), "open"),  # overdue
        (agent, today_start - td(hours=1), "open"),  # overdue
        (agent, today_start - td(hours=1), "done"),  # done: not counted
        (agent, today_start + td(minutes=1), "open"),  # today
        (agent, week_end + td(hours=1), "open"),  # next week: not counted
        (other, today_start + td(minutes=1), "open"),  # someone else's
    ]
    if later_this_week is not None:
        plan.append((agent, later_this_week, "open"))
    async with app.state.services.db.session() as s:
        for n, (who, due, status) in enumerate(plan):
            s.add(
                Task(
                    kind="manual",
                    title=f"t{n}",
                    contact_id=ids[0],
                    assignee_id=who["id"],
                    due_at=due,
                    status=status,
                    source="manual",
                    snoozed_count=0,
                )
            )
    counts = (await client.get("/api/v1/tasks/counts", headers=agent["headers"])).json()
    week = 1 + (later_this_week is not None)  # the week window starts today
    assert {k: counts[k] for k in ("overdue", "today", "week", "due")} == {
        "overdue": 2,
        "today": 1,
        "week": week,
        "due": 3,
    }


async def test_sort_by_risk_pages_in_order_across_unscored(
    client: Any, factory: Any, app: Any
) -> None:
    """sort=risk walks the scored customers by the score index, then those at 0 or not
    scored by id: the pages together are the one order (score desc, id desc), unscored
    counted as 0, each customer once, also with a filter on top."""
    ids = await _seed(app)
    h = (await factory.user("admin"))["headers"]
    # ties at 70, a 0 among the unscored, a 90 on a never-interacted customer
    scores = {ids[0]: 70, ids[1]: 70, ids[2]: 90, ids[3]: 0, ids[4]: 5, ids[6]: 70, ids[7]: 0}
    async with app.state.services.db.session() as s:
        for cid, score in scores.items():
            s.add(
                RetentionScore(
                    contact_id=cid,
                    score=score,
                    band="low",
                    factors=[],
                    history={},
                    lifecycle="active",
                    tier="general_retain" if cid != ids[6] else "important_value",
                    high_value=False,
                    spend_365="0.00",
                )
            )

    expected = sorted(ids, key=lambda i: (scores.get(i, 0), i), reverse=True)
    assert expected[:4] == [ids[2], ids[6], ids[1], ids[0]]  # hand-checked head
    for limit in (1, 2, 3, 50):
        assert await _all_pages(client, h, "", sort="risk", limit=str(limit)) == expected, limit
    # a filter keeps the order: the tier filter reads the scores under another name
    assert await _all_pages(client, h, "", sort="risk", tier="general_retain") == [
        ids[2],
        ids[1],
        ids[0],
        ids[4],
        ids[7],
        ids[3],
    ]
    bad = await client.get("/api/v1/contacts?sort=risk&cursor=" + "WyJ4IiwgMV0", headers=h)
    assert bad.status_code == 400


async def test_search_follows_renames_and_new_customers(
    client: Any, factory: Any, app: Any
) -> None:
    """On SQLite a term of 3+ characters is answered by the trigram table the contacts'
    triggers keep (app/searchindex/contacts.py): a rename and a new customer are found at
    once, the old name no longer."""
    from sqlalchemy import text

    ids = await _seed(app)
    h = (await factory.user("admin"))["headers"]
    assert await _all_pages(client, h, "王小明") == [ids[0]]
    async with app.state.services.db.session() as s:
        renamed = await s.get(Contact, ids[0])
        assert renamed is not None
        renamed.name = "赵六一"
        renamed.last_interaction_at = datetime.now(UTC)  # not indexed: no trigger work
        s.add(Contact(name="New Person 赵六一", phone="18600000000"))
    new_id = (await _seed_ids(app))["New Person 赵六一"]
    assert await _all_pages(client, h, "王小明") == []
    assert await _all_pages(client, h, "赵六一") == [ids[0], new_id]
    assert await _all_pages(client, h, "new per") == [new_id]
    assert await _all_pages(client, h, "8600000") == [new_id]
    if app.state.services.db.engine.dialect.name == "sqlite":
        async with app.state.services.db.session() as s:
            indexed = await s.scalars(
                text("SELECT rowid FROM contacts_trgm WHERE search_text LIKE '%赵六一%'")
            )
            assert sorted(indexed) == sorted([ids[0], new_id])
