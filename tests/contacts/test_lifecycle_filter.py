"""The customers list's `lifecycle=` filter (issue 15, performance) reads `contacts.standing`,
which database triggers keep (migration 0020standing). Whoever writes the lifecycle (a score
row inserted, upserted as the retention pass does, updated, deleted; an agent's mark; a
merge and its undo; the real retention pass), the filter lists exactly the customers whose
shown lifecycle matches, in the list's order across pages, each once; and keeping it never
moves a contact's `updated_at`, which the retention worker reads as a change."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import delete, select, update
from sqlalchemy.dialects import postgresql, sqlite

from app.models import Contact, ContactIdentity, Order, RetentionScore
from app.retention.worker import refresh_once

LIFECYCLES = ["new", "active", "at_risk", "lost", "recovered"]
N = 30


def _score(cid: int, lifecycle: str) -> dict[str, Any]:
    return {
        "contact_id": cid,
        "score": cid % 100,
        "band": "low",
        "factors": [],
        "history": {},
        "lifecycle": lifecycle,
        "computed_at": datetime.now(UTC),
        "tier": None,
        "high_value": False,
        "spend_365": "0.00",
    }


async def _seed(app: Any, channel_id: int) -> list[int]:
    """N customers, each known on the channel: ties in the last interaction (the id
    decides), every fifth never interacted, every seventh inserted as marked lost."""
    now = datetime.now(UTC).replace(microsecond=0)
    async with app.state.services.db.session() as s:
        contacts = [
            Contact(
                name=f"客户{n}",
                last_interaction_at=None if n % 5 == 4 else now - timedelta(days=n // 3 * 40),
                lifecycle="lost" if n % 7 == 3 else "active",
                lost_reason="买了别家的" if n % 7 == 3 else None,
            )
            for n in range(N)
        ]
        s.add_all(contacts)
        await s.flush()
        s.add_all(
            ContactIdentity(contact_id=c.id, channel_id=channel_id, external_id=f"u{c.id}")
            for c in contacts
        )
        # Two of every three scored, each lifecycle in turn.
        s.add_all(
            RetentionScore(**_score(c.id, LIFECYCLES[n % 5]))
            for n, c in enumerate(contacts)
            if n % 3
        )
        return [c.id for c in contacts]


async def _reference(app: Any) -> dict[str, list[int]]:
    """From the tables, as CONTRACT section 11 and the list define them: each visible
    customer's shown lifecycle, in the list's order (most recent first, then the never
    interacted, newest first)."""
    async with app.state.services.db.session() as s:
        scores = dict(
            (await s.execute(select(RetentionScore.contact_id, RetentionScore.lifecycle))).all()
        )
        rows = (
            await s.execute(
                select(Contact.id, Contact.lifecycle, Contact.last_interaction_at).where(
                    Contact.merged_into_id.is_(None)
                )
            )
        ).all()
    floor = datetime.min.replace(tzinfo=UTC)
    ordered = sorted(rows, key=lambda r: (r[2] is not None, r[2] or floor, r[0]), reverse=True)
    out: dict[str, list[int]] = {life: [] for life in LIFECYCLES}
    for cid, own, _ in ordered:
        out.setdefault("lost" if own == "lost" else scores.get(cid, own), []).append(cid)
    return out


async def _pages(client: Any, h: dict[str, str], query: str, limit: int) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    cursor = None
    for _ in range(N + 1):
        url = f"/api/v1/contacts?limit={limit}&{query}" + (f"&cursor={cursor}" if cursor else "")
        r = await client.get(url, headers=h)
        assert r.status_code == 200, r.text
        items += r.json()["items"]
        cursor = r.json()["next_cursor"]
        if cursor is None:
            return items
    raise AssertionError("the pages never ended")


async def _check(client: Any, app: Any, h: dict[str, str]) -> dict[str, list[int]]:
    expected = await _reference(app)
    everyone = await _pages(client, h, "", 50)
    for life in LIFECYCLES:
        # the items' own lifecycle (customer_items, from the sources) agrees too
        assert [c["id"] for c in everyone if c["lifecycle"] == life] == expected[life], life
        for limit in (1, 3, 50):
            got = await _pages(client, h, f"lifecycle={life}", limit)
            assert [c["id"] for c in got] == expected[life], (life, limit)
            assert {c["lifecycle"] for c in got} <= {life}
    return expected


async def _stamps(app: Any) -> dict[int, datetime]:
    async with app.state.services.db.session() as s:
        return dict((await s.execute(select(Contact.id, Contact.updated_at))).all())


async def test_the_filter_follows_every_writer_of_the_lifecycle(
    client: Any, factory: Any, app: Any
) -> None:
    ids = await _seed(app, (await factory.channel("A", "sa"))["id"])
    h = (await factory.user("supervisor"))["headers"]
    db = app.state.services.db
    first = await _check(client, app, h)
    assert all(first[life] for life in LIFECYCLES)  # every lifecycle has someone to find
    stamps = await _stamps(app)

    # An upsert as the retention pass writes its batches: existing and new rows, some
    # lifecycles changed, some the same.
    async with db.session() as s:
        dialect = postgresql if s.get_bind().dialect.name == "postgresql" else sqlite
        stmt = dialect.insert(RetentionScore)
        upsert = stmt.on_conflict_do_update(
            index_elements=["contact_id"],
            set_={c: stmt.excluded[c] for c in ("score", "lifecycle", "computed_at")},
        )
        await s.execute(upsert, [_score(cid, LIFECYCLES[(n + 2) % 5]) for n, cid in enumerate(ids)])
    await _check(client, app, h)
    # A plain update, and a score deleted (the contact shows its own lifecycle again).
    async with db.session() as s:
        await s.execute(
            update(RetentionScore)
            .where(RetentionScore.contact_id.in_(ids[:10]))
            .values(lifecycle="at_risk")
        )
        await s.execute(delete(RetentionScore).where(RetentionScore.contact_id.in_(ids[10:14])))
    await _check(client, app, h)
    assert await _stamps(app) == stamps  # no score write moved a contact's updated_at

    # An agent marks a customer lost, then takes another's mark back: the score shows.
    scored_new = (await _reference(app))["new"][0]
    marked = ids[3]
    for cid, body in [
        (scored_new, {"lifecycle": "lost", "reason": "不再回复"}),
        (marked, {"lifecycle": "active"}),
    ]:
        r = await client.post(f"/api/v1/contacts/{cid}/lifecycle", json=body, headers=h)
        assert r.status_code == 200, r.text
    after = await _check(client, app, h)
    assert scored_new in after["lost"] and marked not in after["lost"]

    # A merge hides the other customer; its undo shows it again as it was.
    a, b = ids[1], ids[2]
    r = await client.post(f"/api/v1/contacts/{a}/merge", json={"other_id": b}, headers=h)
    assert r.status_code == 200, r.text
    merged = await _check(client, app, h)
    assert b not in {i for life in merged.values() for i in life}
    r = await client.post(
        f"/api/v1/contacts/{a}/unmerge", json={"merge_id": r.json()["merge_id"]}, headers=h
    )
    assert r.status_code == 200, r.text
    assert await _check(client, app, h) == after


async def test_a_retention_pass_keeps_it_without_making_anyone_changed(
    client: Any, factory: Any, app: Any
) -> None:
    """The real pass computes new, active, recovered and lost from orders; the filter
    follows, and the next pass of changed customers finds nobody: keeping the standing
    did not stamp a contact."""
    today = date.today()
    plans = {  # order days ago -> the lifecycle it gives
        "new": [5],
        "active": [60, 50],
        "recovered": [200, 10],
        "lost": [150],
    }
    async with app.state.services.db.session() as s:
        for life, days in plans.items():
            contact = Contact(name=life)
            s.add(contact)
            await s.flush()
            s.add_all(
                Order(
                    order_no=f"{life}-{d}",
                    contact_id=contact.id,
                    ordered_at=today - timedelta(days=d),
                    amount=Decimal(10),
                )
                for d in days
            )
    h = (await factory.user("supervisor"))["headers"]
    db = app.state.services.db
    assert await refresh_once(db, full=True) == 4
    found = await _check(client, app, h)
    assert {life: len(found[life]) for life in plans} == dict.fromkeys(plans, 1)
    assert await refresh_once(db) == 0
