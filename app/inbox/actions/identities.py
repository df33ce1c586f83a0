"""Ingest's customer upsert: a message's sender as a contact with one identity per channel.

Loaded and created set-based, once per batch (app/inbox/actions/inbound.py).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from sqlalchemy import bindparam, func, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from app.inbox.queries import last_order_id
from app.inbox.schemas import generated_name
from app.models import Channel, Contact, ContactIdentity, Conversation, Order
from channels.base import InboundMessage


@dataclass
class Known:
    """A customer's identity, contact and active conversation, loaded once per batch.

    `latest`: the identity's newest conversation, loaded only where there is no active
    one (ingest then needs it: a survey answer, a lifecycle event, an echo)."""

    identity: ContactIdentity
    contact: Contact
    active: Conversation | None
    latest: Conversation | None = None
    last_order: Order | None = None  # the contact's newest order (conversation views show it)


_NEWEST = aliased(Conversation)
_LastOrder = aliased(Order)
# The newest conversation of each of a batch's identities; built once (ingest is hot).
_LATEST = select(Conversation).where(
    Conversation.identity_id.in_(bindparam("ids", expanding=True)),
    Conversation.id
    == select(func.max(_NEWEST.id))
    .where(_NEWEST.identity_id == Conversation.identity_id)
    .scalar_subquery(),
)


# A batch's customers with their contact, active conversation and last order. Built once:
# building this select and its cache key cost more CPU per batch than running it (profile
# of an ingest batch of 32 on SQLite: about 0.4 ms).
_KNOWN = (
    select(ContactIdentity, Contact, Conversation, _LastOrder)
    .join(Contact, Contact.id == ContactIdentity.contact_id)
    .outerjoin(Conversation, Conversation.active_identity_id == ContactIdentity.id)
    .outerjoin(_LastOrder, _LastOrder.id == last_order_id(Contact.id))
    .where(
        ContactIdentity.channel_id == bindparam("channel_id"),
        ContactIdentity.external_id.in_(bindparam("external_ids", expanding=True)),
    )
)


async def load_known(
    session: AsyncSession, channel: Channel, contact_ids: set[str]
) -> dict[str, Known]:
    rows = await session.execute(
        _KNOWN, {"channel_id": channel.id, "external_ids": sorted(contact_ids)}
    )
    known = {i.external_id: Known(i, c, conv, last_order=o) for i, c, conv, o in rows}
    idle = [k.identity.id for k in known.values() if k.active is None]
    by_identity = (
        {c.identity_id: c for c in await session.scalars(_LATEST, {"ids": idle})} if idle else {}
    )
    for k in known.values():
        k.latest = k.active or by_identity.get(k.identity.id)
    return known


async def create_identities(
    session: AsyncSession,
    channel: Channel,
    inbounds: Iterable[InboundMessage],
    known: dict[str, Known],
) -> None:
    """New customers' contacts and identities, all in two inserts (first message's details)."""
    new: dict[str, InboundMessage] = {}
    for inbound in inbounds:
        if inbound.contact.external_id not in known:
            new.setdefault(inbound.contact.external_id, inbound)
    if not new:
        return
    contacts = {}
    for external_id, inbound in new.items():
        c = inbound.contact
        # Platforms like WeChat send no nickname: a short stable label beats a blank row.
        name = c.name or generated_name(external_id)
        contacts[external_id] = Contact(
            name=name, avatar_url=c.avatar_url, attributes=dict(c.attributes)
        )
    session.add_all(contacts.values())
    await session.flush()
    for external_id, inbound in new.items():
        contact = contacts[external_id]
        identity = ContactIdentity(
            contact_id=contact.id,
            channel_id=channel.id,
            external_id=external_id,
            name=inbound.contact.name,
            avatar_url=inbound.contact.avatar_url,
        )
        session.add(identity)
        known[external_id] = Known(identity, contact, None)
    await session.flush()


def update_identity(known: Known, inbound: InboundMessage) -> None:
    c, identity, contact = inbound.contact, known.identity, known.contact
    if c.name and c.name != identity.name:
        identity.name = c.name
        if not contact.name:
            contact.name = c.name
    if c.avatar_url and c.avatar_url != identity.avatar_url:
        identity.avatar_url = c.avatar_url
        contact.avatar_url = contact.avatar_url or c.avatar_url
