"""`/webhooks/{type}/{channel_id}`: every platform's pushes enter here.

The connector verifies and parses (pure, no I/O); the batcher (batcher.py) stores
what it parsed in one transaction, shared with concurrent pushes, and only then does
this module answer, so an acknowledged message is durable. A bad signature answers
403 and a malformed body 400, and neither stores anything. Slow work (media download)
happens after the answer.
"""

from __future__ import annotations

import time

from fastapi import APIRouter, Request, Response

from app.errors import BadRequest, NotFound
from app.ingest.batcher import IngestBatcher, Push
from app.metrics import INGESTED
from channels import registry
from channels.base import WebhookRequest

router = APIRouter(tags=["webhooks"], include_in_schema=False)


class BodyTooLarge(BadRequest):
    status_code = 413


async def read_capped(request: Request, limit: int) -> bytes:
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > limit:
        raise BodyTooLarge(f"body larger than {limit} bytes")
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise BodyTooLarge(f"body larger than {limit} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


def batcher_of(request: Request) -> IngestBatcher:
    """The process's group-commit batcher, made on first use (one per app and database)."""
    state = request.app.state
    batcher: IngestBatcher | None = getattr(state, "ingest_batcher", None)
    if batcher is None or batcher.db is not state.db:
        batcher = state.ingest_batcher = IngestBatcher(state.db)
    return batcher


@router.api_route("/webhooks/{channel_type}/{channel_id}", methods=["GET", "POST"])
async def webhook(channel_type: str, channel_id: str, request: Request) -> Response:
    if registry.get(channel_type) is None or not channel_id.isdigit():
        raise NotFound("no such webhook")
    settings = request.app.state.settings
    body = await read_capped(request, settings.max_webhook_bytes)
    wire = WebhookRequest(
        method=request.method,
        query=dict(request.query_params),
        headers={k.lower(): v for k, v in request.headers.items()},
        body=body,
        received_at=time.time(),
    )
    # Returns once the push's messages are committed (with those of concurrent pushes):
    # only then is the platform told "received".
    outcome = await batcher_of(request).submit(Push(channel_type, int(channel_id), wire))
    if outcome.missing:
        raise NotFound("no such channel")
    if outcome.refused is not None:
        exc = outcome.refused
        return Response(exc.detail, status_code=exc.status, media_type="text/plain")
    result = outcome.result
    assert result is not None
    if outcome.media:
        request.app.state.media.wake()  # downloads happen after the answer
    if outcome.stored:
        INGESTED.labels(channel_type=channel_type, outcome="stored").inc(outcome.stored)
    if outcome.duplicates:
        INGESTED.labels(channel_type=channel_type, outcome="duplicate").inc(outcome.duplicates)
    return Response(result.body, status_code=result.status, media_type=result.media_type)
