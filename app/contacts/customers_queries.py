"""Reads of the customer record: the customers list, the CRM fields of one customer."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

from pydantic import BaseModel
from sqlalchemy import and_, exists, func, or_, select, text, tuple_
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased, load_only

from app.accounts.viewer import Viewer
from app.contacts.actions.dates import date_summaries
from app.contacts.actions.tasks import PersonRef, TaskOut, tasks_out
from app.errors import BadRequest
from app.inbox.schemas import ChannelRef
from app.models import (
    Channel,
    Contact,
    ContactIdentity,
    Order,
    RetentionScore,
    Task,
    TaskStatus,
    User,
)
from app.pagination import decode_cursor, encode_cursor
from app.searchindex import contacts as contacts_trgm


class IdentityRef(BaseModel):
    channel: ChannelRef
    external_id: str
    name: str | None
    unreachable: bool


class CustomerItem(BaseModel):
    id: int
    name: str
    phone: str | None
    identities: list[IdentityRef]
    owner: PersonRef | None
    # CONTRACT section 11: new, active, at_risk, lost, recovered; tier, value and risk
    # from the customer's retention_scores row (none until it is first computed).
    lifecycle: str
    lost_reason: str | None
    tier: str | None
    high_value: bool
    risk: dict[str, Any] | None
    marketing_consent: bool
    last_interaction_at: datetime | None
    next_follow_up_at: datetime | None
    open_tasks: int


async def _identities(
    session: AsyncSession, viewer: Viewer, contact_ids: list[int]
) -> dict[int, list[IdentityRef]]:
    out: dict[int, list[IdentityRef]] = {cid: [] for cid in contact_ids}
    if not contact_ids:
        return out
    # Columns, not entities: a page of 50 customers is read on every list request.
    rows = await session.execute(
        select(
            ContactIdentity.contact_id,
            ContactIdentity.external_id,
            ContactIdentity.name,
            ContactIdentity.unreachable,
            Channel.id,
            Channel.type,
            Channel.name,
        )
        .join(Channel, Channel.id == ContactIdentity.channel_id)
        .where(ContactIdentity.contact_id.in_(contact_ids))
        .order_by(ContactIdentity.id)
    )
    for contact_id, external_id, name, unreachable, ch_id, ch_type, ch_name in rows:
        if viewer.can_see_channel(ch_id):
            out[contact_id].append(
                IdentityRef(
                    channel=ChannelRef(id=ch_id, type=ch_type, name=ch_name),
                    external_id=external_id,
                    name=name,
                    unreachable=unreachable,
                )
            )
    return out


async def _counts(session: AsyncSession, ids: list[int], owner_ids: list[int]) -> Any:
    owners = (
        dict(
            (await session.execute(select(User.id, User.name).where(User.id.in_(owner_ids)))).all()
        )
        if owner_ids
        else {}
    )
    open_counts = dict(
        (
            await session.execute(
                select(Task.contact_id, func.count())
                .where(Task.contact_id.in_(ids), Task.status == TaskStatus.OPEN)
                .group_by(Task.contact_id)
            )
        ).all()
    )
    return owners, open_counts


async def customer_items(
    session: AsyncSession, viewer: Viewer, contacts: list[Contact]
) -> list[CustomerItem]:
    ids = [c.id for c in contacts]
    if not ids:
        return []
    idents = await _identities(session, viewer, ids)
    owners, open_counts = await _counts(
        session, ids, sorted({c.owner_id for c in contacts if c.owner_id is not None})
    )
    scores = {
        r.contact_id: r
        for r in await session.scalars(
            select(RetentionScore).where(RetentionScore.contact_id.in_(ids))
        )
    }
    return [
        CustomerItem(
            id=c.id,
            name=c.name,
            phone=c.phone,
            identities=idents[c.id],
            owner=PersonRef(id=c.owner_id, name=owners.get(c.owner_id, ""))
            if c.owner_id is not None
            else None,
            lifecycle="lost"
            if c.lifecycle == "lost"
            else scores[c.id].lifecycle
            if c.id in scores
            else c.lifecycle,
            lost_reason=c.lost_reason,
            tier=scores[c.id].tier if c.id in scores else None,
            high_value=scores[c.id].high_value if c.id in scores else False,
            risk=scores[c.id].risk_out() if c.id in scores else None,
            marketing_consent=c.marketing_consent,
            last_interaction_at=c.last_interaction_at,
            next_follow_up_at=c.next_follow_up_at,
            open_tasks=open_counts.get(c.id, 0),
        )
        for c in contacts
    ]


def _visible(viewer: Viewer) -> Any:
    clause = viewer.channel_clause(ContactIdentity.channel_id)
    if clause is None:
        return None
    return exists().where(ContactIdentity.contact_id == Contact.id, clause)


# What a list item shows: the contact's JSON columns (attributes, dates) are not read.
LIST_COLUMNS = (
    Contact.id,
    Contact.name,
    Contact.phone,
    Contact.owner_id,
    Contact.lifecycle,
    Contact.lost_reason,
    Contact.marketing_consent,
    Contact.last_interaction_at,
    Contact.next_follow_up_at,
)


# The filters' own name for retention_scores: sort=risk joins the table itself, and an
# EXISTS over the same name would correlate to that join instead of to the contact.
SCORES = aliased(RetentionScore)


def like_pattern(term: str) -> str:
    escaped = term.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


async def search_clause(session: AsyncSession, term: str) -> Any:
    """`q=`: the contacts whose name, phone or email contains `term` (ILIKE), or who
    have the order numbered `term`.

    `search_text` (name, phone and email lowered in one generated column) is the
    indexed candidate filter: a pg_trgm GIN index on PostgreSQL; on SQLite an FTS5
    trigram table names the candidates of a term of 3 or more characters, and otherwise
    the recency index holds the text, so a search walks the index and reads a contact
    only when its text matches. Each field's own ILIKE then decides, so the answer is
    exactly the ILIKE's."""
    pattern = like_pattern(term)
    # search_text is lower(...) of the fields: PostgreSQL's ILIKE is a LIKE of both sides
    # lowered, so this finds every row the ILIKE finds (SQLite's LIKE folds ASCII case
    # like its ILIKE, lower() of ASCII), with a byte-wise LIKE the trigram index serves.
    candidate = Contact.search_text.like(func.lower(pattern), escape="\\")
    if session.get_bind().dialect.name == "sqlite" and contacts_trgm.usable(term):
        # SQLite: the trigram index names the few candidates (app/searchindex/contacts.py);
        # for a common term (None) the walk of the recency index stays the faster way.
        ids = await contacts_trgm.candidates(session, term)
        if ids is not None:
            candidate = Contact.id.in_(ids)
    exact = or_(
        Contact.name.ilike(pattern, escape="\\"),
        Contact.phone.ilike(pattern, escape="\\"),
        Contact.email.ilike(pattern, escape="\\"),
    )
    clause = and_(candidate, exact)
    # The order number is matched whole, by its unique index, before the list's query.
    by_order = list(
        await session.scalars(
            select(Order.contact_id).where(Order.order_no == term, Order.contact_id.is_not(None))
        )
    )
    return or_(clause, Contact.id.in_(by_order)) if by_order else clause


async def list_customers(
    session: AsyncSession,
    viewer: Viewer,
    *,
    q: str | None,
    owner: str | None,
    lifecycle: str | None = None,
    tier: str | None = None,
    channel_id: int | None = None,
    sort: str = "recent",
    cursor: str | None,
    limit: int,
) -> tuple[list[CustomerItem], str | None]:
    """Customers, most recent interaction first (never-interacted last), paged by
    (last_interaction_at, id)."""
    stmt = select(Contact).options(load_only(*LIST_COLUMNS)).where(Contact.merged_into_id.is_(None))
    visible = _visible(viewer)
    if visible is not None:
        stmt = stmt.where(visible)
    if owner == "me":
        stmt = stmt.where(Contact.owner_id == viewer.id)
    elif owner == "none":
        stmt = stmt.where(Contact.owner_id.is_(None))
    elif owner:
        stmt = stmt.where(Contact.owner_id == int(owner))
    if lifecycle:
        # What customer_items shows, kept on the contact by triggers (migration
        # 0020standing): with the recency in one index, a page is one range read in
        # the list's order wherever that lifecycle's customers are in it.
        stmt = stmt.where(Contact.standing == lifecycle)
    if tier:
        stmt = stmt.where(exists().where(SCORES.contact_id == Contact.id, SCORES.tier == tier))
    if channel_id is not None:
        stmt = stmt.where(
            exists().where(
                ContactIdentity.contact_id == Contact.id, ContactIdentity.channel_id == channel_id
            )
        )
    short = False
    if q and q.strip():
        stmt = stmt.where(await search_clause(session, q.strip()))
        # 1 or 2 characters give no trigram: PostgreSQL's estimate for such a LIKE is far
        # too low, so it plans a scan and sort of every contact (~100 ms at 100,000);
        # walking the recency index stops at the first page of matches instead.
        short = len(q.strip()) < 3 and session.get_bind().dialect.name == "postgresql"
    if sort == "risk":
        return await _by_risk(session, viewer, stmt, cursor, limit)
    when: datetime | None = None
    before: int | None = None
    if cursor:
        at, before = decode_cursor(cursor, 2)
        if not isinstance(before, int) or not (at is None or isinstance(at, str)):
            raise BadRequest("invalid cursor")
        if at is not None:
            try:
                when = datetime.fromisoformat(at)
            except ValueError:
                raise BadRequest("invalid cursor") from None
    rows: list[Contact] = []
    # Two walks of one index, each in its order: the contacts with an interaction, most
    # recent first (a row-value bound for the cursor), then those without one by id.
    if not (cursor and when is None):
        recent = stmt.where(Contact.last_interaction_at.is_not(None))
        if when is not None:
            recent = recent.where(tuple_(Contact.last_interaction_at, Contact.id) < (when, before))
        recent = recent.order_by(Contact.last_interaction_at.desc(), Contact.id.desc())
        if short:
            await session.execute(text("SET LOCAL enable_sort = off"))
        rows = list(await session.scalars(recent.limit(limit + 1)))
        if short:
            await session.execute(text("SET LOCAL enable_sort = on"))
    if len(rows) <= limit:
        never = stmt.where(Contact.last_interaction_at.is_(None))
        if cursor and when is None:
            never = never.where(Contact.id < before)
        # Ordered by id, spelt as the indexes' (.., last_interaction_at, id): PostgreSQL
        # does not take `IS NULL` as fixing a column's order, and by the primary key
        # it scanned every contact for a lifecycle none of the never-interacted are in
        # (75 ms at 100,000).
        never = never.order_by(Contact.last_interaction_at.desc(), Contact.id.desc())
        never = never.limit(limit + 1 - len(rows))
        rows += list(await session.scalars(never))
    nxt = None
    if len(rows) > limit:
        last = rows[limit - 1]
        at_value = last.last_interaction_at.isoformat() if last.last_interaction_at else None
        nxt = encode_cursor([at_value, last.id])
    return await customer_items(session, viewer, rows[:limit]), nxt


async def _by_risk(
    session: AsyncSession, viewer: Viewer, stmt: Any, cursor: str | None, limit: int
) -> tuple[list[CustomerItem], str | None]:
    """`sort=risk`: highest retention score first (unscored last as 0), ties by id, newest
    first; paged by (score, id).

    Two walks, each in the order of an index, so a page reads about `limit` rows instead
    of sorting every customer (212-328 ms at 100,000 when `COALESCE(score, 0)` was the
    order): the customers scoring above 0 by the (score, contact_id) index, then those
    at 0 or not yet scored by the contacts' primary key."""
    at: int | None = None
    before: int | None = None
    if cursor:
        at, before = decode_cursor(cursor, 2)
        if not isinstance(at, int) or not isinstance(before, int) or at < 0:
            raise BadRequest("invalid cursor")
    rows: list[tuple[Contact, int]] = []
    if at is None or at > 0:
        scored = stmt.join(RetentionScore, RetentionScore.contact_id == Contact.id).where(
            RetentionScore.score > 0
        )
        if at is not None:
            scored = scored.where(
                tuple_(RetentionScore.score, RetentionScore.contact_id) < (at, before)
            )
        scored = (
            scored.add_columns(RetentionScore.score)
            .order_by(RetentionScore.score.desc(), RetentionScore.contact_id.desc())
            .limit(limit + 1)
        )
        rows = [(c, score) for c, score in await session.execute(scored)]
    if len(rows) <= limit:
        zero = stmt.where(
            ~exists().where(RetentionScore.contact_id == Contact.id, RetentionScore.score > 0)
        )
        if at == 0:
            zero = zero.where(Contact.id < before)
        zero = zero.order_by(Contact.id.desc()).limit(limit + 1 - len(rows))
        rows += [(c, 0) for c in await session.scalars(zero)]
    nxt = None
    if len(rows) > limit:
        last, last_score = rows[limit - 1]
        nxt = encode_cursor([int(last_score), last.id])
    return await customer_items(session, viewer, [r[0] for r in rows[:limit]]), nxt


async def orders_total(session: AsyncSession, contact_id: int) -> Decimal:
    total = await session.scalar(
        select(func.coalesce(func.sum(Order.amount), 0)).where(Order.contact_id == contact_id)
    )
    return Decimal(str(total)).quantize(Decimal("0.01"))


async def open_tasks_of(session: AsyncSession, contact_id: int) -> list[TaskOut]:
    rows = await session.scalars(
        select(Task)
        .where(Task.contact_id == contact_id, Task.status == TaskStatus.OPEN)
        .order_by(Task.due_at, Task.id)
        .limit(50)
    )
    return await tasks_out(session, list(rows))


async def crm_fields(session: AsyncSession, viewer: Viewer, contact: Contact) -> dict[str, Any]:
    """What GET /api/v1/contacts/{id} adds for issue 15."""
    (item,) = await customer_items(session, viewer, [contact])
    return {
        "owner": item.owner,
        "lifecycle": item.lifecycle,
        "lost_reason": item.lost_reason,
        "tier": item.tier,
        "high_value": item.high_value,
        "risk": item.risk,
        "last_interaction_at": contact.last_interaction_at,
        "next_follow_up_at": contact.next_follow_up_at,
        "important_dates": date_summaries(list(contact.important_dates or [])),
        "follow_up_days": contact.follow_up_days,
        "marketing_consent": contact.marketing_consent,
        "orders_total": str(await orders_total(session, contact.id)),
        "open_tasks": await open_tasks_of(session, contact.id),
        "merged_into_id": contact.merged_into_id,
    }
