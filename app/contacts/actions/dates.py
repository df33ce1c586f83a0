"""Important dates and their `care` tasks.

A care task for a date's next occurrence is made once that occurrence is within
CARE_HORIZON_DAYS (so "this week" on the to-do list is complete), due at the start of
the day `remind_days_before` days before it. `next_care_check_at` says when the
contact's dates need looking at again: the sweep reads only contacts that are due.
"""

from __future__ import annotations

import hashlib
from datetime import date, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.contacts.actions.tasks import cancel_task, create_task
from app.contacts.calendar import (
    ImportantDate,
    date_text,
    day_start,
    next_occurrence,
    today,
)
from app.models import Contact, Task, TaskKind, TaskStatus

# A week ahead plus the default reminder: every care task due this week exists.
CARE_HORIZON_DAYS = 10


def date_key(item: dict[str, Any]) -> str:
    raw = f"{item['label']}|{item.get('calendar', 'solar')}|{item['month']}|{item['day']}"
    return hashlib.sha256(raw.encode()).hexdigest()[:12]


def occasion_key(contact_id: int, item: dict[str, Any], occurrence: date) -> str:
    return f"care:{contact_id}:{date_key(item)}:{occurrence.isoformat()}"


def days_until(item: dict[str, Any], on: date | None = None) -> tuple[date, int] | None:
    start = on or today()
    nxt = next_occurrence(item, start)
    return (nxt, (nxt - start).days) if nxt else None


async def refresh_care(session: AsyncSession, contact: Contact, *, on: date | None = None) -> int:
    """Create the care tasks now in reach, cancel those of removed dates; returns how many
    tasks were created. Sets when to look again."""
    start = on or today()
    wanted: set[str] = set()
    created = 0
    next_check: date | None = None
    # Keys end "<date hash>:<occurrence>"; a merge brings tasks keyed by the other contact.
    existing = {
        ":".join(key.split(":")[2:]): key
        for key in await session.scalars(
            select(Task.occasion_key).where(
                Task.contact_id == contact.id, Task.kind == TaskKind.CARE
            )
        )
        if key
    }
    for item in contact.important_dates or []:
        parsed = ImportantDate.model_validate(item)
        occurrence = next_occurrence(parsed, start)
        if occurrence is None:
            continue
        key = occasion_key(contact.id, item, occurrence)
        remind_on = occurrence - timedelta(days=parsed.remind_days_before)
        if occurrence - start <= timedelta(days=CARE_HORIZON_DAYS):
            found = existing.get(f"{date_key(item)}:{occurrence.isoformat()}")
            wanted.add(found or key)
            if found:
                check = occurrence + timedelta(days=1)
                next_check = check if next_check is None or check < next_check else next_check
                continue
            task = await create_task(
                session,
                kind=TaskKind.CARE,
                title=f"{parsed.label} ({date_text(item)}): {contact.name}".strip(),
                contact_id=contact.id,
                due_at=day_start(remind_on),
                assignee_id=contact.owner_id,
                source="dates",
                occasion_key=key,
            )
            created += task is not None
            check = occurrence + timedelta(days=1)  # then the next occurrence
        else:
            check = occurrence - timedelta(days=CARE_HORIZON_DAYS)
        next_check = check if next_check is None or check < next_check else next_check
    # Open care tasks for dates no longer on the record go away (cancelled, kept).
    stale = await session.scalars(
        select(Task).where(
            Task.contact_id == contact.id,
            Task.kind == TaskKind.CARE,
            Task.status == TaskStatus.OPEN,
        )
    )
    current = {date_key(item) for item in contact.important_dates or []}
    for task in list(stale):
        key = task.occasion_key or ""
        parts = key.split(":")
        if key not in wanted and (len(parts) < 3 or parts[2] not in current):
            await cancel_task(session, task, "日期已从客户资料中删除")
    contact.next_care_check_at = day_start(next_check) if next_check else None
    return created


def date_summaries(items: list[dict[str, Any]], on: date | None = None) -> list[dict[str, Any]]:
    """For the sidebar: each date with its next occurrence and days to go ("生日还有 3 天")."""
    out: list[dict[str, Any]] = []
    for item in items:
        found = days_until(item, on)
        if found:
            out.append({**item, "next": found[0].isoformat(), "days": found[1]})
    return sorted(out, key=lambda d: d["days"])


def validate_dates(raw: list[Any]) -> list[dict[str, Any]]:
    """Validated items as stored; the caller turns ValueError into a 400."""
    return [ImportantDate.model_validate(item).model_dump() for item in raw]
