"""Reads of the customer record: one contact with identities and conversations, notes, tags."""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.accounts.viewer import Viewer
from app.contacts.actions.notes import tags_of
from app.contacts.schemas import ContactNotesOut, ContactOut, IdentityOut
from app.errors import NotFound
from app.inbox.queries import conversation_rows
from app.inbox.schemas import conversation_out
from app.models import Channel, Contact, ContactIdentity, ContactTag, Conversation
from app.models.base import attributes_of
from app.pagination import MAX_LIMIT

SUGGESTIONS = 200


async def access_contact(session: AsyncSession, viewer: Viewer, contact_id: int) -> Contact:
    """A contact the viewer may see: one of its identities is on a visible channel."""
    contact = await session.get(Contact, contact_id)
    if contact is None:
        raise NotFound("contact not found")
    channel_ids = await session.scalars(
        select(ContactIdentity.channel_id).where(ContactIdentity.contact_id == contact_id)
    )
    if not any(viewer.can_see_channel(ch) for ch in channel_ids):
        raise NotFound("contact not found")
    return contact


async def notes_out(session: AsyncSession, contact: Contact) -> ContactNotesOut:
    return ContactNotesOut(
        id=contact.id,
        notes=contact.notes,
        tags=await tags_of(session, contact.id),
        name=contact.name,
        phone=contact.phone,
        email=contact.email,
        attributes=dict(contact.attributes or {}),
        owner_id=contact.owner_id,
        follow_up_days=contact.follow_up_days,
        important_dates=list(contact.important_dates or []),
        marketing_consent=contact.marketing_consent,
    )


async def contact_view(session: AsyncSession, viewer: Viewer, contact_id: int) -> ContactOut:
    contact = await session.get(Contact, contact_id)
    if contact is None:
        raise NotFound("contact not found")
    identity_rows = (
        await session.execute(
            select(ContactIdentity, Channel)
            .join(Channel, Channel.id == ContactIdentity.channel_id)
            .where(ContactIdentity.contact_id == contact.id)
            .order_by(ContactIdentity.id)
        )
    ).all()
    visible = [(i, ch) for i, ch in identity_rows if viewer.can_see_channel(ch.id)]
    if not visible:
        raise NotFound("contact not found")
    conv_rows = (
        await session.execute(
            conversation_rows()
            .where(Conversation.contact_id == contact.id)
            .order_by(Conversation.last_message_at.desc(), Conversation.id.desc())
            .limit(MAX_LIMIT)
        )
    ).all()
    from app.contacts.customers_queries import crm_fields  # reads tasks and orders too

    return ContactOut(
        **await crm_fields(session, viewer, contact),
        **attributes_of(
            contact, "id", "name", "avatar_url", "phone", "email", "notes", "created_at"
        ),
        attributes=dict(contact.attributes or {}),
        identities=[IdentityOut.of(i, ch) for i, ch in visible],
        conversations=[
            conversation_out(*row) for row in conv_rows if viewer.can_see_channel(row[0].channel_id)
        ],
    )


async def tag_suggestions(session: AsyncSession, viewer: Viewer) -> list[str]:
    """Tags in use, most used first: suggestions for the tag input. A channel-limited agent
    sees only tags on customers of their channels."""
    stmt = select(ContactTag.tag, func.count().label("n"))
    if viewer.channel_ids is not None:
        mine = select(ContactIdentity.contact_id).where(
            viewer.channel_clause(ContactIdentity.channel_id)
        )
        stmt = stmt.where(ContactTag.contact_id.in_(mine))
    rows = await session.execute(
        stmt.group_by(ContactTag.tag)
        .order_by(func.count().desc(), ContactTag.tag)
        .limit(SUGGESTIONS)
    )
    return [tag for tag, _n in rows]
