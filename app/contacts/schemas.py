"""What the contacts API reads and writes."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field

from app.contacts.actions.profile import CrmPatch
from app.inbox.schemas import ChannelRef, ConversationOut
from app.models import Channel, ContactIdentity

MAX_TAGS = 20


class IdentityOut(BaseModel):
    channel: ChannelRef
    external_id: str
    name: str | None
    avatar_url: str | None
    unreachable: bool

    @classmethod
    def of(cls, identity: ContactIdentity, channel: Channel) -> IdentityOut:
        return cls(
            channel=ChannelRef.of(channel),
            external_id=identity.external_id,
            name=identity.name,
            avatar_url=identity.avatar_url,
            unreachable=identity.unreachable,
        )


class ContactOut(BaseModel):
    id: int
    name: str
    avatar_url: str | None
    phone: str | None
    email: str | None
    notes: str
    attributes: dict[str, Any]
    identities: list[IdentityOut]
    conversations: list[ConversationOut]
    created_at: datetime
    # The customer record (CONTRACT section 8; app/contacts/customers_queries.py crm_fields).
    owner: Any = None
    lifecycle: str = "active"
    lost_reason: str | None = None
    tier: str | None = None
    high_value: bool = False
    risk: dict[str, Any] | None = None
    last_interaction_at: datetime | None = None
    next_follow_up_at: datetime | None = None
    important_dates: list[dict[str, Any]] = []
    follow_up_days: int | None = None
    marketing_consent: bool = False
    orders_total: str = "0.00"
    open_tasks: list[Any] = []
    merged_into_id: int | None = None


MAX_ATTRIBUTES = 50
AttributeValue = str | int | float | bool | None


class ContactPatch(CrmPatch):
    name: str | None = Field(default=None, max_length=200)
    # "" clears the phone or email.
    phone: str | None = Field(default=None, max_length=50)
    email: str | None = Field(default=None, max_length=254)
    attributes: dict[str, AttributeValue] | None = Field(default=None, max_length=MAX_ATTRIBUTES)
    notes: str | None = Field(default=None, max_length=5000)
    tags: list[str] | None = Field(default=None, max_length=MAX_TAGS)


class ContactNotesOut(BaseModel):
    id: int
    notes: str
    tags: list[str]
    name: str = ""
    phone: str | None = None
    email: str | None = None
    attributes: dict[str, Any] = Field(default_factory=dict)
    owner_id: int | None = None
    follow_up_days: int | None = None
    important_dates: list[dict[str, Any]] = []
    marketing_consent: bool = False
