"""The churn report counted by the database equals the definitions in churn.py (the
oracle) on random histories stored as real rows: messages on two channels, orders,
unsubscribe events and lost marks, owners, a merged customer."""

from __future__ import annotations

import random
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest

from app.models import (
    AuditLog,
    Contact,
    ContactIdentity,
    Conversation,
    Message,
    Order,
)
from app.retention.churn import churn, row_out, sorted_rows
from app.retention.churn_sql import hard_churn_ids
from app.retention.periods import local_midnight, periods_between
from app.retention.queries import load_histories
from app.retention.report import churn_report

BASE = local_midnight(date(2025, 1, 1))


def _moment(rng: random.Random) -> datetime:
    """Often exactly on a China midnight or a second before one (the boundaries)."""
    day = BASE + timedelta(days=rng.randint(0, 480))
    return day + timedelta(seconds=rng.choice((0, -1, rng.randint(1, 86399))))


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
                s.add(
                    AuditLog(
                        action="contact.lifecycle_changed",
                        object_type="contact",
                        object_id=str(contact.id),
                        details={"from": "active", "to": "lost"},
                        created_at=_moment(rng),
                    )
                )
            if c == 39:
                contact.merged_into_id = contact.id - 1  # hidden from reports
        await s.flush()


@pytest.mark.parametrize("seed", [1, 2, 3])
async def test_sql_churn_equals_the_definitions(app: Any, factory: Any, seed: int) -> None:
    rng = random.Random(seed)
    await _world(app, factory, rng)
    counted = 0
    async with app.state.services.db.session() as s:
        for period, since, until in (
            ("month", date(2025, 2, 1), date(2026, 5, 1)),
            ("week", date(2025, 3, 3), date(2025, 9, 1)),
            ("quarter", date(2025, 1, 1), date(2026, 7, 1)),
        ):
            spans = list(periods_between(since, until, period))
            end = local_midnight(spans[-1][1])
            histories = await load_histories(s, end)
            assert await hard_churn_ids(s, end)  # the exact path is exercised too
            for window in (30, 90):
                for by in ("none", "channel", "owner"):
                    got = await churn_report(s, None, period, since, until, by, window, in_sql=True)
                    want = []
                    for a, b in spans:
                        rows = churn(histories, local_midnight(a), local_midnight(b), window, by)
                        want.extend(row_out(a, b, r) for r in sorted_rows(rows))
                    for item in got:
                        item.pop("group_name")
                    assert got == want, (period, window, by)
                    counted += sum(i["customers_at_start"] + i["recovered"] for i in got)
    assert counted > 100  # the histories were not empty


def test_moments_are_aware() -> None:
    assert _moment(random.Random(0)).tzinfo is not None
    assert datetime(2024, 12, 31, 16, tzinfo=UTC) == BASE
