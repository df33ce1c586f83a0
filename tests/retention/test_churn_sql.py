"""The churn report counted by the database equals the definitions in churn.py (the
oracle) on random histories stored as real rows: messages on two channels, orders,
unsubscribe events and lost marks, owners, a merged customer; and again after changes
to them (new messages and orders, an order moved, merges and an unmerge, a lost mark),
which `churn_days` follows by its refresh."""

from __future__ import annotations

import random
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import delete, func, select, text, update

from app.accounts.viewer import Viewer
from app.contacts.actions.merge import merge_contacts, unmerge_contacts
from app.models import (
    AuditLog,
    ChurnDay,
    ChurnDayMark,
    Contact,
    ContactIdentity,
    Conversation,
    Message,
    Order,
    User,
    utcnow_for_models,
)
from app.retention.churn import churn, row_out, sorted_rows
from app.retention.churn_days import refresh
from app.retention.churn_sql import churn_by_sql, lost_in
from app.retention.periods import local_midnight, periods_between
from app.retention.queries import load_histories
from app.retention.report import churn_report
from app.retention.worker import refresh_once

BASE = local_midnight(date(2025, 1, 1))


def _moment(rng: random.Random) -> datetime:
    """Often exactly on a China midnight or a second before one (the boundaries)."""
    day = BASE + timedelta(days=rng.randint(0, 480))
    return day + timedelta(seconds=rng.choice((0, -1, rng.randint(1, 86399))))


def _inbound(conv_id: int, channel_id: int, at: datetime, unsubscribe: bool, ext: str) -> Message:
    """A customer's message, or their unsubscribe (a hard churn event)."""
    return Message(
        conversation_id=conv_id,
        channel_id=channel_id,
        direction="inbound",
        sender_type="contact",
        content_type="event" if unsubscribe else "text",
        content="" if unsubscribe else "还在吗",
        extra={"event": "unsubscribe"} if unsubscribe else {},
        external_id=ext,
        created_at=at,
    )


def _lost_mark(contact_id: int, at: datetime) -> AuditLog:
    """An agent marking the customer lost (a hard churn event), as the audit log has it."""
    return AuditLog(
        action="contact.lifecycle_changed",
        object_type="contact",
        object_id=str(contact_id),
        details={"from": "active", "to": "lost"},
        created_at=at,
    )


async def _world(app: Any, factory: Any, rng: random.Random) -> None:
    channels = [(await factory.channel(f"C{i}", f"s{i}"))["id"] for i in range(2)]
    owners = [(await factory.user("agent"))["id"], (await factory.user("agent"))["id"], None]
    async with app.state.services.db.session() as s:
        for c in range(40):
            contact = Contact(name=f"c{c}", owner_id=rng.choice(owners))
            s.add(contact)
            await s.flush()
            convs = []
            for ch in channels:
                ident = ContactIdentity(
                    contact_id=contact.id, channel_id=ch, external_id=f"{c}-{ch}"
                )
                s.add(ident)
                await s.flush()
                conv = Conversation(
                    channel_id=ch, contact_id=contact.id, identity_id=ident.id, status="resolved"
                )
                s.add(conv)
                convs.append(conv)
            await s.flush()
            seconds: set[int] = set()
            for k in range(rng.randint(0, 7)):
                at = _moment(rng)
                if int(at.timestamp()) in seconds:
                    continue  # one message per second: the latest one names the channel
                seconds.add(int(at.timestamp()))
                conv = rng.choice(convs)
                event = rng.random() < 0.12
                s.add(
                    Message(
                        conversation_id=conv.id,
                        channel_id=conv.channel_id,
                        direction="inbound" if rng.random() < 0.9 else "outbound",
                        sender_type="contact",
                        content_type="event" if event else "text",
                        content="" if event else "在吗",
                        extra={"event": rng.choice(("unsubscribe", "subscribe"))} if event else {},
                        external_id=f"m{c}-{k}",
                        created_at=at,
                    )
                )
            for k in range(rng.randint(0, 4)):
                day = (BASE + timedelta(days=rng.randint(0, 480))).date()
                amount = Decimal(rng.randint(1, 99999)) / 100
                s.add(
                    Order(
                        order_no=f"o{c}-{k}", contact_id=contact.id, ordered_at=day, amount=amount
                    )
                )
            if rng.random() < 0.1:
                s.add(_lost_mark(contact.id, _moment(rng)))
            if c == 39:
                contact.merged_into_id = contact.id - 1  # hidden from reports
        await s.flush()


async def _compare(s: Any, in_sql: bool = True) -> int:
    """The report (refreshing `churn_days` first) against the definitions over every
    history, for months, weeks and quarters, windows 30 and 90, each grouping; the
    customers counted (at start or recovered)."""
    counted = 0
    for period, since, until in (
        ("month", date(2025, 2, 1), date(2026, 5, 1)),
        ("week", date(2025, 3, 3), date(2025, 9, 1)),
        ("quarter", date(2025, 1, 1), date(2026, 7, 1)),
    ):
        spans = list(periods_between(since, until, period))
        end = local_midnight(spans[-1][1])
        histories = await load_histories(s, end)
        for window in (30, 90):
            for by in ("none", "channel", "owner"):
                got = await churn_report(s, None, period, since, until, by, window, in_sql=in_sql)
                want = []
                for a, b in spans:
                    rows = churn(histories, local_midnight(a), local_midnight(b), window, by)
                    want.extend(row_out(a, b, r) for r in sorted_rows(rows))
                for item in got:
                    item.pop("group_name")
                assert got == want, (period, window, by)
                counted += sum(i["customers_at_start"] + i["recovered"] for i in got)
    return counted


async def _changes(
    app: Any, factory: Any, rng: random.Random, messages: int = 25, orders: int = 15
) -> None:
    """What happens after the days were kept: new messages (some unsubscribes) and
    orders, an order moved to another customer, a merge and an unmerge, a lost mark."""
    boss = await factory.user("supervisor")
    viewer = Viewer(user=User(id=boss["id"], name="boss", role="supervisor"), channel_ids=None)
    async with app.state.services.db.session() as s:
        contacts = list(
            await s.scalars(
                select(Contact).where(Contact.merged_into_id.is_(None)).order_by(Contact.id)
            )
        )
        convs = list(await s.scalars(select(Conversation).order_by(Conversation.id)))
        for k in range(messages):
            conv = rng.choice(convs)
            event = rng.random() < 0.1
            at = _moment(rng) + timedelta(microseconds=k)
            s.add(_inbound(conv.id, conv.channel_id, at, event, f"later-{k}"))
        for k in range(orders):
            day = (BASE + timedelta(days=rng.randint(0, 480))).date()
            s.add(
                Order(
                    order_no=f"later-{k}",
                    contact_id=rng.choice(contacts).id,
                    ordered_at=day,
                    amount=Decimal(rng.randint(1, 99999)) / 100,
                )
            )
        moved = await s.scalar(select(Order).order_by(Order.id).limit(1))
        assert moved is not None
        moved.contact_id = (
            contacts[-1].id if moved.contact_id != contacts[-1].id else contacts[0].id
        )
        moved.updated_at = utcnow_for_models()
        s.add(_lost_mark(contacts[5].id, _moment(rng)))
        await s.flush()
        # Two merges, the second undone: conversations and orders move and move back.
        await merge_contacts(s, viewer, contacts[1], contacts[2])
        merge = await merge_contacts(s, viewer, contacts[3], contacts[4])
        await s.flush()
        await unmerge_contacts(s, viewer, contacts[3], merge.id)


@pytest.mark.parametrize("seed", [1, 2, 3])
async def test_sql_churn_equals_the_definitions(app: Any, factory: Any, seed: int) -> None:
    rng = random.Random(seed)
    await _world(app, factory, rng)
    async with app.state.services.db.session() as s:
        await refresh(s)
        # Hard churn events are counted in SQL too (`hard_day`).
        assert await s.scalar(select(func.count()).where(ChurnDay.hard_day.is_not(None)))
        assert await _compare(s) > 100  # the histories were not empty
    await _changes(app, factory, rng)
    async with app.state.services.db.session() as s:
        assert await _compare(s) > 100  # kept up to date by the refresh before each report


@pytest.mark.parametrize("seed", [1, 2])
async def test_lost_customers_of_a_group_equal_the_definitions(
    app: Any, factory: Any, seed: int
) -> None:
    """`lost_in` (what GET /reports/churn/lost answers from) names the same customers as
    the definitions over every history, for every group of every grouping, months and
    weeks, both windows, for a supervisor and for an owner."""
    await _world(app, factory, random.Random(seed))
    async with app.state.services.db.session() as s:
        await refresh(s)
        owner = await s.scalar(select(Contact.owner_id).where(Contact.owner_id.is_not(None)))
        viewers = [
            None,
            Viewer(user=User(id=owner, name="agent", role="agent"), channel_ids=None),
        ]
        named = 0
        for viewer in viewers:
            for period, since, until in (
                ("month", date(2025, 2, 1), date(2026, 5, 1)),
                ("week", date(2025, 3, 3), date(2025, 6, 2)),
            ):
                spans = list(periods_between(since, until, period))
                histories = await load_histories(s, local_midnight(spans[-1][1]), viewer)
                for a, b in spans:
                    for window in (30, 90):
                        for by in ("none", "channel", "owner"):
                            rows = churn(
                                histories, local_midnight(a), local_midnight(b), window, by
                            )
                            for group, row in rows.items():
                                got = await lost_in(s, (a, b), window, viewer, None, by, group)
                                assert sorted(got) == sorted(row.lost_ids), (a, window, by)
                                named += len(got)
                            everyone = await lost_in(s, (a, b), window, viewer, None)
                            want = [i for r in rows.values() for i in r.lost_ids]
                            assert sorted(everyone) == sorted(want), (a, window, by)
        assert named > 50  # the lists were not empty


async def test_the_days_are_refreshed_for_changed_customers_only(app: Any, factory: Any) -> None:
    """A refresh after changes rewrites the changed customers (not everyone), and the
    report counts from the days it keeps: without a refresh, the figures are stale."""
    rng = random.Random(4)
    await _world(app, factory, rng)
    now = utcnow_for_models()
    async with app.state.services.db.session() as s:
        # The world was made two hours ago, kept an hour ago and half an hour ago.
        await s.execute(update(Order).values(updated_at=now - timedelta(hours=2)))
        await s.execute(delete(ChurnDayMark))
        assert await refresh(s, now - timedelta(hours=1)) is None  # no mark: everyone
        await refresh(s, now - timedelta(minutes=30))
        assert await refresh(s, now) == 0  # nothing changed since
        before = await churn_by_sql(s, [(date(2026, 1, 1), date(2026, 2, 1))], 90, "none", None)
    await _changes(app, factory, rng, messages=3, orders=2)
    async with app.state.services.db.session() as s:
        stale = await churn_by_sql(s, [(date(2026, 1, 1), date(2026, 2, 1))], 90, "none", None)
        assert row_out(0, 0, stale[0][None]) == row_out(0, 0, before[0][None])
        changed = await refresh(s)
        # 3 messages, 2 orders, 1 moved order (2 customers), 1 lost mark, 2 merges (4).
        assert changed is not None and 0 < changed <= 12
        assert await _compare(s) > 100


def test_moments_are_aware() -> None:
    assert _moment(random.Random(0)).tzinfo is not None
    assert datetime(2024, 12, 31, 16, tzinfo=UTC) == BASE


async def test_the_worker_keeps_the_days(app: Any, factory: Any) -> None:
    """The retention worker's minute pass rewrites the changed customers' days: what the
    report counts afterwards, without its own refresh, is what a refresh gives."""
    rng = random.Random(5)
    await _world(app, factory, rng)
    spans = list(periods_between(date(2025, 2, 1), date(2026, 5, 1), "month"))
    async with app.state.services.db.session() as s:
        await refresh(s)
        before = await churn_by_sql(s, spans, 90, "channel", None)
    await _changes(app, factory, rng)
    await refresh_once(app.state.services.db)
    async with app.state.services.db.session() as s:
        kept = await churn_by_sql(s, spans, 90, "channel", None)
        await refresh(s)
        assert kept == await churn_by_sql(s, spans, 90, "channel", None)
    assert kept != before


async def test_revenue_counts_the_year_before_the_start_to_the_day(app: Any) -> None:
    """Hand-worked: March 2026 starts on s = 2026-03-01; the year before it is
    [2025-03-01, 2026-03-01). Customer a ordered 1.00 on 2025-02-28 (a day too early),
    10.00 on 2025-03-01 and 100.00 on 2026-02-19: 110.00 (the early order is within a
    year of the last one, so the spend before the year is looked up). Customer b ordered
    5.00 on 2025-03-01 and 20.00 on 2026-02-24: 25.00. Both are at the start, neither
    lost (their last interaction plus 90 days is after the end of March)."""
    async with app.state.services.db.session() as s:
        for name, orders in (
            ("a", (("2025-02-28", "1.00"), ("2025-03-01", "10.00"), ("2026-02-19", "100.00"))),
            ("b", (("2025-03-01", "5.00"), ("2026-02-24", "20.00"))),
        ):
            contact = Contact(name=name)
            s.add(contact)
            await s.flush()
            for k, (day, amount) in enumerate(orders):
                s.add(
                    Order(
                        order_no=f"{name}{k}",
                        contact_id=contact.id,
                        ordered_at=date.fromisoformat(day),
                        amount=Decimal(amount),
                    )
                )
    async with app.state.services.db.session() as s:
        (march,) = await churn_report(s, None, "month", date(2026, 3, 1), date(2026, 4, 1))
    assert (march["customers_at_start"], march["lost"]) == (2, 0)
    assert march["revenue_at_start"] == "135.00"


async def test_hard_churn_on_the_day_of_the_last_interaction(app: Any, factory: Any) -> None:
    """A hard churn event compares with the exact last interaction: an unsubscribe a
    second before, at, or a second after the day's last message (and on a day with only
    an order, which counts at the day's start), the next day, at or just before a China
    midnight that starts a period, a lost mark; the SQL path counts what the definitions
    do, and whole-second times stored without microseconds (as bulk writers leave them on
    SQLite) compare the same."""
    (ch,) = [(await factory.channel("H", "sh"))["id"]]
    april = local_midnight(date(2025, 4, 1))  # a month, a quarter, not a week start
    monday = local_midnight(date(2025, 6, 2))
    noon = timedelta(hours=4)  # 20:00 UTC the day before is noon in Shanghai
    cases: list[tuple[list[datetime], list[date], list[datetime], datetime | None]] = [
        # (messages, order days, unsubscribes, lost mark)
        ([april - noon], [], [april - noon - timedelta(seconds=1)], None),
        ([april - noon], [], [april - noon], None),
        ([april - noon], [], [april - noon + timedelta(seconds=1)], None),
        ([april - noon], [], [april - timedelta(seconds=1)], None),
        ([april - noon], [], [april], None),
        ([april - noon], [], [april + timedelta(days=3)], None),
        ([], [date(2025, 3, 31)], [april - noon], None),
        ([], [date(2025, 3, 31)], [april - timedelta(days=1)], None),
        ([monday - timedelta(days=10)], [], [monday - timedelta(microseconds=1)], None),
        ([monday - timedelta(days=10)], [], [monday], None),
        ([april - noon, april + noon], [], [april + noon], None),
        ([april - noon, april + noon], [], [april + noon + timedelta(hours=1)], None),
        ([april - noon, april + timedelta(days=40)], [], [april + timedelta(days=2)], None),
        ([april - noon], [], [], april - noon),
        ([april - noon], [], [], april - noon - timedelta(seconds=1)),
        ([april - noon], [], [], april + timedelta(days=5)),
        ([april - noon], [date(2025, 3, 31)], [april - noon - timedelta(hours=2)], None),
    ]
    async with app.state.services.db.session() as s:
        for k, (messages, orders, unsubscribes, mark) in enumerate(cases):
            contact = Contact(name=f"h{k}")
            s.add(contact)
            await s.flush()
            ident = ContactIdentity(contact_id=contact.id, channel_id=ch, external_id=f"h{k}")
            s.add(ident)
            await s.flush()
            conv = Conversation(
                channel_id=ch, contact_id=contact.id, identity_id=ident.id, status="resolved"
            )
            s.add(conv)
            await s.flush()
            events = [(at, False) for at in messages] + [(at, True) for at in unsubscribes]
            for j, (at, event) in enumerate(events):
                s.add(_inbound(conv.id, ch, at, event, f"h{k}-{j}"))
            for j, day in enumerate(orders):
                s.add(Order(order_no=f"h{k}-{j}", contact_id=contact.id, ordered_at=day, amount=1))
            if mark is not None:
                s.add(_lost_mark(contact.id, mark))
        await s.flush()
        if s.get_bind().dialect.name == "sqlite":
            for table in ("messages", "audit_log"):
                await s.execute(
                    text(
                        f"UPDATE {table} SET created_at = substr(created_at, 1, 19)"  # noqa: S608
                        " WHERE created_at LIKE '%.000000'"
                    )
                )
    async with app.state.services.db.session() as s:
        await refresh(s)
        same_day = select(func.count()).where(ChurnDay.hard_day == ChurnDay.day)
        assert await s.scalar(same_day) == 8  # at or after the day's last interaction
        assert await _compare(s) > 20
