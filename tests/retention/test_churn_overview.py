"""The /retention page's figures and lists (app/retention/overview.py, counted in SQL
over `churn_days`) equal the definitions over every customer's history: the monthly and
last whole week's churn, last month's lost customers (the biggest spenders before it first)
and the win-back list, for a supervisor and for an agent, at several moments (one a
China midnight), with lists cut short so the cut and the win-back batches are exercised."""

from __future__ import annotations

import random
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import select, update

from app.accounts.viewer import Viewer
from app.models import AuditLog, Contact, User
from app.retention import overview as page
from app.retention.churn import churn, money, row_out
from app.retention.periods import local_date, local_midnight
from app.retention.queries import load_histories, orphaned_ids
from tests.retention.test_churn_sql import _world

LOST_ROWS, WIN_BACK_ROWS = 3, 4


async def _reference(s: Any, viewer: Viewer, now: datetime) -> dict[str, Any]:
    """What the page showed when it read every history (before churn_days)."""
    today = local_date(now)
    months = page._starts(today, "month", page.MONTHS)
    weeks = page._starts(today, "week", 12)
    histories = await load_histories(s, local_midnight(months[-1][1]), viewer)

    def series(spans: list[tuple[date, date]]) -> list[dict[str, Any]]:
        return [
            row_out(a, b, churn(histories, local_midnight(a), local_midnight(b))[None])
            for a, b in spans
        ]

    last_s, last_e = (local_midnight(d) for d in months[-2])
    by_id = {h.contact_id: h for h in histories}
    lost = churn(histories, last_s, last_e)[None].lost_ids
    lost.sort(key=lambda c: (-by_id[c].spend(last_s - timedelta(days=36500), last_s), c))
    since = now - timedelta(days=page.WIN_BACK_DAYS)
    win = []
    for h in histories:
        at = page.lost_at(h)
        if at is not None and since <= at <= now:
            win.append((h.contact_id, at, money(sum((a for _, a in h.orders), Decimal(0)))))
    win.sort(key=lambda x: (-Decimal(x[2]), x[0]))
    return {
        "monthly": series(months),
        "summary": series(weeks)[-2],  # the last whole week
        "lost": lost[:LOST_ROWS],
        "win_back": win[:WIN_BACK_ROWS],
    }


@pytest.mark.parametrize("seed", [1, 2])
async def test_overview_equals_the_definitions(
    app: Any, factory: Any, seed: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(page, "LOST_ROWS", LOST_ROWS)
    monkeypatch.setattr(page, "AT_RISK_ROWS", WIN_BACK_ROWS)
    monkeypatch.setattr(page, "WIN_BACK_BATCH", 2)
    await _world(app, factory, random.Random(seed))
    async with app.state.services.db.session() as s:
        owner = await s.scalar(
            select(Contact.owner_id).where(Contact.owner_id.is_not(None)).limit(1)
        )
        assert owner is not None
    viewers = [
        Viewer(user=User(id=0, name="boss", role="supervisor"), channel_ids=None),
        Viewer(user=User(id=owner, name="agent", role="agent"), channel_ids=None),
    ]
    moments = [
        local_midnight(date(2025, 9, 1)),
        local_midnight(date(2025, 12, 17)) + timedelta(hours=15),
        local_midnight(date(2026, 3, 2)) - timedelta(seconds=1),
        local_midnight(date(2026, 5, 20)),
    ]
    shown = 0
    for viewer in viewers:
        for now in moments:
            async with app.state.services.db.session() as s:
                got = await page.overview(s, viewer, now)
                want = await _reference(s, viewer, now)
            assert got["monthly"] == want["monthly"], (viewer.role, now)
            assert got["summary"] == want["summary"], (viewer.role, now)
            assert [x["contact"]["id"] for x in got["lost"]] == want["lost"], (viewer.role, now)
            assert [
                (x["contact"]["id"], x["lost_at"], x["spend"]) for x in got["win_back"]
            ] == want["win_back"], (viewer.role, now)
            shown += len(want["lost"]) + len(want["win_back"])
    assert shown > 20  # the lists were not empty


async def test_owner_left_among_a_few_equals_everyone(app: Any, factory: Any) -> None:
    """`orphaned_ids(among=...)` (what the lost list asks for its fifty) is the full answer
    cut to those customers: an owner deactivated, and customers left without a successor."""
    await _world(app, factory, random.Random(3))
    async with app.state.services.db.session() as s:
        contacts = list(await s.scalars(select(Contact).order_by(Contact.id)))
        gone = next(c.owner_id for c in contacts if c.owner_id is not None)
        await s.execute(update(User).where(User.id == gone).values(active=False))
        orphans = [c for c in contacts if c.owner_id is None][:3]
        s.add(
            AuditLog(
                action="user.deactivated",
                object_type="user",
                object_id="0",
                details={"successor": None, "customers": [c.id for c in orphans]},
            )
        )
        await s.flush()
        everyone = await orphaned_ids(s)
        assert any(c.owner_id == gone for c in contacts if c.id in everyone)
        assert {c.id for c in orphans} <= everyone
        for among in ([c.id for c in contacts[::3]], [c.id for c in orphans[:1]], []):
            assert await orphaned_ids(s, among) == everyone & set(among)
