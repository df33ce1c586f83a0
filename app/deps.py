"""Shared FastAPI dependencies: the request's session and the authenticated viewer."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy.ext.asyncio import AsyncSession

from app.accounts.auth import bearer_from, user_for_token
from app.accounts.viewer import Viewer, load_viewer
from app.db import Database
from app.errors import Forbidden, Unauthorized
from app.models import Role
from app.services import get_services


def get_db(request: Request) -> Database:
    return get_services(request).db


async def get_session(request: Request) -> AsyncIterator[AsyncSession]:
    """The request owns the transaction: commit (and announce events) when the endpoint
    returned, roll back when it raised. Runs before the response is sent."""
    async with get_db(request).session() as session:
        yield session


SessionDep = Annotated[AsyncSession, Depends(get_session, scope="function")]


async def get_viewer(request: Request, session: SessionDep) -> Viewer:
    token = bearer_from(request)
    user = await user_for_token(session, token) if token else None
    if user is None:
        user = await get_services(request).web_auth(request, session)
    if user is None:
        raise Unauthorized("authentication required")
    return await load_viewer(session, user)


ViewerDep = Annotated[Viewer, Depends(get_viewer)]


async def get_supervisor(viewer: ViewerDep) -> Viewer:
    if not viewer.is_supervisor:
        raise Forbidden("supervisors and admins only")
    return viewer


SupervisorDep = Annotated[Viewer, Depends(get_supervisor)]


async def get_admin(viewer: ViewerDep) -> Viewer:
    if viewer.role != Role.ADMIN:
        raise Forbidden("admins only")
    return viewer


AdminDep = Annotated[Viewer, Depends(get_admin)]
