"""REST API for orders (CONTRACT section 8): by customer, CSV import, unmatched list."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body, Request
from pydantic import BaseModel, ValidationError
from sqlalchemy import select

from app.audit import record_audit
from app.contacts.actions.orders import OrderIn, OrderOut, add_order, link_order, orders_out
from app.contacts.actions.orders_import import _message, import_orders
from app.contacts.queries import access_contact
from app.deps import SessionDep, SupervisorDep, ViewerDep
from app.errors import BadRequest, Conflict, NotFound
from app.models import Order
from app.pagination import MAX_LIMIT, PageDep, newest_first, page

router = APIRouter(prefix="/api/v1", tags=["orders"])

# A 100,000-row file is about 8 MB.
MAX_IMPORT_BYTES = 50 * 1024 * 1024


def _order_in(raw: Any) -> OrderIn:
    """400 naming the field (the contract's bad-input rule), not FastAPI's 422."""
    if not isinstance(raw, dict):
        raise BadRequest("an order is a JSON object")
    try:
        return OrderIn.model_validate(raw)
    except ValidationError as exc:
        raise BadRequest(_message(exc)) from None


@router.get("/contacts/{contact_id}/orders")
async def get_contact_orders(
    contact_id: int, session: SessionDep, viewer: ViewerDep
) -> dict[str, Any]:
    await access_contact(session, viewer, contact_id)
    rows = await session.scalars(
        select(Order)
        .where(Order.contact_id == contact_id)
        .order_by(Order.ordered_at.desc(), Order.id.desc())
        .limit(MAX_LIMIT)
    )
    return {"items": await orders_out(session, list(rows)), "next_cursor": None}


@router.post("/contacts/{contact_id}/orders", status_code=201)
async def post_contact_order(
    contact_id: int,
    session: SessionDep,
    viewer: ViewerDep,
    body: Annotated[dict[str, Any], Body()],
) -> OrderOut:
    contact = await access_contact(session, viewer, contact_id)
    order_in = _order_in(body)
    if await session.scalar(select(Order.id).where(Order.order_no == order_in.order_no)):
        raise Conflict(f"order_no: {order_in.order_no} already exists")
    order = await add_order(session, contact, order_in, source="manual")
    record_audit(
        session, viewer.user, "order.created", "order", order.id, {"order_no": order.order_no}
    )
    return (await orders_out(session, [order]))[0]


@router.post("/orders/import")
async def post_import(request: Request, session: SessionDep, viewer: SupervisorDep) -> Any:
    body = await request.body()
    if len(body) > MAX_IMPORT_BYTES:
        raise BadRequest(f"the file is larger than {MAX_IMPORT_BYTES // (1024 * 1024)} MB")
    if not body.strip():
        raise BadRequest("the file is empty")
    result = await import_orders(session, body)
    record_audit(session, viewer.user, "orders.imported", "order", "import", result)
    return result


@router.get("/orders")
async def get_orders(
    session: SessionDep,
    viewer: SupervisorDep,
    pg: PageDep,
    unmatched: bool = False,
) -> dict[str, Any]:
    """All orders newest first, or (`unmatched=true`) those waiting to be linked."""
    stmt = select(Order)
    if unmatched:
        stmt = stmt.where(Order.contact_id.is_(None))
    rows, nxt = await newest_first(session, stmt, Order.id, pg.cursor, pg.limit)
    return page(await orders_out(session, rows), nxt)


class LinkIn(BaseModel):
    contact_id: int


@router.patch("/orders/{order_id}")
async def patch_order(
    order_id: int, body: LinkIn, session: SessionDep, viewer: ViewerDep
) -> OrderOut:
    order = await session.get(Order, order_id)
    if order is None:
        raise NotFound("order not found")
    if order.contact_id is not None and not viewer.is_supervisor:
        await access_contact(session, viewer, order.contact_id)
    contact = await access_contact(session, viewer, body.contact_id)
    if contact.merged_into_id is not None:
        raise BadRequest("contact_id: this customer was merged into another")
    if order.contact_id != contact.id:
        previous = order.contact_id
        await link_order(session, order, contact)
        record_audit(
            session,
            viewer.user,
            "order.linked",
            "order",
            order.id,
            {"from": previous, "to": contact.id},
        )
    return (await orders_out(session, [order]))[0]
