"""`app.state.services`: the process's long-lived objects, typed, built by the lifespan.

One object instead of loose `app.state` attributes read through `getattr`: code that
needs the database, the hub or the widget's state asks `get_services(conn)` (or takes
`ServicesDep`). The types are imported for the type checker only: this module sits
below every user of it, and the lifespan in `app/main.py` is what builds it.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Annotated
from urllib.parse import urlsplit

from fastapi import Depends
from starlette.requests import HTTPConnection

if TYPE_CHECKING:
    import httpx
    from sqlalchemy.ext.asyncio import AsyncSession

    from app.config import Settings
    from app.db import Database
    from app.delivery.typing import TypingRelay
    from app.delivery.worker import DeliveryWorker
    from app.inbox.assignment_worker import AssignmentWorker
    from app.ingest.batcher import IngestBatcher
    from app.ingest.pull import Puller
    from app.media.worker import MediaWorker
    from app.models import User
    from app.realtime.hub import EventHub
    from app.realtime.presence import Presence
    from app.storage import LocalStorage
    from app.widget.service import WidgetService

# The cookie side of authentication (app/web/auth.py), handed down so that the layers
# below the pages can ask "who is signed in" without importing them.
WebAuth = Callable[[HTTPConnection, "AsyncSession"], Awaitable["User | None"]]


@dataclass(eq=False)
class AppServices:
    settings: Settings
    db: Database
    hub: EventHub
    http: httpx.AsyncClient
    storage: LocalStorage
    delivery: DeliveryWorker
    media: MediaWorker
    assignment: AssignmentWorker
    typing: TypingRelay
    presence: Presence
    widget: WidgetService
    ingest: IngestBatcher
    web_auth: WebAuth
    puller: Puller
    _secret_key: str | None = None

    def secret_key(self) -> str:
        """The signing key, read once (it may live in var/secret_key)."""
        if self._secret_key is None:
            self._secret_key = self.settings.resolved_secret_key()
        return self._secret_key

    def origin_allowed(self, origin: str | None) -> bool:
        """Cookie-authenticated websockets only from our own pages (CSWSH guard)."""
        if not origin:
            return False
        public = urlsplit(self.settings.public_url)
        got = urlsplit(origin)
        return (got.scheme, got.netloc) == (public.scheme, public.netloc)


def get_services(conn: HTTPConnection) -> AppServices:
    """The app's services (the lifespan has run: every request and socket comes after)."""
    services: AppServices = conn.app.state.services
    return services


ServicesDep = Annotated[AppServices, Depends(get_services)]
