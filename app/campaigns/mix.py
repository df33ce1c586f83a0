"""New, returning and loyal invitees, and the 5:2:1 mix the shops' own guide suggests.

The definitions (shown on the /campaigns page too), from the customer's orders and first
interaction, as of the moment the customer is listed:
- `new`: no order yet, or first interaction less than NEW_DAYS days ago;
- `loyal`: at least LOYAL_ORDERS orders and first interaction at least LOYAL_DAYS days ago;
- `returning`: everyone else (has ordered, known for a while, not yet loyal).
The first interaction is the earliest of the customer's first contact with us (when the
record was made) and their first order.
"""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.models import Contact, Order

NEW_DAYS = 90  # a quarter: still getting to know the shop
LOYAL_ORDERS = 3  # bought three times or more
LOYAL_DAYS = 365  # ... over at least a year
SEGMENTS = ("new", "returning", "loyal")
SUGGESTED = {"new": 5, "returning": 2, "loyal": 1}  # the source document's 5:2:1


def segment_for(orders: int, first_interaction: datetime, now: datetime) -> str:
    """One customer's segment from their order count and first interaction."""
    age = now - first_interaction
    if orders == 0 or age < timedelta(days=NEW_DAYS):
        return "new"
    if orders >= LOYAL_ORDERS and age >= timedelta(days=LOYAL_DAYS):
        return "loyal"
    return "returning"


async def segments_of(
    session: AsyncSession, contacts: list[Contact], now: datetime
) -> dict[int, str]:
    ids = [c.id for c in contacts]
    if not ids:
        return {}
    rows = (
        await session.execute(
            select(Order.contact_id, func.count(), func.min(Order.ordered_at))
            .where(Order.contact_id.in_(ids))
            .group_by(Order.contact_id)
        )
    ).all()
    orders = {cid: (int(n), first) for cid, n, first in rows}
    out: dict[int, str] = {}
    for c in contacts:
        n, first_order = orders.get(c.id, (0, None))
        first = c.created_at
        if first_order is not None:
            first = min(first, datetime.combine(first_order, time(0), UTC))
        out[c.id] = segment_for(n, first, now)
    return out


def mix_out(counts: dict[str, int]) -> dict[str, object]:
    """Counts per segment, and what 5:2:1 would be for the same number of invitees."""
    total = sum(counts.get(s, 0) for s in SEGMENTS)
    weight = sum(SUGGESTED.values())
    return {
        **{s: counts.get(s, 0) for s in SEGMENTS},
        "total": total,
        "suggested_ratio": SUGGESTED,
        "suggested": {s: round(total * SUGGESTED[s] / weight) for s in SEGMENTS},
    }
