"""`/webhooks/{type}/{channel_id}`: every platform's pushes enter here.

The connector verifies and parses (pure, no I/O); this module stores what it
parsed in one transaction and only then answers, so an acknowledged message is
durable. A bad signature answers 403 and a malformed body 400, and neither
stores anything. Slow work (media download) happens after the answer.
"""

from __future__ import annotations

from fastapi import APIRouter, Request, Response
from sqlalchemy import select

from app.db import Database
from app.delivery.context import connector_for
from app.errors import BadRequest, NotFound
from app.inbox.inbound import record_inbound_message
from app.metrics import INGESTED
from app.models import Channel
from channels import registry
from channels.base import WebhookError, WebhookRequest

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


@router.api_route("/webhooks/{channel_type}/{channel_id}", methods=["GET", "POST"])
async def webhook(channel_type: str, channel_id: str, request: Request) -> Response:
    if registry.get(channel_type) is None or not channel_id.isdigit():
        raise NotFound("no such webhook")
    db: Database = request.app.state.db
    settings = request.app.state.settings
    body = await read_capped(request, settings.max_webhook_bytes)
    async with db.session() as session:
        channel = await session.scalar(
            select(Channel).where(Channel.id == int(channel_id), Channel.type == channel_type)
        )
        if channel is None or channel.archived:
            raise NotFound("no such channel")
        connector = connector_for(channel.type)
        config = connector.config_model.model_validate(channel.config)
        wire = WebhookRequest(
            method=request.method,
            query=dict(request.query_params),
            headers={k.lower(): v for k, v in request.headers.items()},
            body=body,
        )
        try:
            result = connector.handle_webhook(config, wire)
        except WebhookError as exc:
            return Response(exc.detail, status_code=exc.status, media_type="text/plain")
        window_for = getattr(connector, "reply_window_for", None)
        reply_window = window_for(config) if window_for else connector.reply_window
        stored = 0
        media = False
        for inbound in result.messages:
            message = await record_inbound_message(
                session, channel, inbound, reply_window=reply_window
            )
            stored += message is not None
            media = media or (message is not None and message.media_pending)
        # Leaving the block commits; only then is the platform told "received".
    if media:
        request.app.state.media.wake()  # downloads happen after the answer
    duplicates = len(result.messages) - stored
    if stored:
        INGESTED.labels(channel_type=channel_type, outcome="stored").inc(stored)
    if duplicates:
        INGESTED.labels(channel_type=channel_type, outcome="duplicate").inc(duplicates)
    return Response(result.body, status_code=result.status, media_type=result.media_type)
