"""What the /retention page shows, read in one place: churn over time, this period
beside the last, the at-risk list, last period's lost customers, tiers, the win-back
list and the weekly summary. Agents see their own customers only.

Churn is counted in SQL over `churn_days` (the report's path, brought up to date
first), and the two lists read only their first rows from it: no customer's whole
history is loaded but those of the win-back candidates shown, whose exact `lost_at`
the definitions give (tests/retention/test_churn_overview.py compares the figures and lists
with the definitions over all histories)."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import Numeric, cast, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.accounts.viewer import Viewer
from app.models import Contact, RetentionScore, User
from app.retention.churn import DEFAULT_WINDOW_DAYS, ChurnRow, History, money, row_out
from app.retention.churn_sql import churn_by_sql, lost_between, lost_in
from app.retention.periods import local_date, local_midnight, next_start, period_start
from app.retention.queries import load_histories, lost_facts
from app.retention.report import churn_in_sql

AT_RISK_ROWS = 50
LOST_ROWS = 50  # last period's lost customers shown, biggest spenders first
WIN_BACK_BATCH = AT_RISK_ROWS + 10  # candidates read (and checked exactly) at a time: the
# ones on the first and last day may fall outside by the hour
WIN_BACK_DAYS = 180  # CONTRACT/issue 17: customers lost in the last 180 days
MONTHS = 12


def _starts(today: date, period: str, n: int) -> list[tuple[date, date]]:
    """The last `n` periods up to and including the current one, oldest first."""
    start = period_start(today, period)
    spans = []
    for _ in range(n):
        spans.append((start, next_start(start, period)))
        start = period_start(start - timedelta(days=1), period)
    return spans[::-1]


def series(rows: list[dict[Any, ChurnRow]], spans: list[tuple[date, date]]) -> list[dict[str, Any]]:
    return [
        row_out(start, end, by_group.get(None, ChurnRow(group=None)))
        for (start, end), by_group in zip(spans, rows, strict=True)
    ]


def lost_at(h: History, window_days: int = DEFAULT_WINDOW_DAYS) -> datetime | None:
    """When a customer became lost: a hard churn after their last interaction, or their
    last interaction plus W days (None while neither has happened)."""
    if not h.interactions:
        return h.hard_churn[-1] if h.hard_churn else None
    last = h.interactions[-1][0]
    churned = [c for c in h.hard_churn if c >= last]
    return churned[0] if churned else last + timedelta(days=window_days)


async def at_risk(session: AsyncSession, viewer: Viewer) -> list[dict[str, Any]]:
    """The first page: by risk, then value (the same score goes to the customer who spends
    more), all ordered by the database so a tie across the page's edge is still right."""
    spend = cast(RetentionScore.spend_365, Numeric(14, 2))
    stmt = (
        select(RetentionScore, Contact.name, Contact.owner_id, User.name)
        .join(Contact, Contact.id == RetentionScore.contact_id)
        .outerjoin(User, User.id == Contact.owner_id)
        .where(RetentionScore.band.in_(["high", "medium"]), Contact.merged_into_id.is_(None))
        .order_by(RetentionScore.score.desc(), spend.desc(), RetentionScore.contact_id)
        .limit(AT_RISK_ROWS)
    )
    if not viewer.is_supervisor:
        stmt = stmt.where(Contact.owner_id == viewer.id)
    return [
        {
            "contact": {"id": r.contact_id, "name": name},
            "owner": {"id": owner_id, "name": owner} if owner_id else None,
            "risk": r.risk_out(),
            "tier": r.tier,
            "high_value": r.high_value,
            "spend_365": r.spend_365,
        }
        for r, name, owner_id, owner in await session.execute(stmt)
    ]


async def tier_counts(session: AsyncSession, viewer: Viewer) -> dict[str, int]:
    stmt = (
        select(RetentionScore.tier, func.count())
        .join(Contact, Contact.id == RetentionScore.contact_id)
        .where(RetentionScore.tier.is_not(None))
        .group_by(RetentionScore.tier)
    )
    if not viewer.is_supervisor:
        stmt = stmt.where(Contact.owner_id == viewer.id)
    return {str(tier): int(n) for tier, n in await session.execute(stmt)}


async def win_back(
    session: AsyncSession, viewer: Viewer, until: datetime, now: datetime
) -> list[dict[str, Any]]:
    """Lost in the last 180 days, biggest spenders first: each is worked as a task.

    The candidates come from `churn_days` by day, in the list's order; each one's exact
    `lost_at` (the histories before `until`) decides, a batch at a time."""
    since = now - timedelta(days=WIN_BACK_DAYS)
    days = (local_date(since), local_date(now))
    found: list[tuple[int, datetime, Decimal]] = []
    skip = 0
    while len(found) < AT_RISK_ROWS:
        ids = await lost_between(
            session, local_date(until), days, DEFAULT_WINDOW_DAYS, viewer, WIN_BACK_BATCH, skip
        )
        skip += len(ids)
        read = await load_histories(session, until, viewer, set(ids))
        histories = {h.contact_id: h for h in read}
        for cid in ids:
            h = histories.get(cid)
            at = lost_at(h) if h is not None else None
            if h is not None and at is not None and since <= at <= now:
                found.append((cid, at, sum((a for _, a in h.orders), Decimal(0))))
        if len(ids) < WIN_BACK_BATCH:
            break
    found = found[:AT_RISK_ROWS]
    names = (
        dict(
            (
                await session.execute(
                    select(Contact.id, Contact.name).where(Contact.id.in_([f[0] for f in found]))
                )
            ).all()
        )
        if found
        else {}
    )
    return [
        {"contact": {"id": cid, "name": names.get(cid, "")}, "lost_at": at, "spend": money(spend)}
        for cid, at, spend in found
    ]


async def overview(session: AsyncSession, viewer: Viewer, now: datetime) -> dict[str, Any]:
    today = local_date(now)
    months = _starts(today, "month", MONTHS)
    # The page shows one week: the last whole one (from Monday), not a weekly series.
    last_week = _starts(today, "week", 2)[:1]
    w = DEFAULT_WINDOW_DAYS
    monthly = series(await churn_in_sql(session, months, w, "none", viewer), months)
    # churn_days was just brought up to date: counted as it stands.
    (summary,) = series(await churn_by_sql(session, last_week, w, "none", viewer), last_week)
    last_e = local_midnight(months[-2][1])
    lost_ids = await lost_in(session, months[-2], w, viewer, LOST_ROWS)
    lost = await lost_facts(session, lost_ids, last_e)
    order = {cid: k for k, cid in enumerate(lost_ids)}
    lost.sort(key=lambda x: order[x["contact"]["id"]])
    peak = max((m["churn_rate"] or 0 for m in monthly), default=0) or 1
    return {
        "monthly": monthly,
        "current": monthly[-1],
        "previous": monthly[-2],
        "summary": summary,
        "peak": peak,
        "at_risk": await at_risk(session, viewer),
        "lost": lost,
        "tiers": await tier_counts(session, viewer),
        "win_back": await win_back(session, viewer, local_midnight(months[-1][1]), now),
    }
