"""`huiliu migrate`, `huiliu serve` (with `--demo`) and `huiliu simulate`."""

from __future__ import annotations

import argparse
import asyncio
import time
from typing import Any

from app.cli.support import CliError, load_sandbox, print_json, run_migrations, with_session
from app.config import Settings, get_settings


def cmd_migrate(args: argparse.Namespace, settings: Settings) -> None:
    run_migrations(settings.database_url)
    print("database is up to date")


# Longer than any request should take; systemd's TimeoutStopSec (deploy/) is above it.
GRACEFUL_SHUTDOWN_SECONDS = 20


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
        demo = load_sandbox("demo")
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
        with_session(settings, lambda s: demo.seed_demo(s, settings))
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


def cmd_simulate(args: argparse.Namespace, settings: Settings) -> None:
    """Customers writing to a server: channels and their secrets come from its database."""
    from sqlalchemy import select

    from app.models import Channel
    from app.workspace import validate_config

    sim = load_sandbox("simulator.simulator")
    if args.rate <= 0 or args.duration <= 0:
        raise CliError("--rate and --duration must be positive")

    async def load(session: Any) -> list[Any]:
        rows = await session.scalars(
            select(Channel).where(Channel.type.in_(sim.SUPPORTED), Channel.archived.is_(False))
        )
        return [sim.SimChannel(c.id, c.type, validate_config(c.type, dict(c.config))) for c in rows]

    channels = with_session(settings, load)
    simulator = sim.Simulator(args.base_url, channels, rate=args.rate)
    # WeCom channels need their platform at hand (the demo's fake), so they do not count.
    if not simulator.channels:
        raise CliError("no WeChat, Douyin or website channel in the database to write to")
    started = time.monotonic()
    stats = asyncio.run(simulator.run(duration=args.duration))
    elapsed = time.monotonic() - started
    print_json(
        {
            "sent": stats.sent,
            "failed": stats.failed,
            "errors": stats.errors,
            "seconds": round(elapsed, 1),
            "per_second": round(stats.sent / elapsed, 1) if elapsed else 0,
        }
    )
