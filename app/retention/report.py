"""The churn report (CONTRACT section 11): periods, groups and their figures.

`churn.py` holds the definitions, pure, over customers' histories; this module answers
the report from SQL (`churn_sql.py`, over `churn_days`, refreshed first so the figures
are exact), or from those definitions (what the tests compare with), then adds the
groups' names.
"""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.accounts.viewer import Viewer
from app.errors import BadRequest
from app.models import Channel, User, utcnow_for_models
from app.retention.churn import DEFAULT_WINDOW_DAYS, ChurnRow, churn, row_out, sorted_rows
from app.retention.churn_days import refresh as refresh_churn_days
from app.retention.churn_sql import churn_by_sql
from app.retention.periods import (
    local_date,
    local_midnight,
    next_start,
    period_start,
    periods_between,
)
from app.retention.queries import load_histories

# Dates a report can ask about: far enough for any shop's history, and safely inside
# what date arithmetic and time zones can represent.
EARLIEST, LATEST = date(2000, 1, 1), date(2100, 1, 1)
MAX_PERIODS = 120  # ten years of months: a report bigger than this is a mistake


def default_range(period: str, since: date | None, until: date | None) -> tuple[date, date]:
    """Twelve periods up to and including the current one, unless given."""
    today = local_date(utcnow_for_models())
    until = until or next_start(period_start(today, period), period)
    if since is None:
        since = until - timedelta(days=1)
        for _ in range(11):
            since = period_start(since, period) - timedelta(days=1)
        since = period_start(since, period)
    if not (since >= EARLIEST and until <= LATEST):
        raise BadRequest(f"since/until: between {EARLIEST} and {LATEST}")
    if since >= until:
        raise BadRequest("since: must be before until")
    return since, until


async def _group_names(session: AsyncSession, by: str, ids: set[Any]) -> dict[Any, str]:
    ids = {i for i in ids if i is not None}
    if by == "none" or not ids:
        return {}
    model = Channel if by == "channel" else User
    rows = await session.execute(select_names(model, ids))
    return {i: n for i, n in rows}


def select_names(model: Any, ids: set[int]) -> Any:
    return select(model.id, model.name).where(model.id.in_(sorted(ids)))


async def churn_in_sql(
    session: AsyncSession,
    spans: list[tuple[date, date]],
    window_days: int,
    by: str,
    viewer: Viewer | None,
) -> list[dict[Any, ChurnRow]]:
    """`churn_sql.churn_by_sql` over `churn_days` brought up to date first (exact)."""
    await refresh_churn_days(session)
    # Done with writing: not holding SQLite's writer (nor PostgreSQL's refresh lock)
    # while counting. A report writes nothing else.
    await session.commit()
    return await churn_by_sql(session, spans, window_days, by, viewer)


async def churn_report(
    session: AsyncSession,
    viewer: Viewer | None,
    period: str,
    since: date | None = None,
    until: date | None = None,
    by: str = "none",
    window_days: int = DEFAULT_WINDOW_DAYS,
    in_sql: bool | None = None,
) -> list[dict[str, Any]]:
    """The report's items, oldest period first, groups in a stable order.

    Counted in SQL over `churn_days`, brought up to date first (`in_sql=False`: the
    definitions over every customer's history instead, what the tests compare with)."""
    if in_sql is None:
        in_sql = True
    since, until = default_range(period, since, until)
    spans = list(periods_between(since, until, period))
    if len(spans) > MAX_PERIODS:
        raise BadRequest(f"since/until: at most {MAX_PERIODS} periods")
    if in_sql:
        per_period = await churn_in_sql(session, spans, window_days, by, viewer)
    else:
        histories = await load_histories(session, local_midnight(spans[-1][1]), viewer)
        per_period = [
            churn(histories, local_midnight(start), local_midnight(end), window_days, by)
            for start, end in spans
        ]
    items: list[dict[str, Any]] = []
    for (start, end), rows in zip(spans, per_period, strict=True):
        items.extend(row_out(start, end, r) for r in sorted_rows(rows))
    names = await _group_names(session, by, {i["group"] for i in items})
    for item in items:
        item["group_name"] = names.get(item["group"])
    return items
