"""REST API for search, the supervisors' archive, bulk export and the audit log.

- `GET /api/v1/search`: everyone, within their channels (CONTRACT section 5);
- `GET /api/v1/archive/...`: supervisors and admins (agents get 403);
- `GET /api/v1/audit`: admins.
Every archive read, search and export is written to the audit log (the first page of
a list or search: following pages are the same read).
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import StreamingResponse

from app.archive import queries
from app.archive.export import export_text
from app.audit import record_audit
from app.deps import AdminDep, SessionDep, SupervisorDep, ViewerDep
from app.errors import BadRequest
from app.models import utcnow_for_models
from app.pagination import PageDep
from app.services import get_services

router = APIRouter(prefix="/api/v1", tags=["archive"])

SearchText = Annotated[str, Query(min_length=1, max_length=200)]
OptionalText = Annotated[str | None, Query(max_length=200)]
Status = Annotated[str | None, Query(pattern="^(open|pending|resolved)$")]


@router.get("/search")
async def search(
    session: SessionDep,
    viewer: ViewerDep,
    q: SearchText,
    pg: PageDep,
    channel_id: int | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
) -> dict[str, Any]:
    """Chinese by substring, other words whole, case-insensitive; newest first."""
    found = await pg.answer(
        queries.search_messages, session, viewer, q, channel_id=channel_id, since=since, until=until
    )
    if pg.cursor is None:
        details = queries.ArchiveFilters(channel_id=channel_id, since=since, until=until, q=q)
        record_audit(session, viewer.user, "search.queried", "message", "", details.as_details())
    return found


def _filters(
    channel_id: int | None = None,
    agent_id: int | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    status: Status = None,
    contact: OptionalText = None,
    tag: OptionalText = None,
    q: OptionalText = None,
) -> queries.ArchiveFilters:
    # Checked here, before an export starts streaming: a bad time is a 400, not a cut file.
    queries.utc(since), queries.utc(until)
    return queries.ArchiveFilters(
        channel_id=channel_id,
        agent_id=agent_id,
        since=since,
        until=until,
        status=status,
        contact=contact or None,
        tag=tag or None,
        q=q or None,
    )


# The archive's filters, one set of query parameters for the list and the export.
Filters = Annotated[queries.ArchiveFilters, Depends(_filters)]


@router.get("/archive/conversations")
async def archive_conversations(
    session: SessionDep,
    viewer: SupervisorDep,
    pg: PageDep,
    f: Filters,
) -> dict[str, Any]:
    """Every conversation ever held, filtered; newest activity first."""
    found = await pg.answer(queries.list_archive, session, viewer, f)
    if pg.cursor is None:
        record_audit(session, viewer.user, "archive.listed", "conversation", "", f.as_details())
    return found


@router.get("/archive/conversations/{conversation_id}")
async def archive_conversation(
    conversation_id: int, session: SessionDep, viewer: SupervisorDep
) -> queries.ArchivedConversation:
    """One conversation and its whole history; reading it changes nothing (unread stays)."""
    found = await queries.archived_conversation(session, viewer, conversation_id)
    record_audit(session, viewer.user, "archive.read", "conversation", conversation_id, {})
    return found


INT32_MAX = 2**31 - 1  # the id columns are 32-bit integers


def _check_storable(*values: int | str | None) -> None:
    for value in values:
        if isinstance(value, int) and not 0 <= value <= INT32_MAX:
            raise BadRequest("an id filter is out of range")
        if isinstance(value, str) and "\x00" in value:
            raise BadRequest("a text filter contains a NUL character")


@router.get("/archive/export")
async def archive_export(
    request: Request,
    session: SessionDep,
    viewer: SupervisorDep,
    f: Filters,
    format: Annotated[str, Query(pattern="^(jsonl|csv)$")] = "jsonl",
) -> StreamingResponse:
    """The filtered archive as a download: JSON lines (one conversation with all its
    messages each) or CSV (one message a row). Streamed; the audit entry is committed
    before the first byte."""
    if f.q:
        queries.query_groups(f.q)  # a query with nothing to search is a 400, not a broken stream
    details = {**f.as_details(), "format": format, "via": "api"}
    record_audit(session, viewer.user, "archive.exported", "conversation", "", details)
    stamp = utcnow_for_models().strftime("%Y%m%dT%H%M%SZ")
    media = "application/x-ndjson" if format == "jsonl" else "text/csv"
    # The stream runs after the answer started: refuse up front what the database would
    # refuse mid-stream (an id beyond its column, a NUL), so no download is silently cut.
    _check_storable(f.channel_id, f.agent_id, f.contact, f.tag, f.q)
    return StreamingResponse(
        export_text(get_services(request).db.session, f, viewer, format),
        media_type=f"{media}; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="huiliu-{stamp}.{format}"'},
    )


@router.get("/audit")
async def audit(
    session: SessionDep,
    viewer: AdminDep,
    pg: PageDep,
    action: OptionalText = None,
    actor_id: int | None = None,
    object_type: OptionalText = None,
    object_id: OptionalText = None,
) -> dict[str, Any]:
    """The append-only audit log, newest first."""
    return await pg.answer(
        queries.list_audit,
        session,
        action=action,
        actor_id=actor_id,
        object_type=object_type,
        object_id=object_id,
    )
