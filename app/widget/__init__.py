"""The website chat widget: its script, the visitor's websocket, uploads, the demo page.

`install_widget(app)` adds the routes; the lifespan builds `AppServices.widget` (the
WidgetService that holds rate limits and the live visitor connections of this process).
"""

from __future__ import annotations

from fastapi import FastAPI


def install_widget(app: FastAPI) -> None:
    # Imported here: the package's modules import `app.widget.visitors` and friends.
    from app.widget.endpoints import router
    from app.widget.socket import router as socket_router

    app.include_router(router)
    app.include_router(socket_router)
