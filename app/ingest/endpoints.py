"""`/webhooks/{type}/{channel_id}`: every platform's pushes enter here.

The connector verifies and parses (pure, no I/O); the batcher (batcher.py) stores
what it parsed in one transaction, shared with concurrent pushes, and only then does
this module answer, so an acknowledged message is durable. A bad signature answers
403 and a malformed body 400, and neither stores anything. Slow work (media download)
happens after the answer, and so does the pull of a platform that only notifies
(pull.py).
"""

from __future__ import annotations

import time

from fastapi import APIRouter, Request, Response
from starlette.background import BackgroundTask

from app.errors import BadRequest, NotFound
from app.ingest.batcher import Push
from app.ingest.pull import request_pull
from app.metrics import INGESTED
from app.services import get_services
from channels import registry
from channels.base import WebhookRequest
from channels.transport import read_stream_capped

router = APIRouter(tags=["webhooks"], include_in_schema=False)


class BodyTooLarge(BadRequest):
    status_code = 413


async def read_capped(request: Request, limit: int) -> bytes:
    return await read_stream_capped(
        request.stream(),
        request.headers.get("content-length"),
        limit,
        lambda: BodyTooLarge(f"body larger than {limit} bytes"),
    )


@router.api_route("/webhooks/{channel_type}/{channel_id}", methods=["GET", "POST"])
async def webhook(channel_type: str, channel_id: str, request: Request) -> Response:
    if registry.get(channel_type) is None or not channel_id.isdigit():
        raise NotFound("no such webhook")
    settings = get_services(request).settings
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
    outcome = await get_services(request).ingest.submit(Push(channel_type, int(channel_id), wire))
    if outcome.missing:
        raise NotFound("no such channel")
    if outcome.refused is not None:
        exc = outcome.refused
        return Response(exc.detail, status_code=exc.status, media_type="text/plain")
    result = outcome.result
    assert result is not None
    if outcome.media:
        get_services(request).media.wake()  # downloads happen after the answer
    if outcome.stored:
        INGESTED.labels(channel_type=channel_type, outcome="stored").inc(outcome.stored)
    if outcome.duplicates:
        INGESTED.labels(channel_type=channel_type, outcome="duplicate").inc(outcome.duplicates)
    background = None
    if result.pull is not None:
        # Counted before the answer, pulled after it (app/ingest/pull.py).
        services = get_services(request)
        number = await request_pull(services.db, int(channel_id), result.pull)
        puller = services.puller
        background = BackgroundTask(puller.pull, int(channel_id), result.pull, number)
    return Response(
        result.body, status_code=result.status, media_type=result.media_type, background=background
    )
