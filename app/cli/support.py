"""What every `huiliu` command shares: the argument error, migrations, a session, output."""

from __future__ import annotations

import argparse
import asyncio
import importlib
import json
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, NoReturn

from app.config import VAR_DIR, Settings


class CliError(Exception):
    """Bad input on the command line: exit 2 with this one line."""


class Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        raise CliError(message)


def run_migrations(url: str) -> None:
    from alembic import command
    from alembic.config import Config

    root = Path(__file__).resolve().parents[2]
    config = Config(str(root / "alembic.ini"))
    config.set_main_option("script_location", str(root / "migrations"))
    config.attributes["url"] = url
    config.attributes["configure_logging"] = False
    if url.startswith("sqlite"):
        VAR_DIR.mkdir(parents=True, exist_ok=True)
    command.upgrade(config, "head")


def with_session(settings: Settings, fn: Callable[[Any], Awaitable[Any]]) -> Any:
    from app.db import Database

    async def go() -> Any:
        db = Database(settings.database_url)
        logged: list[int] = []
        db.on_events = logged.extend
        try:
            async with db.session() as session:
                result = await fn(session)
        finally:
            await db.dispose()
        if logged and settings.redis_url:  # the servers' hubs read the log now, not at their poll
            from app.realtime.hub import hint_servers

            try:
                await hint_servers(settings.redis_url, max(logged))
            except Exception as exc:  # Redis down: their poll reads the events shortly
                print(f"servers not told at once (redis: {exc})", file=sys.stderr)
        return result

    return asyncio.run(go())


def print_json(obj: Any) -> None:
    print(json.dumps(obj, ensure_ascii=False, indent=2, default=str))


def load_sandbox(module: str) -> Any:
    """A module of the sandbox (fake platforms, simulator, demo), loaded by name: the
    product never imports it, and an installation without it still serves."""
    try:
        return importlib.import_module(f"sandbox.{module}")
    except ModuleNotFoundError as exc:
        if exc.name is None or exc.name.split(".")[0] != "sandbox":
            raise
        raise CliError(
            "the demo and the simulator need the sandbox package of a development checkout "
            "(pip install -e . in the source tree)"
        ) from exc
