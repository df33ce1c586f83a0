"""Reading an orders CSV: every row checked, every bad row named, nothing stored.

One row per order item; rows with the same `order_no` make one order (their date,
amount and customer columns must agree). The result is small tuples: a 100,000-row
file is held as one `_Parsed` per order.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal, InvalidOperation
from typing import Any, NamedTuple

from pydantic import ValidationError

from app.contacts.actions.orders import ItemData, ItemIn, OrderIn
from app.errors import HuiliuError

REQUIRED = ("order_no", "ordered_at", "amount", "item", "quantity", "warranty_months")
MATCH_COLUMNS = ("contact_id", "phone", "wechat_openid", "douyin_open_id", "external_id")
MAX_ERRORS = 1000  # every bad row is named, up to this many (then the count)


class ImportRefused(HuiliuError):
    """400 with the list of bad rows: {"detail", "errors": [{"row", "detail"}]}."""

    status_code = 400

    def __init__(self, detail: str, errors: list[dict[str, Any]]) -> None:
        super().__init__(detail)
        self.errors = errors


class _OrderData(NamedTuple):
    order_no: str
    ordered_at: date
    amount: Decimal


@dataclass(slots=True)
class _Parsed:
    order: _OrderData
    keys: dict[str, str]
    first_row: int
    items: list[ItemData] = field(default_factory=list)


def _decode(body: bytes) -> str:
    try:
        return body.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ImportRefused(
            f"the file is not UTF-8 (byte {exc.start}): save it as CSV UTF-8", []
        ) from None


def _row_order(row: dict[str, str]) -> tuple[_OrderData, ItemData | None]:
    """Validated by the API's own models, kept as small tuples."""
    amount_text = (row.get("amount") or "").strip()
    try:
        amount = Decimal(amount_text)
    except InvalidOperation:
        raise ValueError(f"amount: {amount_text!r} is not a number") from None
    if amount < 0:
        raise ValueError("amount: must not be negative")
    try:
        ordered_at = date.fromisoformat((row.get("ordered_at") or "").strip())
    except ValueError:
        raise ValueError(
            f"ordered_at: {row.get('ordered_at')!r} is not a date (YYYY-MM-DD)"
        ) from None
    valid = OrderIn(order_no=row.get("order_no") or "", ordered_at=ordered_at, amount=amount)
    order = _OrderData(valid.order_no, valid.ordered_at, valid.amount)
    name = (row.get("item") or "").strip()
    if not name:
        return order, None
    quantity = (row.get("quantity") or "").strip() or "1"
    months = (row.get("warranty_months") or "").strip() or None
    item = ItemIn.model_validate({"name": name, "quantity": quantity, "warranty_months": months})
    return order, ItemData(item.name, item.quantity, item.warranty_months)


def _message(exc: ValidationError) -> str:
    parts = []
    for err in exc.errors():
        loc = ".".join(str(p) for p in err.get("loc", ()))
        msg = str(err.get("msg", "invalid")).removeprefix("Value error, ")
        parts.append(f"{loc}: {msg}" if loc else msg)
    return "; ".join(parts)


def parse_orders(text: str) -> list[_Parsed]:
    """Orders from the CSV text, or ImportRefused listing every bad row."""
    reader = csv.DictReader(io.StringIO(text, newline=""))
    header = [h.strip() for h in reader.fieldnames or []]
    missing = [c for c in REQUIRED if c not in header]
    if missing:
        raise ImportRefused(f"missing column(s): {', '.join(missing)}", [])
    if not any(c in header for c in MATCH_COLUMNS):
        raise ImportRefused(
            f"the file needs at least one of the columns {', '.join(MATCH_COLUMNS)}", []
        )
    reader.fieldnames = header
    orders: dict[str, _Parsed] = {}
    errors: list[dict[str, Any]] = []
    for n, raw in enumerate(reader, start=2):
        row = {k: (v or "") for k, v in raw.items() if isinstance(k, str)}
        try:
            order, item = _row_order(row)
        except ValidationError as exc:
            errors.append({"row": n, "detail": _message(exc)})
            continue
        except ValueError as exc:
            errors.append({"row": n, "detail": str(exc)})
            continue
        keys = {c: row[c].strip() for c in MATCH_COLUMNS if row.get(c, "").strip()}
        if "contact_id" in keys and not keys["contact_id"].isdigit():
            errors.append({"row": n, "detail": f"contact_id: {keys['contact_id']!r} is not an id"})
            continue
        seen = orders.get(order.order_no)
        if seen is None:
            orders[order.order_no] = seen = _Parsed(order=order, keys=keys, first_row=n)
        elif (seen.order.ordered_at, seen.order.amount, seen.keys) != (
            order.ordered_at,
            order.amount,
            keys,
        ):
            errors.append(
                {
                    "row": n,
                    "detail": f"order_no {order.order_no}: date, amount or customer differ "
                    f"from row {seen.first_row}",
                }
            )
            continue
        if item is not None:
            seen.items.append(item)
    if errors:
        shown = errors[:MAX_ERRORS]
        raise ImportRefused(f"{len(errors)} bad row(s); nothing was imported", shown)
    return list(orders.values())
