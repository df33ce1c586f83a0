"""Personal API tokens: every member creates, lists (with last use) and revokes their
own on /settings. A token is shown once, stored as its hash; every change is audited."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from fastapi import APIRouter
from pydantic import BaseModel
from sqlalchemy import func, select

from app.accounts.actions import create_api_token
from app.accounts.security import hash_token
from app.audit import record_audit
from app.deps import SessionDep, ViewerDep
from app.errors import Conflict, NotFound
from app.models import ApiToken, utcnow_for_models

router = APIRouter(prefix="/api/v1", tags=["tokens"])

MAX_ACTIVE = 20  # more than any script needs; a leak is easier to clean up


class TokenOut(BaseModel):
    id: int
    created_at: datetime
    last_used_at: datetime | None
    revoked_at: datetime | None


class CreatedTokenOut(TokenOut):
    token: str  # shown once: only its hash is kept


def token_out(row: ApiToken) -> TokenOut:
    return TokenOut(
        id=row.id,
        created_at=row.created_at,
        last_used_at=row.last_used_at,
        revoked_at=row.revoked_at,
    )


@router.get("/me/tokens")
async def list_my_tokens(session: SessionDep, viewer: ViewerDep) -> dict[str, Any]:
    """The caller's tokens, newest first, revoked ones included (their dates stay useful)."""
    rows = await session.scalars(
        select(ApiToken).where(ApiToken.user_id == viewer.id).order_by(ApiToken.id.desc())
    )
    return {"items": [token_out(r) for r in rows], "next_cursor": None}


@router.post("/me/tokens", status_code=201)
async def create_my_token(session: SessionDep, viewer: ViewerDep) -> CreatedTokenOut:
    active = await session.scalar(
        select(func.count(ApiToken.id)).where(
            ApiToken.user_id == viewer.id, ApiToken.revoked_at.is_(None)
        )
    )
    if (active or 0) >= MAX_ACTIVE:
        raise Conflict(f"at most {MAX_ACTIVE} active tokens: revoke one first")
    token = await create_api_token(session, viewer.user, actor=viewer.user)
    await session.flush()
    row = await session.scalar(select(ApiToken).where(ApiToken.token_hash == hash_token(token)))
    assert row is not None
    return CreatedTokenOut(**token_out(row).model_dump(), token=token)


@router.post("/me/tokens/{token_id}/revoke")
async def revoke_my_token(token_id: int, session: SessionDep, viewer: ViewerDep) -> TokenOut:
    row = await session.get(ApiToken, token_id)
    if row is None or row.user_id != viewer.id:
        raise NotFound("token not found")
    if row.revoked_at is None:
        row.revoked_at = utcnow_for_models()
        record_audit(session, viewer.user, "token.revoked", "user", viewer.id, {"token": row.id})
    return token_out(row)
