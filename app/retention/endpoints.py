"""REST API for retention (CONTRACT section 11): the churn report and its lost customers.

Supervisors and admins see every customer; an agent sees the customers they own.
"""

from __future__ import annotations

import csv
import io
from datetime import date, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Query
from fastapi.responses import Response
from sqlalchemy import select

from app.deps import SessionDep, ViewerDep
from app.errors import BadRequest
from app.models import Channel, User, utcnow_for_models
from app.retention.churn import DEFAULT_WINDOW_DAYS, churn, row_out, sorted_rows
from app.retention.periods import (
    local_date,
    local_midnight,
    next_start,
    period_start,
    periods_between,
)
from app.retention.queries import load_histories, lost_facts

router = APIRouter(prefix="/api/v1", tags=["retention"])

PeriodQuery = Annotated[str, Query(pattern="^(week|month|quarter)$")]
WindowQuery = Annotated[int, Query(ge=1, le=365)]
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


async def _group_names(session: SessionDep, by: str, ids: set[Any]) -> dict[Any, str]:
    ids = {i for i in ids if i is not None}
    if by == "none" or not ids:
        return {}
    model = Channel if by == "channel" else User
    rows = await session.execute(select_names(model, ids))
    return {i: n for i, n in rows}


def select_names(model: Any, ids: set[int]) -> Any:
    return select(model.id, model.name).where(model.id.in_(sorted(ids)))


@router.get("/reports/churn")
async def get_churn(
    session: SessionDep,
    viewer: ViewerDep,
    period: PeriodQuery = "month",
    since: date | None = None,
    until: date | None = None,
    by: Annotated[str, Query(pattern="^(none|channel|owner)$")] = "none",
    window_days: WindowQuery = DEFAULT_WINDOW_DAYS,
    format: Annotated[str, Query(pattern="^(json|csv)$")] = "json",
) -> Any:
    """Churn per period (and group), oldest period first; `format=csv` as a CSV file."""
    since, until = default_range(period, since, until)
    spans = list(periods_between(since, until, period))
    if len(spans) > MAX_PERIODS:
        raise BadRequest(f"since/until: at most {MAX_PERIODS} periods")
    histories = await load_histories(session, local_midnight(spans[-1][1]), viewer)
    items: list[dict[str, Any]] = []
    for start, end in spans:
        rows = churn(histories, local_midnight(start), local_midnight(end), window_days, by)
        items.extend(row_out(start, end, r) for r in sorted_rows(rows))
    names = await _group_names(session, by, {i["group"] for i in items})
    for item in items:
        item["group_name"] = names.get(item["group"])
    if format == "csv":
        return _csv(items, f"churn-{period}-{since}-{until}.csv")
    return {"period": period, "by": by, "window_days": window_days, "items": items}


CSV_COLUMNS = (
    "period_start",
    "period_end",
    "group",
    "group_name",
    "customers_at_start",
    "lost",
    "churn_rate",
    "revenue_at_start",
    "revenue_lost",
    "revenue_churn_rate",
    "recovered",
)


def _cell(value: Any) -> str:
    """Text for a spreadsheet: a cell a spreadsheet would run as a formula is quoted."""
    text = "" if value is None else str(value)
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


def _csv(items: list[dict[str, Any]], filename: str) -> Response:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(CSV_COLUMNS)
    for item in items:
        writer.writerow([_cell(item[c]) for c in CSV_COLUMNS])
    return Response(
        "\ufeff" + out.getvalue(),  # BOM: Excel opens UTF-8 (Chinese names) correctly
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )


@router.get("/reports/churn/lost")
async def get_churn_lost(
    session: SessionDep,
    viewer: ViewerDep,
    period_start_: Annotated[date, Query(alias="period_start")],
    period: PeriodQuery = "month",
    window_days: WindowQuery = DEFAULT_WINDOW_DAYS,
    by: Annotated[str, Query(pattern="^(none|channel|owner)$")] = "none",
    group: Annotated[str | None, Query(pattern=r"^(none|\d{1,10})$")] = None,
) -> dict[str, Any]:
    """The lost customers of one period with the service facts before they left."""
    if not EARLIEST <= period_start_ < LATEST:
        raise BadRequest(f"period_start: between {EARLIEST} and {LATEST}")
    start = period_start(period_start_, period)
    end = next_start(start, period)
    s, e = local_midnight(start), local_midnight(end)
    histories = await load_histories(session, e, viewer)
    rows = churn(histories, s, e, window_days, by)
    if by != "none" and group is not None:
        wanted: int | None = None if group == "none" else int(group)
        ids = rows[wanted].lost_ids if wanted in rows else []
    else:
        ids = [i for r in rows.values() for i in r.lost_ids]
    items = await lost_facts(session, ids, e)
    items.sort(key=lambda x: x["contact"]["id"])
    return {"period_start": start, "period_end": end, "items": items}
