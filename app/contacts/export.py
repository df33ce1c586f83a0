"""CSV export of the customers list (supervisors): one row per customer, streamed.

Customer text is hostile: every cell goes through the archive export's `_cell`, which
neutralises cells starting with = + - @ (CSV injection)."""

from __future__ import annotations

import csv
import io
from collections.abc import AsyncIterator
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import StreamingResponse
from sqlalchemy import func, select

from app.archive.export import _cell as csv_cell
from app.db import Database
from app.deps import SupervisorDep
from app.models import Contact, Order, User
from app.services import get_services

router = APIRouter(prefix="/api/v1", tags=["customers"])

COLUMNS = [
    "id",
    "name",
    "phone",
    "email",
    "owner",
    "marketing_consent",
    "follow_up_days",
    "next_follow_up_at",
    "last_interaction_at",
    "orders",
    "orders_total",
]
BATCH = 1000


def _line(values: list[Any]) -> str:
    out = io.StringIO()
    csv.writer(out).writerow([csv_cell(v) for v in values])
    return out.getvalue()


async def customer_rows(db: Database) -> AsyncIterator[str]:
    yield "\ufeff" + _line(COLUMNS)  # BOM: spreadsheet programs then read UTF-8
    after = 0
    while True:
        async with db.sessions() as session:
            contacts = list(
                await session.scalars(
                    select(Contact)
                    .where(Contact.id > after, Contact.merged_into_id.is_(None))
                    .order_by(Contact.id)
                    .limit(BATCH)
                )
            )
            if not contacts:
                return
            ids = [c.id for c in contacts]
            totals = {
                cid: (n, total)
                for cid, n, total in await session.execute(
                    select(Order.contact_id, func.count(), func.sum(Order.amount))
                    .where(Order.contact_id.in_(ids))
                    .group_by(Order.contact_id)
                )
            }
            owners = dict((await session.execute(select(User.id, User.name))).all())
        for c in contacts:
            n, total = totals.get(c.id, (0, 0))
            yield _line(
                [
                    c.id,
                    c.name,
                    c.phone,
                    c.email,
                    owners.get(c.owner_id, "") if c.owner_id else "",
                    "yes" if c.marketing_consent else "no",
                    c.follow_up_days,
                    c.next_follow_up_at.isoformat() if c.next_follow_up_at else "",
                    c.last_interaction_at.isoformat() if c.last_interaction_at else "",
                    n,
                    f"{float(total or 0):.2f}",
                ]
            )
        after = contacts[-1].id


@router.get("/customers/export")
async def export_customers(request: Request, viewer: SupervisorDep) -> StreamingResponse:
    """Every customer (not merged away) as CSV, streamed in batches."""
    return StreamingResponse(
        customer_rows(get_services(request).db),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": 'attachment; filename="customers.csv"'},
    )
