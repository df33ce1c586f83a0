"""`huiliu user create|deactivate|reactivate` and `huiliu token create`: the staff."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from app.cli.support import CliError, print_json, with_session
from app.config import Settings


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

    print_json(with_session(settings, go))


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

    print_json(with_session(settings, go))


def cmd_user_reactivate(args: argparse.Namespace, settings: Settings) -> None:
    from app.accounts.actions import get_user_by_email
    from app.accounts.offboarding import reactivate_user

    async def go(session: Any) -> dict[str, Any]:
        user = await reactivate_user(session, await get_user_by_email(session, args.email))
        return {"id": user.id, "email": user.email, "active": user.active}

    print_json(with_session(settings, go))


def cmd_token_create(args: argparse.Namespace, settings: Settings) -> None:
    from app.accounts.actions import create_api_token, get_user_by_email

    async def go(session: Any) -> dict[str, str]:
        user = await get_user_by_email(session, args.email)
        return {"token": await create_api_token(session, user)}

    print_json(with_session(settings, go))
