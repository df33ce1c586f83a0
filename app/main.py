"""create_app(): settings, lifespan (database, event hub, http client, delivery worker), routes."""

from __future__ import annotations

import gc
import logging
import time
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from typing import Any

import httpx
from fastapi import FastAPI, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, PlainTextResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.exc import TimeoutError as SQLAlchemyTimeoutError
from starlette.datastructures import Headers
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Receive, Scope, Send
from starlette.types import Message as ASGIMessage

from app.accounts.channel_setup import router as channel_setup_router
from app.accounts.endpoints import router as accounts_router
from app.accounts.tokens import router as tokens_router
from app.archive.endpoints import router as archive_router
from app.campaigns.endpoints import router as campaigns_router
from app.canned.endpoints import router as canned_router
from app.config import SESSION_SETTINGS, Settings, get_settings
from app.contacts.customers_endpoints import router as customers_router
from app.contacts.endpoints import router as contacts_router
from app.contacts.export import router as customers_export_router
from app.contacts.orders_endpoints import router as orders_router
from app.contacts.sweep import CrmSweeper
from app.db import Database, database_unavailable, invalid_input
from app.delivery.typing import TypingRelay
from app.delivery.worker import DeliveryWorker
from app.errors import HuiliuError
from app.extensions import AppExtension
from app.inbox.assignment_worker import AssignmentWorker
from app.inbox.endpoints import router as inbox_router
from app.ingest.batcher import IngestBatcher
from app.ingest.endpoints import router as ingest_router
from app.ingest.pull import Puller, PullWorker
from app.media.endpoints import router as media_router
from app.media.uploads import router as uploads_router
from app.media.worker import MediaWorker
from app.metrics import LATENCY, REQUESTS
from app.realtime.endpoints import router as realtime_router
from app.realtime.hub import EventHub
from app.realtime.presence import Presence
from app.retention.endpoints import router as retention_router
from app.retention.worker import RetentionWorker
from app.service.endpoints import router as service_router
from app.services import AppServices, get_services
from app.storage import LocalStorage
from app.web import accesslog
from app.web.auth import web_auth
from app.web.setup import install_web
from app.widget import install_widget
from app.widget.service import WidgetService

log = logging.getLogger(__name__)

# Platform APIs answer in well under this; a hung call must not hold a delivery slot.
HTTP_TIMEOUT = httpx.Timeout(10.0, connect=5.0)


# The collector's first generation is collected every this many net allocations instead of
# Python's 700: a webhook batch allocates thousands of short-lived ORM and pydantic objects
# (ingest profile: collections were about a quarter of the server's CPU).
GC_GEN0_THRESHOLD = 10_000


def _tune_gc() -> None:
    """Once per process, after the first startup: the modules and objects built at boot live
    as long as the process, so they are frozen out of the collector's full walks; the young
    generation is collected less often."""
    if gc.get_threshold()[0] >= GC_GEN0_THRESHOLD:
        return
    gc.collect()
    gc.freeze()
    _, gen1, gen2 = gc.get_threshold()
    gc.set_threshold(GC_GEN0_THRESHOLD, gen1, gen2)


def create_app(
    settings: Settings | None = None,
    *,
    run_workers: bool = True,
    extensions: Sequence[AppExtension] = (),
) -> FastAPI:
    """The app; `extensions` (e.g. the demo, sandbox/demo.py) are wired around it."""
    settings = settings or get_settings()
    for extension in extensions:
        settings = extension.configure(settings)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        db = Database(settings.database_url)
        hub = EventHub(db, settings.redis_url, settings.events_poll_seconds)
        http = httpx.AsyncClient(timeout=HTTP_TIMEOUT)
        storage = LocalStorage(settings.attachments_dir)
        worker = DeliveryWorker(db, http, settings, storage=storage)
        media = MediaWorker(db, http, settings, storage)
        pulls = PullWorker(Puller(db, http, settings, on_media=media.wake))
        db.on_events = hub.notify
        db.on_delivery_queued = worker.wake
        # Actions deep in a transaction (auto-assignment, search) read the app's settings.
        db.sessions.configure(info={SESSION_SETTINGS: settings})
        typing_relay = TypingRelay(db, http, settings)
        presence = Presence(hub)
        presence.on_typing = typing_relay.agent_typing
        assignment = AssignmentWorker(db, hub, settings)  # presence heartbeat + re-queue
        crm_sweep = CrmSweeper(db)  # due care tasks, at start and hourly
        retention = RetentionWorker(db)  # risk, tiers, lifecycle: changed customers each minute
        widget = WidgetService(settings)
        widget.attach(hub, lambda: bool(assignment.online_anywhere))
        app.state.services = AppServices(
            settings=settings,
            db=db,
            hub=hub,
            http=http,
            storage=storage,
            delivery=worker,
            media=media,
            assignment=assignment,
            typing=typing_relay,
            presence=presence,
            widget=widget,
            ingest=IngestBatcher(db),
            web_auth=web_auth,
            puller=pulls.puller,
        )
        await hub.start()
        if run_workers:
            worker.start()
            media.start()
            pulls.start()
            assignment.start()
            crm_sweep.start()
            retention.start()
        for extension in extensions:
            await extension.start(db)
        _tune_gc()
        try:
            yield
        finally:
            for extension in reversed(extensions):
                await extension.stop()
            await retention.stop()
            await crm_sweep.stop()
            await assignment.stop()
            await typing_relay.stop()
            await pulls.stop()
            await media.stop()
            await worker.stop()
            await hub.stop()
            await http.aclose()
            await db.dispose()

    # max_body_size: every body is counted while it streams (app/web/bodylimit.py).
    app = FastAPI(
        title="Huiliu 汇流",
        version="1",
        lifespan=lifespan,
        max_body_size=settings.max_body_bytes,
    )
    accesslog.install()  # push signatures and tokens never reach the access log
    _install_handlers(app)
    _install_middleware(app, settings)
    app.include_router(inbox_router)
    app.include_router(realtime_router)
    app.include_router(ingest_router)
    app.include_router(media_router)
    app.include_router(uploads_router)
    app.include_router(canned_router)
    app.include_router(campaigns_router)
    app.include_router(contacts_router)
    app.include_router(customers_router)
    app.include_router(customers_export_router)
    app.include_router(orders_router)
    app.include_router(retention_router)
    app.include_router(archive_router)
    app.include_router(accounts_router)
    app.include_router(tokens_router)
    app.include_router(channel_setup_router)
    app.include_router(service_router)
    install_web(app)  # the pages and /static
    install_widget(app)  # /widget/{id}.js, the visitor websocket, uploads, the demo page
    for extension in extensions:
        extension.mount(app)

    @app.get("/healthz", include_in_schema=False)
    async def healthz(request: Request) -> Response:
        try:
            async with get_services(request).db.sessions() as session:
                await session.execute(text("SELECT 1"))
        except Exception as exc:
            return JSONResponse({"status": "unavailable", "detail": str(exc)[:200]}, 503)
        return JSONResponse({"status": "ok"})

    @app.get("/metrics", include_in_schema=False)
    async def metrics() -> Response:
        return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)

    return app


def _install_handlers(app: FastAPI) -> None:
    @app.exception_handler(HuiliuError)
    async def domain_error(_request: Request, exc: HuiliuError) -> Response:
        body: dict[str, Any] = {"detail": exc.detail}
        errors = getattr(exc, "errors", None)  # e.g. the CSV import names every bad row
        if errors is not None:
            body["errors"] = errors
        return JSONResponse(body, status_code=exc.status_code)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(_request: Request, exc: StarletteHTTPException) -> Response:
        return JSONResponse(
            {"detail": exc.detail}, status_code=exc.status_code, headers=exc.headers
        )

    @app.exception_handler(RequestValidationError)
    async def validation_error(_request: Request, exc: RequestValidationError) -> Response:
        errors = [
            {"loc": list(e.get("loc", ())), "msg": e.get("msg", ""), "type": e.get("type", "")}
            for e in exc.errors()
        ]
        return JSONResponse({"detail": errors}, status_code=422)

    @app.exception_handler(Exception)
    async def unexpected(_request: Request, exc: Exception) -> Response:
        log.exception("unhandled error", exc_info=exc)
        return JSONResponse({"detail": "internal error"}, status_code=500)

    # Issue 8 (perf/reliability): a value the database cannot store (an id too large for
    # its column, a NUL character; found by tests/fuzz) is a bad request, and a database
    # outage fails fast with 503 so the platform or browser retries (tests/faults).
    async def database_error(request: Request, exc: Exception) -> Response:
        if invalid_input(exc):
            detail = "a value in the request cannot be stored (number out of range or NUL)"
            # 400, not 422: the OpenAPI schema gives every 422 FastAPI's list of field
            # errors, and this string `detail` must not contradict it (issue 19, item 13).
            return JSONResponse({"detail": detail}, 400)
        if database_unavailable(exc):
            log.warning("database unavailable: %s", exc)
            return JSONResponse(
                {"detail": "database unavailable; retry shortly"},
                status_code=503,
                headers={"Retry-After": "5"},
            )
        return await unexpected(request, exc)

    for error in (OverflowError, DBAPIError, SQLAlchemyTimeoutError, ConnectionError, TimeoutError):
        app.add_exception_handler(error, database_error)


def _install_middleware(app: FastAPI, settings: Settings) -> None:
    app.add_middleware(MeasureAndCap, max_body_bytes=settings.max_body_bytes)


class MeasureAndCap:
    """Refuse declared bodies over the cap (413); count and time requests by route.

    Plain ASGI rather than `@app.middleware("http")`: Starlette's BaseHTTPMiddleware runs
    each request in a task group with memory streams, about 9% of the server's CPU per
    webhook push in the ingest profile."""

    def __init__(self, app: ASGIApp, max_body_bytes: int) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = Headers(scope=scope).get("content-length")
        if declared and (not declared.isdigit() or int(declared) > self.max_body_bytes):
            response = PlainTextResponse("request body too large", status_code=413)
            await response(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def send_status(message: ASGIMessage) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        await self.app(scope, receive, send_status)
        label = getattr(scope.get("route"), "path", "unmatched")
        method = scope["method"]
        REQUESTS.labels(method, label, str(status)).inc()
        LATENCY.labels(method, label).observe(time.perf_counter() - started)
