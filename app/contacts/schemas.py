"""What the contacts API reads and writes."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field

from app.inbox.schemas import ChannelRef, ConversationOut

MAX_TAGS = 20


class IdentityOut(BaseModel):
    channel: ChannelRef
    external_id: str
    name: str | None
    avatar_url: str | None
    unreachable: bool


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


class ContactPatch(BaseModel):
    notes: str | None = Field(default=None, max_length=5000)
    tags: list[str] | None = Field(default=None, max_length=MAX_TAGS)


class ContactNotesOut(BaseModel):
    id: int
    notes: str
    tags: list[str]
