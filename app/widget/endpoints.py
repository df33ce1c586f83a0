"""The widget's HTTP side: the script, image uploads, signed attachment links, the demo page.

Cross-origin by nature: the script runs in the customer's site and calls back here,
so answers carry CORS headers for allowed origins, and every error is a JSON body
the widget can read (the app's error handler would drop those headers).
"""

from __future__ import annotations

import math
import time
import uuid
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, File, Form, Request, UploadFile
from fastapi.responses import JSONResponse, RedirectResponse, Response
from sqlalchemy import select

from app.media.endpoints import INLINE_TYPES
from app.media.uploads import MAX_IMAGE_BYTES, sniff_image
from app.models import Channel, Message
from app.services import get_services
from app.widget import actions, visitors
from app.widget.connection import load_channel, media_link
from app.widget.script import STATIC, build_script, widget_settings
from app.widget.service import WidgetService
from app.widget.visitors import VisitorState, message_data, visitor_message
from channels.base import ContentType
from channels.webchat.frames import FrameError, clean_text, valid_echo_id
from channels.webchat.origins import origin_of_url
from channels.webchat.tokens import VisitorToken, media_signature_valid, verify_token

router = APIRouter(include_in_schema=False)

# The demo host page: our own scripts only, and no inline script at all.
DEMO_CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data: https:; connect-src 'self' ws: wss:; object-src 'none'; "
    "base-uri 'none'; frame-ancestors 'none'; require-trusted-types-for 'script'"
)


def _service(request: Request) -> WidgetService:
    service: WidgetService = get_services(request).widget
    return service


def _request_origin(request: Request) -> str | None:
    """Who embeds us: Origin when the browser sends it, else the Referer's origin."""
    origin = request.headers.get("origin")
    if origin and origin != "null":
        return origin
    referer = request.headers.get("referer")
    return origin_of_url(referer) if referer else None


def _cors(request: Request) -> dict[str, str]:
    origin = request.headers.get("origin")
    headers = {"Vary": "Origin", "Cross-Origin-Resource-Policy": "cross-origin"}
    if origin:
        headers["Access-Control-Allow-Origin"] = origin
    return headers


def _error(request: Request, status: int, detail: str, **headers: str) -> JSONResponse:
    return JSONResponse({"detail": detail}, status, headers={**_cors(request), **headers})


@router.get("/widget/{channel_id}.js")
async def widget_script(channel_id: int, request: Request) -> Response:
    service = _service(request)
    found = await load_channel(get_services(request).db, channel_id)
    js = {"X-Content-Type-Options": "nosniff", "Cross-Origin-Resource-Policy": "cross-origin"}
    if found is None:
        return Response(
            "/* no such website channel */",
            404,
            media_type="text/javascript",
            headers={**js, "Cache-Control": "no-store"},
        )
    channel, config = found
    origin = _request_origin(request)
    if origin is not None and not service.origin_ok(config.allowed_origin, origin):
        return Response(
            "/* this site may not embed this chat widget */",
            403,
            media_type="text/javascript",
            headers={**js, "Cache-Control": "no-store"},
        )
    # The configured public address, never the request's Host header: a forged Host would
    # otherwise point the script (and a cache keeping it) at another server.
    public_url = get_services(request).settings.public_url
    settings = widget_settings(channel.id, channel.name, config, public_url)
    body, etag = build_script(settings)
    # Revalidated on every load (an ETag 304): a changed greeting shows at once.
    headers = {**js, "ETag": etag, "Cache-Control": "no-cache", "Vary": "Origin, Referer"}
    if request.headers.get("if-none-match") == etag:
        return Response(status_code=304, headers=headers)
    return Response(body, media_type="text/javascript; charset=utf-8", headers=headers)


@router.options("/widget/{channel_id}/upload")
async def upload_preflight(channel_id: int, request: Request) -> Response:
    headers = _cors(request)
    headers.update({"Access-Control-Allow-Methods": "POST", "Access-Control-Max-Age": "600"})
    return Response(status_code=204, headers=headers)


@router.post("/widget/{channel_id}/upload")
async def upload_image(
    channel_id: int,
    request: Request,
    file: Annotated[UploadFile, File()],
    token: Annotated[str, Form(max_length=1000)],
    echo_id: Annotated[str, Form(max_length=64)],
    caption: Annotated[str, Form(max_length=8000)] = "",
) -> Response:
    """A visitor's image: stored, then a message like any other (idempotent per echo_id)."""
    service = _service(request)
    db = get_services(request).db
    found = await load_channel(db, channel_id)
    if found is None:
        return _error(request, 404, "no such website channel")
    channel, config = found
    origin = request.headers.get("origin")
    if origin is not None and not service.origin_ok(config.allowed_origin, origin):
        return _error(request, 403, "origin not allowed")
    visitor = verify_token(service.token_key(channel_id), token, channel_id, int(time.time()))
    if visitor is None:
        return _error(request, 401, "invalid visitor token")
    if not valid_echo_id(echo_id):
        return _error(request, 400, "invalid echo_id")
    try:
        text = clean_text(caption, 4000)
    except FrameError as exc:
        return _error(request, exc.code, exc.detail)
    ip = request.client.host if request.client else "unknown"
    wait = service.message_visitor.take(f"{channel_id}:{visitor.visitor_id}") or (
        service.message_ip.take(ip)
    )
    async with db.sessions() as session:
        existing = await visitors.stored_message(session, channel_id, visitor.visitor_id, echo_id)
    if wait and existing is None:
        return _error(request, 429, "too many messages", **{"Retry-After": str(math.ceil(wait))})
    link = lambda mid, i: media_link(service, channel_id, mid, i)  # noqa: E731
    if existing is not None:  # a retried upload: already stored
        return JSONResponse(
            {"message": visitor_message(message_data(existing), link)}, headers=_cors(request)
        )
    content = await file.read(MAX_IMAGE_BYTES + 1)
    if len(content) > MAX_IMAGE_BYTES:
        return _error(request, 413, f"image larger than {MAX_IMAGE_BYTES // (1024 * 1024)} MB")
    mime = sniff_image(content)
    if mime is None:
        return _error(request, 415, "only PNG, JPEG and GIF images can be sent")
    key = f"webchat/{channel_id}/{uuid.uuid4().hex}"
    await get_services(request).storage.put(key, content)
    data = await _store_image(
        service,
        db,
        channel.id,
        visitor,
        echo_id,
        text,
        {
            "kind": "image",
            "status": "ready",
            "storage_key": key,
            "mime_type": mime,
            "file_name": (file.filename or "image")[:200],
            "size": len(content),
        },
    )
    return JSONResponse({"message": visitor_message(data, link)}, 201, headers=_cors(request))


async def _store_image(
    service: WidgetService,
    db: Any,
    channel_id: int,
    visitor: VisitorToken,
    echo_id: str,
    text: str,
    attachment: dict[str, Any],
) -> dict[str, Any]:
    async with db.session() as session:
        channel = await session.get(Channel, channel_id)
        assert channel is not None
        state = VisitorState()
        message, new = await actions.record_visitor_message(
            session,
            channel,
            visitor,
            state,
            echo_id,
            text,
            content_type=ContentType.IMAGE,
            stored_file=attachment,
        )
        if new:
            # The visitor's open sockets learn the conversation before its events arrive.
            service.adopt(visitor.external_id, state)
        return message_data(message)


@router.get("/widget/{channel_id}/media/{message_id}/{index}")
async def widget_media(
    channel_id: int, message_id: int, index: int, e: int, s: str, request: Request
) -> Response:
    """An attachment, by the signed link the visitor's socket handed out."""
    service = _service(request)
    key = service.media_key(channel_id)
    if not media_signature_valid(key, channel_id, message_id, index, e, s, int(time.time())):
        return _error(request, 403, "invalid or expired link")
    async with get_services(request).db.sessions() as session:
        message = await session.get(Message, message_id)
    if message is None or message.channel_id != channel_id or message.private:
        return _error(request, 404, "attachment not found")
    attachments = message.attachments or []
    if not 0 <= index < len(attachments) or attachments[index].get("status") != "ready":
        return _error(request, 404, "attachment not found")
    att = attachments[index]
    content = await get_services(request).storage.get(att["storage_key"])
    mime = str(att.get("mime_type") or "").lower()
    image = mime in INLINE_TYPES and mime.startswith("image/")
    # An agent's document is a download (never rendered in our origin); other kinds
    # are not offered to visitors.
    if content is None or not (image or att.get("kind") == "file"):
        return _error(request, 404, "attachment not found")
    headers = {
        **_cors(request),
        "X-Content-Type-Options": "nosniff",
        "Content-Security-Policy": "default-src 'none'; sandbox",
        "Cache-Control": "private, max-age=86400",
    }
    if not image:
        name = quote(str(att.get("file_name") or f"file-{message_id}-{index}"))
        headers["Content-Disposition"] = f"attachment; filename*=UTF-8''{name}"
    return Response(
        content, media_type=mime if image else "application/octet-stream", headers=headers
    )


@router.get("/widget-demo")
async def demo_redirect(request: Request) -> Response:
    """The host page of the first website channel (the demo creates one at start)."""
    async with get_services(request).db.sessions() as session:
        channel_id = await session.scalar(
            select(Channel.id)
            .where(Channel.type == "webchat", Channel.archived.is_(False))
            .order_by(Channel.id)
            .limit(1)
        )
    if channel_id is None:
        return _error(request, 404, "no website channel yet: huiliu channel create webchat")
    return RedirectResponse(f"/widget-demo/{channel_id}", 303)


@router.get("/widget-demo/{channel_id}")
async def demo_page(channel_id: int, request: Request) -> Response:
    """A host page embedding the widget, so anyone can chat as a customer."""
    if await load_channel(get_services(request).db, channel_id) is None:
        return _error(request, 404, "no such website channel")
    html = (STATIC / "demo.html").read_text(encoding="utf-8")
    html = html.replace("{{SCRIPT}}", f"/widget/{channel_id}.js")
    return Response(
        html,
        media_type="text/html; charset=utf-8",
        headers={
            "Content-Security-Policy": DEMO_CSP,
            "X-Content-Type-Options": "nosniff",
            "Referrer-Policy": "strict-origin-when-cross-origin",
        },
    )
