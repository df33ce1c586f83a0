"""What a caller of `create_app` may add around the product without the product knowing it.

The demo (`sandbox.demo`) is one: it points the platform API bases at fake platforms it
mounts in the same server and runs a customer simulator. `app/` never imports such an
extension; `huiliu serve --demo` names it, and tests pass their own.
"""

from __future__ import annotations

from typing import Protocol

from fastapi import FastAPI

from app.config import Settings
from app.db import Database


class AppExtension(Protocol):
    def configure(self, settings: Settings) -> Settings:
        """The settings the app runs with (e.g. API bases pointed at local fakes)."""
        ...

    def mount(self, app: FastAPI) -> None:
        """Add routes or sub-applications (called once, before serving)."""
        ...

    async def start(self, db: Database) -> None:
        """After the app's own services are up (its database is migrated)."""
        ...

    async def stop(self) -> None:
        """Before the app's own services stop."""
        ...
