"""CSV import of orders: all or nothing, idempotent on `order_no`.

Every row is checked before anything is stored (orders_csv.py): a file with a bad row
answers 400 naming every bad row. A customer is found by contact_id, phone, WeChat
openid, Douyin open_id or any identity's external id; an order that matches nobody
waits in the unmatched list.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal
from typing import Any, cast

from sqlalchemy import Table, delete, insert, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from app.contacts.actions.orders import (
    WARRANTY_NOTICE_DAYS,
    add_months,
    set_items,
    warranty_tasks,
)
from app.contacts.actions.orders_csv import (
    MATCH_COLUMNS,
    ImportRefused,
    _decode,
    _message,
    _Parsed,
    parse_orders,
)
from app.contacts.actions.task_events import announce_created
from app.contacts.calendar import day_start, today
from app.models import (
    Channel,
    Contact,
    ContactIdentity,
    Order,
    OrderItem,
    Task,
    TaskKind,
    TaskStatus,
    utcnow_for_models,
)

__all__ = ["ImportRefused", "_message", "import_orders", "parse_orders"]
CHUNK = 500  # ids per IN (...) lookup
ORDERS = cast(Table, Order.__table__)
ORDER_ITEMS = cast(Table, OrderItem.__table__)


def _chunks(values: Iterable[Any]) -> Iterable[list[Any]]:
    batch: list[Any] = []
    for v in values:
        batch.append(v)
        if len(batch) == CHUNK:
            yield batch
            batch = []
    if batch:
        yield batch


async def _match(session: AsyncSession, parsed: list[_Parsed]) -> dict[str, int | None]:
    """order_no -> contact id (merged contacts resolve to where they went), or None."""
    wanted: dict[str, set[str]] = {c: set() for c in MATCH_COLUMNS}
    for p in parsed:
        for c, v in p.keys.items():
            wanted[c].add(v)
    found: dict[str, dict[str, int]] = {c: {} for c in MATCH_COLUMNS}
    for batch in _chunks(sorted(int(v) for v in wanted["contact_id"])):
        for cid, merged in await session.execute(
            select(Contact.id, Contact.merged_into_id).where(Contact.id.in_(batch))
        ):
            found["contact_id"][str(cid)] = merged or cid
    for batch in _chunks(sorted(wanted["phone"])):
        for cid, phone in await session.execute(
            select(Contact.id, Contact.phone).where(
                Contact.phone.in_(batch), Contact.merged_into_id.is_(None)
            )
        ):
            if phone is not None:
                found["phone"].setdefault(phone, cid)
    for column, channel_type in (
        ("wechat_openid", "wechat"),
        ("douyin_open_id", "douyin"),
        ("external_id", None),
    ):
        for batch in _chunks(sorted(wanted[column])):
            stmt = select(ContactIdentity.contact_id, ContactIdentity.external_id).where(
                ContactIdentity.external_id.in_(batch)
            )
            if channel_type is not None:
                stmt = stmt.join(Channel, Channel.id == ContactIdentity.channel_id).where(
                    Channel.type == channel_type
                )
            for cid, ext in await session.execute(stmt):
                found[column].setdefault(ext, cid)
    out: dict[str, int | None] = {}
    for p in parsed:
        out[p.order.order_no] = next(
            (found[c][p.keys[c]] for c in MATCH_COLUMNS if p.keys.get(c) in found[c]), None
        )
    return out


def _same(order: Order, items: list[OrderItem], p: _Parsed, contact_id: int | None) -> bool:
    mine = [(i.name, i.quantity, i.warranty_months) for i in items]
    theirs = [(i.name, i.quantity, i.warranty_months) for i in p.items]
    return (
        order.ordered_at == p.order.ordered_at
        and Decimal(order.amount) == p.order.amount
        and mine == theirs
        and (order.contact_id == contact_id or contact_id is None)
    )


async def import_orders(session: AsyncSession, body: bytes) -> dict[str, int]:
    parsed = parse_orders(_decode(body))
    matches = await _match(session, parsed)
    existing: dict[str, Order] = {}
    for batch in _chunks([p.order.order_no for p in parsed]):
        for order in await session.scalars(select(Order).where(Order.order_no.in_(batch))):
            existing[order.order_no] = order
    items: dict[int, list[OrderItem]] = {}
    for batch in _chunks([o.id for o in existing.values()]):
        for item in await session.scalars(
            select(OrderItem).where(OrderItem.order_id.in_(batch)).order_by(OrderItem.position)
        ):
            items.setdefault(item.order_id, []).append(item)
    updated = unmatched = 0
    now = utcnow_for_models()
    new: list[_Parsed] = []
    changed: list[Order] = []
    for p in parsed:
        contact_id = matches[p.order.order_no]
        found = existing.get(p.order.order_no)
        if found is None:
            new.append(p)
            unmatched += contact_id is None
            continue
        if not _same(found, items.get(found.id, []), p, contact_id):
            found.ordered_at = p.order.ordered_at
            found.amount = p.order.amount
            found.match_keys = p.keys
            if contact_id is not None:
                found.contact_id = contact_id
            found.updated_at = now
            await session.execute(delete(OrderItem).where(OrderItem.order_id == found.id))
            set_items(session, found, p.items)
            updated += 1
            changed.append(found)
        unmatched += found.contact_id is None
    await session.flush()
    warranties = await _insert_new(session, new, matches, now)
    for order in changed:
        if order.contact_id is not None:
            contact = await session.get(Contact, order.contact_id)
            assert contact is not None
            await warranty_tasks(session, order, contact)
    await _touch_contacts(session, [*new], matches, changed)
    await _warranty_tasks_bulk(session, warranties, now)
    return {"created": len(new), "updated": updated, "unmatched": unmatched}


@dataclass
class _Warranty:
    item_id: int
    contact_id: int
    order_no: str
    name: str
    until: date


async def _insert_new(
    session: AsyncSession,
    new: list[_Parsed],
    matches: dict[str, int | None],
    now: Any,
) -> list[_Warranty]:
    """New orders and their items in a few multi-row inserts (a 100,000-row file is a
    few hundred statements, not 200,000)."""
    warranties: list[_Warranty] = []
    for batch in _chunks(new):
        rows = [
            {
                "order_no": p.order.order_no,
                "contact_id": matches[p.order.order_no],
                "ordered_at": p.order.ordered_at,
                "amount": p.order.amount,
                "match_keys": p.keys,
                "source": "import",
                "created_at": now,
                "updated_at": now,
            }
            for p in batch
        ]
        # Core executemany, no RETURNING: on SQLite, RETURNING in parameter order is one
        # INSERT per row (see app/db.py); the ids come back by the unique order_no instead.
        await session.execute(insert(ORDERS), rows)
        nos = [p.order.order_no for p in batch]
        ids = dict(
            (
                await session.execute(
                    select(Order.order_no, Order.id).where(Order.order_no.in_(nos))
                )
            ).all()
        )
        item_rows = [
            {
                "order_id": ids[p.order.order_no],
                "position": n,
                "name": item.name,
                "quantity": item.quantity,
                "warranty_months": item.warranty_months,
                "warranty_until": add_months(p.order.ordered_at, item.warranty_months)
                if item.warranty_months
                else None,
            }
            for p in batch
            for n, item in enumerate(p.items)
        ]
        if not item_rows:
            continue
        await session.execute(insert(ORDER_ITEMS), item_rows)
        if not any(r["warranty_until"] for r in item_rows):
            continue
        by_order = {oid: no for no, oid in ids.items()}
        today_ = today()
        for item_id, order_id, name, until in await session.execute(
            select(
                OrderItem.id, OrderItem.order_id, OrderItem.name, OrderItem.warranty_until
            ).where(
                OrderItem.order_id.in_(list(by_order)),
                OrderItem.warranty_until >= today_,
            )
        ):
            contact_id = matches[by_order[order_id]]
            if contact_id is not None and until is not None:
                warranties.append(_Warranty(item_id, contact_id, by_order[order_id], name, until))
    return warranties


async def _warranty_tasks_bulk(
    session: AsyncSession, warranties: list[_Warranty], now: Any
) -> None:
    if not warranties:
        return
    owners: dict[int, int | None] = {}
    for batch in _chunks(sorted({w.contact_id for w in warranties})):
        owners.update(
            dict(
                (
                    await session.execute(
                        select(Contact.id, Contact.owner_id).where(Contact.id.in_(batch))
                    )
                ).all()
            )
        )
    dialect = session.get_bind().dialect.name
    insert_ = postgresql.insert if dialect == "postgresql" else sqlite.insert
    made: list[int] = []
    for batch in _chunks(warranties):
        rows = [
            {
                "kind": TaskKind.WARRANTY,
                "title": f"保修 {w.until.isoformat()} 到期: {w.name} ({w.order_no})"[:300],
                "contact_id": w.contact_id,
                "assignee_id": owners.get(w.contact_id),
                "due_at": day_start(w.until - timedelta(days=WARRANTY_NOTICE_DAYS)),
                "status": TaskStatus.OPEN,
                "source": "order",
                "occasion_key": f"warranty:{w.item_id}",
                "snoozed_count": 0,
                "created_at": now,
                "updated_at": now,
            }
            for w in batch
        ]
        stmt = insert_(Task).on_conflict_do_nothing(index_elements=["occasion_key"])
        result = await session.execute(stmt.returning(Task.id), rows)
        made.extend(result.scalars().all())
    await announce_created(session, made, "import")


async def _touch_contacts(
    session: AsyncSession,
    new: list[_Parsed],
    matches: dict[str, int | None],
    changed: list[Order],
) -> None:
    """An order is a qualifying interaction: last_interaction_at moves up to its day."""
    latest: dict[int, date] = {}
    for p in new:
        cid = matches[p.order.order_no]
        if cid is not None and (cid not in latest or latest[cid] < p.order.ordered_at):
            latest[cid] = p.order.ordered_at
    for o in changed:
        if o.contact_id is not None and (
            o.contact_id not in latest or latest[o.contact_id] < o.ordered_at
        ):
            latest[o.contact_id] = o.ordered_at
    updates: list[dict[str, Any]] = []
    for batch in _chunks(sorted(latest)):
        for cid, at in await session.execute(
            select(Contact.id, Contact.last_interaction_at).where(Contact.id.in_(batch))
        ):
            when = day_start(latest[cid])
            if at is None or at < when:
                updates.append({"id": cid, "last_interaction_at": when})
    for batch in _chunks(updates):
        await session.execute(update(Contact), batch)
