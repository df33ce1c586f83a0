"""`huiliu export`, `huiliu search reindex` and `huiliu channel create`."""

from __future__ import annotations

import argparse
import asyncio
from pathlib import Path
from typing import Any

from app.cli.support import CliError, print_json, with_session
from app.config import Settings


def _iso(value: str | None, option: str) -> Any:
    from datetime import UTC, datetime

    if value is None:
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError as exc:
        raise CliError(f"{option} must be an ISO date or time, e.g. 2026-01-31") from exc
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed


def cmd_export(args: argparse.Namespace, settings: Settings) -> None:
    from app.archive.commands import export_to_file
    from app.archive.queries import ArchiveFilters

    f = ArchiveFilters(
        channel_id=args.channel,
        since=_iso(args.since, "--since"),
        until=_iso(args.until, "--until"),
    )
    out = Path(args.out)
    if not out.parent.is_dir():
        raise CliError(f"--out: no such directory: {out.parent}")
    print_json(asyncio.run(export_to_file(settings.database_url, f, out)))


def cmd_search(args: argparse.Namespace, settings: Settings) -> None:
    from app.archive.commands import reindex_all

    print_json(asyncio.run(reindex_all(settings.database_url)))


def parse_options(extra: list[str]) -> dict[str, Any]:
    """`--key value` pairs into a dict; a repeated key becomes a list."""
    options: dict[str, Any] = {}
    i = 0
    while i < len(extra):
        key = extra[i]
        if not key.startswith("--") or len(key) < 3:
            raise CliError(f"unexpected argument {key!r}")
        if i + 1 >= len(extra) or extra[i + 1].startswith("--"):
            raise CliError(f"option {key} needs a value")
        name, value = key[2:].replace("-", "_"), extra[i + 1]
        if name in options:
            previous = options[name]
            options[name] = (previous if isinstance(previous, list) else [previous]) + [value]
        else:
            options[name] = value
        i += 2
    return options


def cmd_channel_create(args: argparse.Namespace, settings: Settings, extra: list[str]) -> None:
    from app.workspace import create_channel, describe_channel

    options = parse_options(extra)

    async def go(session: Any) -> dict[str, Any]:
        channel = await create_channel(session, args.type, args.name, options)
        return describe_channel(channel, settings)

    print_json(with_session(settings, go))
