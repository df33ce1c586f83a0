"""REST API for retention (CONTRACT section 11): the churn report and its lost customers.

Supervisors and admins see every customer; an agent sees the customers they own.
"""

from __future__ import annotations

import csv
import io
from datetime import date
from typing import Annotated, Any

from fastapi import APIRouter, Query
from fastapi.responses import Response

from app.deps import SessionDep, ViewerDep
from app.errors import BadRequest
from app.retention.churn import DEFAULT_WINDOW_DAYS
from app.retention.churn_days import refresh as refresh_churn_days
from app.retention.churn_sql import lost_in
from app.retention.periods import local_midnight, next_start, period_start
from app.retention.queries import lost_facts
from app.retention.report import EARLIEST, LATEST, churn_report, default_range

router = APIRouter(prefix="/api/v1", tags=["retention"])

PeriodQuery = Annotated[str, Query(pattern="^(week|month|quarter)$")]
WindowQuery = Annotated[int, Query(ge=1, le=365)]


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
    items = await churn_report(session, viewer, period, since, until, by, window_days)
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
    # Counted in SQL over `churn_days` brought up to date first, as the report is
    # (app/retention/churn_sql.py; the same customers as the definitions over every
    # history, which took seconds at 100,000 customers).
    await refresh_churn_days(session)
    await session.commit()
    if by != "none" and group is not None:
        wanted = None if group == "none" else int(group)
        ids = await lost_in(session, (start, end), window_days, viewer, None, by, wanted)
    else:
        ids = await lost_in(session, (start, end), window_days, viewer, None)
    items = await lost_facts(session, ids, local_midnight(end))
    items.sort(key=lambda x: x["contact"]["id"])
    return {"period_start": start, "period_end": end, "items": items}
