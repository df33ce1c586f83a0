"""Writes on staff accounts: create users, issue tokens. Every change is audited."""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.accounts import passwords
from app.accounts.passwords import check_not_common
from app.accounts.security import hash_token, new_token
from app.audit import record_audit
from app.errors import BadRequest, Conflict, NotFound
from app.models import ApiToken, Channel, Role, User, UserChannel
from app.realtime.events import publish_access_changed

MIN_PASSWORD_LENGTH = 8  # OWASP ASVS 2.1.1 asks for at least 8 characters


def normalize_email(email: str) -> str:
    email = email.strip().lower()
    if "@" not in email or len(email) > 254 or email.startswith("@") or email.endswith("@"):
        raise BadRequest(f"not an email address: {email!r}")
    return email


async def get_user_by_email(session: AsyncSession, email: str) -> User:
    user = await session.scalar(select(User).where(User.email == normalize_email(email)))
    if user is None:
        raise NotFound(f"no user with email {email}")
    return user


async def get_active_user(session: AsyncSession, user_id: int, field: str = "") -> User:
    """A member to hand work to: 400 when there is no such user or they are deactivated.
    `field` names the request field in the message ("owner_id: ...")."""
    prefix = f"{field}: " if field else ""
    user = await session.get(User, user_id)
    if user is None:
        raise BadRequest(f"{prefix}no user with id {user_id}")
    if not user.active:
        raise BadRequest(f"{prefix}user {user.name} is deactivated")
    return user


def _checked_name(name: str) -> str:
    """A member's name as stored: trimmed, and not empty (creating and renaming alike)."""
    name = name.strip()
    if not name:
        raise BadRequest("name must not be empty")
    return name


def _check_role(role: str) -> None:
    if role not in set(Role):
        raise BadRequest(f"role must be one of admin, supervisor, agent (got {role!r})")


async def create_user(
    session: AsyncSession,
    *,
    email: str,
    name: str,
    role: str,
    password: str,
    channel_ids: Iterable[int] = (),
    actor: User | None = None,
) -> User:
    email = normalize_email(email)
    name = _checked_name(name)
    _check_role(role)
    if len(password) < MIN_PASSWORD_LENGTH:
        raise BadRequest(f"password must have at least {MIN_PASSWORD_LENGTH} characters")
    check_not_common(password)
    # Off the event loop, before this action's own reads (argon2: app/accounts/passwords.py).
    password_hash = await passwords.hash_(password)
    if await session.scalar(select(func.count()).where(User.email == email)):
        raise Conflict(f"a user with email {email} already exists")
    ids = await _check_channels(session, channel_ids)
    user = User(email=email, name=name, role=role, password_hash=password_hash)
    session.add(user)
    await session.flush()
    for channel_id in ids:
        session.add(UserChannel(user_id=user.id, channel_id=channel_id))
    record_audit(
        session,
        actor,
        "user.created",
        "user",
        user.id,
        {"email": email, "role": role, "channels": ids},
    )
    return user


async def _check_channels(session: AsyncSession, channel_ids: Iterable[int]) -> list[int]:
    ids = sorted(set(channel_ids))
    if ids:
        found = set(await session.scalars(select(Channel.id).where(Channel.id.in_(ids))))
        missing = [i for i in ids if i not in found]
        if missing:
            raise BadRequest(f"no such channel: {missing[0]}")
    return ids


async def update_user(
    session: AsyncSession,
    user: User,
    *,
    actor: User,
    name: str | None = None,
    role: str | None = None,
    channel_ids: Iterable[int] | None = None,
    every_channel: bool = False,
) -> User:
    """Rename, change the role, or change which channels a member works on
    (`every_channel` lifts the limit). An admin cannot demote themselves: the last
    admin would lock everyone out of /admin."""
    changes: dict[str, object] = {}
    if name is not None:
        name = _checked_name(name)
        if name != user.name:
            changes["name"] = [user.name, name]
            user.name = name
    if role is not None and role != user.role:
        _check_role(role)
        if user.id == actor.id:
            raise BadRequest("you cannot change your own role")
        changes["role"] = [user.role, role]
        user.role = role
    if channel_ids is not None or every_channel:
        ids = [] if every_channel else await _check_channels(session, channel_ids or ())
        current = sorted(
            await session.scalars(
                select(UserChannel.channel_id).where(UserChannel.user_id == user.id)
            )
        )
        if ids != current:
            for row in await session.scalars(
                select(UserChannel).where(UserChannel.user_id == user.id)
            ):
                await session.delete(row)
            await session.flush()
            for channel_id in ids:
                session.add(UserChannel(user_id=user.id, channel_id=channel_id))
            changes["channels"] = [current or None, ids or None]
    if changes:
        await session.flush()
        record_audit(session, actor, "user.updated", "user", user.id, changes)
    if "role" in changes or "channels" in changes:  # their open sockets see it at once
        publish_access_changed(session, user.id)
    return user


async def create_api_token(session: AsyncSession, user: User, actor: User | None = None) -> str:
    if not user.active:
        raise BadRequest(f"user {user.email} is deactivated")
    token = new_token()
    session.add(ApiToken(user_id=user.id, token_hash=hash_token(token)))
    record_audit(session, actor, "token.created", "user", user.id, {})
    return token
