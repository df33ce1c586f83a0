"""The per-message counters ingest writes: a conversation's last message, unread count and
reply window, and its customer's last interaction.

Every message of a batch changes them. The ORM's flush of those 2 x 32 objects was the
largest piece of an ingest batch's CPU (about 2.3 ms of 16 on SQLite: attribute history,
then grouping), so ingest writes them itself once the batch's messages are processed:
on SQLite one executemany per table, on PostgreSQL one statement for both tables (one
round trip), rows in id order. The objects get the values as committed state
(`write_through`), so they read right for the events built meanwhile and the ORM's flush
leaves them alone; a later change through the ORM in the same transaction (an automatic
reply's preview) is flushed after these and wins, as it would have.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import bindparam, text, update
from sqlalchemy.dialects import postgresql
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm.attributes import set_committed_value

from app.models import Contact, Conversation

# (model, columns written): every row of a kind gets every column (one statement shape).
CONVERSATION = (
    Conversation,
    (
        "updated_at",
        "last_message_at",
        "last_message_type",
        "last_message_preview",
        "unread_count",
        "last_inbound_at",
        "reply_window_expires_at",
    ),
)
CONTACT = (Contact, ("last_interaction_at",))
_KINDS = (CONVERSATION, CONTACT)
_PENDING = "huiliu_ingest_counters"


def write_through(
    session: AsyncSession, kind: tuple[type, tuple[str, ...]], row: Any, values: dict[str, Any]
) -> None:
    """Give `row` these values now; `write_counters` stores them with the batch's others."""
    for key, value in values.items():
        set_committed_value(row, key, value)
    session.info.setdefault(_PENDING, {}).setdefault(kind, {})[row.id] = row


def _update_by_id(model: type, columns: tuple[str, ...]) -> Any:
    table = model.__table__  # type: ignore[attr-defined]
    return (
        update(table)
        .where(table.c.id == bindparam("row_id"))
        .values({name: bindparam(name, type_=table.c[name].type) for name in columns})
    )


_SQLITE = {kind: _update_by_id(*kind) for kind in _KINDS}


def _pg_update(model: type, columns: tuple[str, ...], prefix: str) -> str:
    """`UPDATE table SET col = v.col ... FROM unnest(arrays) AS v WHERE id = v.id`, its
    parameters named `prefix` + column; made from the constants above, never from input."""
    table = model.__table__  # type: ignore[attr-defined]
    dialect = postgresql.dialect()  # type: ignore[no-untyped-call]
    arrays = [f"CAST(:{prefix}id AS INTEGER[])"] + [
        f"CAST(:{prefix}{name} AS {table.c[name].type.compile(dialect=dialect)}[])"
        for name in columns
    ]
    sets = ", ".join(f"{name} = v.{name}" for name in columns)
    return (
        f"UPDATE {table.name} SET {sets} FROM unnest({', '.join(arrays)})"  # noqa: S608
        f" AS v({', '.join(['id', *columns])}) WHERE {table.name}.id = v.id"
    )


_PG_CONVERSATIONS = _pg_update(*CONVERSATION, "conversation_")
# With the customers' update as a data-modifying WITH: both tables in one statement.
_PG = {
    False: text(_PG_CONVERSATIONS),
    True: text(f"WITH touched AS ({_pg_update(*CONTACT, 'contact_')}) {_PG_CONVERSATIONS}"),
}


async def write_counters(session: AsyncSession) -> None:
    """Store what `write_through` gave the batch's rows."""
    pending: dict[Any, dict[int, Any]] = session.info.pop(_PENDING, {})
    if not pending:
        return
    if session.get_bind().dialect.name != "postgresql":
        for kind, rows in pending.items():
            _, columns = kind
            await session.execute(
                _SQLITE[kind],
                [
                    {"row_id": row_id, **{name: getattr(rows[row_id], name) for name in columns}}
                    for row_id in sorted(rows)
                ],
            )
        return
    params: dict[str, list[Any]] = {}
    for kind, prefix in ((CONVERSATION, "conversation_"), (CONTACT, "contact_")):
        if of_kind := pending.get(kind):
            ids = sorted(of_kind)
            params[f"{prefix}id"] = ids
            for name in kind[1]:
                params[f"{prefix}{name}"] = [getattr(of_kind[i], name) for i in ids]
    # Every stored message touches its conversation; its customer only when the message
    # counts as the customer's interaction.
    await session.execute(_PG["contact_id" in params], params)
