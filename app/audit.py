"""The append-only audit log: who did what to which object, when."""

from __future__ import annotations

from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from app.models import AuditLog, User


def record_audit(
    session: AsyncSession,
    actor: User | None,
    action: str,
    object_type: str,
    object_id: int | str,
    details: dict[str, Any],
) -> None:
    session.add(
        AuditLog(
            actor_id=actor.id if actor else None,
            actor_name=actor.name if actor else "system",
            action=action,
            object_type=object_type,
            object_id=str(object_id),
            details=details,
        )
    )
