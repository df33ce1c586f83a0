"""The `huiliu` command (CONTRACT section 3). Bad input: exit 2 with one line on stderr.

The parser and the dispatch are here; each group of commands has its module.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable

from app.cli.data import cmd_channel_create, cmd_export, cmd_search
from app.cli.server import cmd_migrate, cmd_serve, cmd_simulate
from app.cli.staff import cmd_token_create, cmd_user
from app.cli.support import CliError, Parser, run_migrations
from app.config import Settings, get_settings
from app.errors import HuiliuError

__all__ = ["CliError", "build_parser", "main", "run_migrations"]


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
