"""快捷回复 (canned replies): shared by the team or personal, listed for the `/` picker.

Anyone manages their own; shared ones are managed by supervisors and admins.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from pydantic import BaseModel, Field
from sqlalchemy import or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.accounts.viewer import Viewer
from app.audit import record_audit
from app.deps import SessionDep, ViewerDep
from app.errors import BadRequest, Forbidden, NotFound
from app.models import CannedReply, utcnow_for_models

router = APIRouter(prefix="/api/v1", tags=["canned replies"])

MAX_ITEMS = 500  # far more than a team keeps; the picker filters client-side


class CannedReplyIn(BaseModel):
    shortcut: str = Field(min_length=1, max_length=50)
    content: str = Field(min_length=1, max_length=4000)
    shared: bool = False


class CannedReplyPatch(BaseModel):
    shortcut: str | None = Field(default=None, min_length=1, max_length=50)
    content: str | None = Field(default=None, min_length=1, max_length=4000)


class CannedReplyOut(BaseModel):
    id: int
    shortcut: str
    content: str
    shared: bool
    owner_id: int | None
    editable: bool


def _out(viewer: Viewer, reply: CannedReply) -> CannedReplyOut:
    return CannedReplyOut(
        id=reply.id,
        shortcut=reply.shortcut,
        content=reply.content,
        shared=reply.owner_id is None,
        owner_id=reply.owner_id,
        editable=_may_edit(viewer, reply),
    )


def _may_edit(viewer: Viewer, reply: CannedReply) -> bool:
    return viewer.is_supervisor if reply.owner_id is None else reply.owner_id == viewer.id


def _clean_shortcut(value: str) -> str:
    shortcut = value.strip().lstrip("/").strip()
    if not shortcut or any(ch.isspace() for ch in shortcut):
        raise BadRequest("shortcut must be one word without spaces")
    return shortcut


async def _editable(session: AsyncSession, viewer: Viewer, reply_id: int) -> CannedReply:
    reply = await session.get(CannedReply, reply_id)
    if reply is None or (reply.owner_id is not None and reply.owner_id != viewer.id):
        raise NotFound("canned reply not found")
    if not _may_edit(viewer, reply):
        raise Forbidden("only supervisors and admins manage shared canned replies")
    return reply


@router.get("/canned-replies")
async def list_canned_replies(session: SessionDep, viewer: ViewerDep) -> dict[str, Any]:
    """Shared ones and the viewer's own, by shortcut (one page: lists stay small)."""
    rows = await session.scalars(
        select(CannedReply)
        .where(or_(CannedReply.owner_id.is_(None), CannedReply.owner_id == viewer.id))
        .order_by(CannedReply.shortcut, CannedReply.id)
        .limit(MAX_ITEMS)
    )
    return {"items": [_out(viewer, r) for r in rows], "next_cursor": None}


@router.post("/canned-replies", status_code=201)
async def create_canned_reply(
    body: CannedReplyIn, session: SessionDep, viewer: ViewerDep
) -> CannedReplyOut:
    if body.shared and not viewer.is_supervisor:
        raise Forbidden("only supervisors and admins manage shared canned replies")
    now = utcnow_for_models()
    reply = CannedReply(
        owner_id=None if body.shared else viewer.id,
        shortcut=_clean_shortcut(body.shortcut),
        content=body.content.strip() or body.content,
        created_by=viewer.id,
        created_at=now,
        updated_at=now,
    )
    session.add(reply)
    await session.flush()
    if body.shared:
        record_audit(session, viewer.user, "canned_reply.created", "canned_reply", reply.id, {})
    return _out(viewer, reply)


@router.patch("/canned-replies/{reply_id}")
async def update_canned_reply(
    reply_id: int, body: CannedReplyPatch, session: SessionDep, viewer: ViewerDep
) -> CannedReplyOut:
    reply = await _editable(session, viewer, reply_id)
    if body.shortcut is not None:
        reply.shortcut = _clean_shortcut(body.shortcut)
    if body.content is not None:
        reply.content = body.content
    reply.updated_at = utcnow_for_models()
    if reply.owner_id is None:
        record_audit(session, viewer.user, "canned_reply.updated", "canned_reply", reply.id, {})
    return _out(viewer, reply)


@router.delete("/canned-replies/{reply_id}", status_code=204)
async def delete_canned_reply(reply_id: int, session: SessionDep, viewer: ViewerDep) -> None:
    reply = await _editable(session, viewer, reply_id)
    if reply.owner_id is None:
        record_audit(
            session,
            viewer.user,
            "canned_reply.deleted",
            "canned_reply",
            reply.id,
            {"shortcut": reply.shortcut, "content": reply.content},
        )
    await session.delete(reply)
