"""Demo workspace: seeded on the first `huiliu serve --demo` (users with printed passwords)."""

from __future__ import annotations

import secrets

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.accounts.actions import create_user
from app.config import Settings
from app.models import User

DEMO_USERS = (
    ("admin@huiliu.local", "管理员 Admin", "admin"),
    ("supervisor@huiliu.local", "主管 王芳", "supervisor"),
    ("agent1@huiliu.local", "客服 李娜", "agent"),
    ("agent2@huiliu.local", "客服 张伟", "agent"),
)


async def seed_demo(session: AsyncSession, settings: Settings) -> None:
    """Create the demo staff once; print their logins (shown only on first start)."""
    if await session.scalar(select(func.count()).select_from(User)):
        print("demo workspace already seeded; logins were printed on the first start")
        return
    lines = []
    for email, name, role in DEMO_USERS:
        password = secrets.token_urlsafe(9)
        await create_user(session, email=email, name=name, role=role, password=password)
        lines.append(f"  {role:<10} {email:<26} {password}")
    print("Huiliu demo workspace created. Sign in at", settings.public_url + "/login")
    print("\n".join(lines))
