"""Plugs the web pages into the app: routes, /static."""

from __future__ import annotations

from fastapi import FastAPI
from starlette.staticfiles import StaticFiles
from starlette.types import Message, Receive, Scope, Send

from app.web.crm_pages import router as crm_pages_router
from app.web.pages import FRONTEND
from app.web.pages import router as pages_router
from app.web.retention_page import router as retention_page_router
from app.web.service_pages import router as service_pages_router


class StaticAssets(StaticFiles):
    """Plain ES modules, no build step and so no hashed names: browsers revalidate each
    file (a 304 from the ETag), so a deploy never leaves a stale module behind."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                headers.append((b"cache-control", b"no-cache"))
                headers.append((b"x-content-type-options", b"nosniff"))
                message = {**message, "headers": headers}
            await send(message)

        await super().__call__(scope, receive, send_with_headers)


def install_web(app: FastAPI) -> None:
    app.include_router(pages_router)
    app.include_router(crm_pages_router)
    app.include_router(service_pages_router)
    app.include_router(retention_page_router)
    app.mount("/static", StaticAssets(directory=FRONTEND / "static"), name="static")
