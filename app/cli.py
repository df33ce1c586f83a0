"""The `huiliu` command (CONTRACT section 3). Bad input: exit 2 with one line on stderr."""

from __future__ import annotations

import argparse
import asyncio
import importlib
import json
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, NoReturn

from app.config import VAR_DIR, Settings, get_settings
from app.errors import HuiliuError


class CliError(Exception):
    pass


class Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        raise CliError(message)


def run_migrations(url: str) -> None:
    from alembic import command
    from alembic.config import Config

    root = Path(__file__).resolve().parent.parent
    config = Config(str(root / "alembic.ini"))
    config.set_main_option("script_location", str(root / "migrations"))
    config.attributes["url"] = url
    config.attributes["configure_logging"] = False
    if url.startswith("sqlite"):
        VAR_DIR.mkdir(parents=True, exist_ok=True)
    command.upgrade(config, "head")


def _with_session(settings: Settings, fn: Callable[[Any], Awaitable[Any]]) -> Any:
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


def _print(obj: Any) -> None:
    print(json.dumps(obj, ensure_ascii=False, indent=2, default=str))


def cmd_migrate(args: argparse.Namespace, settings: Settings) -> None:
    run_migrations(settings.database_url)
    print("database is up to date")


# Longer than any request should take; systemd's TimeoutStopSec (deploy/) is above it.
GRACEFUL_SHUTDOWN_SECONDS = 20


def _sandbox(module: str) -> Any:
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


def cmd_serve(args: argparse.Namespace, settings: Settings) -> None:
    import os

    import uvicorn

    from app.realtime.transport import WEBSOCKET_OPTIONS
    from app.web.bodylimit import SERVER_LIMITS

    if args.workers < 1:
        raise CliError("--workers must be at least 1")
    run_migrations(settings.database_url)
    factory = "app.main:create_app"
    if args.demo:
        demo = _sandbox("demo")
        factory = "sandbox.demo:create_demo_app"
        if args.workers != 1:
            raise CliError(
                "--demo runs one worker (the simulator and fake platforms are in-process)"
            )
        # The server's own settings come from the environment (uvicorn imports the factory).
        os.environ["HUILIU_DEMO"] = "1"
        if "HUILIU_PUBLIC_URL" not in os.environ:
            host = "127.0.0.1" if args.host in ("0.0.0.0", "::") else args.host  # noqa: S104
            os.environ["HUILIU_PUBLIC_URL"] = f"http://{host}:{args.port}"
        get_settings.cache_clear()
        settings = get_settings()
        _with_session(settings, lambda s: demo.seed_demo(s, settings))
    uvicorn.run(
        factory,
        factory=True,
        host=args.host,
        port=args.port,
        workers=args.workers,
        proxy_headers=True,
        log_level="info",
        # uvicorn's websocket protocol plus pre-encoded frames for the fan-out, without
        # permessage-deflate (the reasons are in app/realtime/transport.py).
        **WEBSOCKET_OPTIONS,
        **SERVER_LIMITS,  # websocket messages capped before they are read whole
        # SIGTERM: stop accepting, let in-flight requests finish (a webhook is answered
        # within the platforms' 5 s or retried anyway), close sockets with 1012, exit.
        timeout_graceful_shutdown=GRACEFUL_SHUTDOWN_SECONDS,
    )


def cmd_user_create(args: argparse.Namespace, settings: Settings) -> None:
    from app.accounts.actions import create_user

    password = sys.stdin.readline().rstrip("\r\n")
    channel_ids: list[int] = []
    if args.channels:
        try:
            channel_ids = [int(p) for p in args.channels.split(",") if p.strip()]
        except ValueError as exc:
            raise CliError("--channels must be a comma-separated list of channel ids") from exc

    async def go(session: Any) -> dict[str, Any]:
        user = await create_user(
            session,
            email=args.email,
            name=args.name,
            role=args.role,
            password=password,
            channel_ids=channel_ids,
        )
        return {
            "id": user.id,
            "email": user.email,
            "name": user.name,
            "role": user.role,
            "active": user.active,
            "channel_ids": channel_ids or None,
        }

    _print(_with_session(settings, go))


def cmd_user(args: argparse.Namespace, settings: Settings) -> None:
    handlers = {
        "create": cmd_user_create,
        "deactivate": cmd_user_deactivate,
        "reactivate": cmd_user_reactivate,
    }
    handlers[args.action](args, settings)


def cmd_user_deactivate(args: argparse.Namespace, settings: Settings) -> None:
    """Staff turnover. A running server notices at once for requests and new sockets
    (tokens and sessions are checked each time); sockets already open are closed when
    its hub reads the logged `user.access_changed`: at once with Redis (the command
    hints every server), else at the server's next poll (`events_poll_seconds`)."""
    from app.accounts.actions import get_user_by_email
    from app.accounts.offboarding import deactivate_user

    async def go(session: Any) -> dict[str, Any]:
        user = await get_user_by_email(session, args.email)
        successor = await get_user_by_email(session, args.reassign_to) if args.reassign_to else None
        result = await deactivate_user(session, user, successor=successor)
        return {
            "id": user.id,
            "email": user.email,
            "active": user.active,
            "handovers": [{"conversation_id": c, "assignee_id": a} for c, a in result.handovers],
            "customers": result.customers,
            "tasks": result.tasks,
            "tokens_revoked": result.tokens_revoked,
            "sessions_revoked": result.sessions_revoked,
        }

    _print(_with_session(settings, go))


def cmd_user_reactivate(args: argparse.Namespace, settings: Settings) -> None:
    from app.accounts.actions import get_user_by_email
    from app.accounts.offboarding import reactivate_user

    async def go(session: Any) -> dict[str, Any]:
        user = await reactivate_user(session, await get_user_by_email(session, args.email))
        return {"id": user.id, "email": user.email, "active": user.active}

    _print(_with_session(settings, go))


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
    _print(asyncio.run(export_to_file(settings.database_url, f, out)))


def cmd_search(args: argparse.Namespace, settings: Settings) -> None:
    from app.archive.commands import reindex_all

    _print(asyncio.run(reindex_all(settings.database_url)))


def cmd_token_create(args: argparse.Namespace, settings: Settings) -> None:
    from app.accounts.actions import create_api_token, get_user_by_email

    async def go(session: Any) -> dict[str, str]:
        user = await get_user_by_email(session, args.email)
        return {"token": await create_api_token(session, user)}

    _print(_with_session(settings, go))


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

    _print(_with_session(settings, go))


def cmd_simulate(args: argparse.Namespace, settings: Settings) -> None:
    """Customers writing to a server: channels and their secrets come from its database."""
    from sqlalchemy import select

    from app.models import Channel
    from app.workspace import validate_config

    sim = _sandbox("simulator.simulator")
    if args.rate <= 0 or args.duration <= 0:
        raise CliError("--rate and --duration must be positive")

    async def load(session: Any) -> list[Any]:
        rows = await session.scalars(
            select(Channel).where(Channel.type.in_(sim.SUPPORTED), Channel.archived.is_(False))
        )
        return [sim.SimChannel(c.id, c.type, validate_config(c.type, dict(c.config))) for c in rows]

    channels = _with_session(settings, load)
    simulator = sim.Simulator(args.base_url, channels, rate=args.rate)
    # WeCom channels need their platform at hand (the demo's fake), so they do not count.
    if not simulator.channels:
        raise CliError("no WeChat, Douyin or website channel in the database to write to")
    started = time.monotonic()
    stats = asyncio.run(simulator.run(duration=args.duration))
    elapsed = time.monotonic() - started
    _print(
        {
            "sent": stats.sent,
            "failed": stats.failed,
            "errors": stats.errors,
            "seconds": round(elapsed, 1),
            "per_second": round(stats.sent / elapsed, 1) if elapsed else 0,
        }
    )


def build_parser() -> Parser:
    parser = Parser(prog="huiliu", description="Huiliu omnichannel inbox")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=Parser)

    serve = sub.add_parser("serve", help="migrate, then serve")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8000)
    serve.add_argument("--workers", type=int, default=1)
    serve.add_argument("--demo", action="store_true", help="seed a demo workspace")

    sub.add_parser("migrate", help="alembic upgrade head")

    simulate = sub.add_parser("simulate", help="simulated customers writing to a server")
    simulate.add_argument("--base-url", required=True)
    simulate.add_argument("--rate", type=float, default=1.0, help="messages per second")
    simulate.add_argument("--duration", type=float, default=60.0, help="seconds")

    user = sub.add_parser("user").add_subparsers(dest="action", required=True, parser_class=Parser)
    create = user.add_parser("create", help="create a user; the password is read from stdin")
    create.add_argument("--email", required=True)
    create.add_argument("--name", required=True)
    create.add_argument("--role", required=True, choices=["admin", "supervisor", "agent"])
    create.add_argument("--channels")
    deactivate = user.add_parser("deactivate", help="staff turnover: sign-in and tokens stop")
    deactivate.add_argument("--email", required=True)
    deactivate.add_argument("--reassign-to", help="who takes over the open conversations")
    user.add_parser("reactivate", help="allow a deactivated user to sign in again").add_argument(
        "--email", required=True
    )

    export = sub.add_parser("export", help="every conversation with its messages, as JSON lines")
    export.add_argument("--since")
    export.add_argument("--until")
    export.add_argument("--channel", type=int)
    export.add_argument("--out", required=True)

    search = sub.add_parser("search").add_subparsers(
        dest="action", required=True, parser_class=Parser
    )
    search.add_parser("reindex", help="rebuild the full-text index from the messages")

    token = sub.add_parser("token").add_subparsers(
        dest="action", required=True, parser_class=Parser
    )
    token.add_parser("create").add_argument("--email", required=True)

    channel = sub.add_parser("channel").add_subparsers(
        dest="action", required=True, parser_class=Parser
    )
    ch_create = channel.add_parser("create", help="connect a channel")
    ch_create.add_argument("type")
    ch_create.add_argument("--name", required=True)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    try:
        args, extra = parser.parse_known_args(argv)
        settings = get_settings()
        if args.command == "channel":
            cmd_channel_create(args, settings, extra)
            return 0
        if extra:
            raise CliError(f"unrecognized arguments: {' '.join(extra)}")
        handlers: dict[str, Callable[[argparse.Namespace, Settings], None]] = {
            "serve": cmd_serve,
            "migrate": cmd_migrate,
            "simulate": cmd_simulate,
            "user": cmd_user,
            "export": cmd_export,
            "search": cmd_search,
            "token": cmd_token_create,
        }
        handlers[args.command](args, settings)
        return 0
    except (CliError, HuiliuError) as exc:
        print(f"huiliu: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    except Exception as exc:  # never a traceback to the user; one line saying why
        print(f"huiliu: error: {type(exc).__name__}: {exc}".splitlines()[0], file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
