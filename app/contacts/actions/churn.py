"""A hard churn event alerts the customer's owner live (CONTRACT section 11).

The hard churn events: a stored inbound event message that marks one (WeChat's
`unsubscribe`, or any event a connector tags with extra["churn"] == "hard", such as
Douyin's `unauthorize`), and an agent marking the customer `lost`. Each makes a
`churned` task for the customer's owner (unassigned when there is none) in the same
transaction as the event; its `task.created` event is what the to-do page, the to-do
badge and the inbox's toast follow. The task's occasion key is the event itself, so a
retried push makes no second task.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from app.contacts.actions.tasks import create_task
from app.i18n import DEFAULT_LANG, texts
from app.models import Contact, Message, Task

# What marks a hard churn in a stored event message (CONTRACT section 11): WeChat's
# `unsubscribe` event (channels/wechat/parser.py), and any event a connector tags with
# extra["churn"] == "hard" (Douyin's `unauthorize`, channels/douyin/events.py).
HARD_CHURN_EVENTS = frozenset({"unsubscribe"})
CHURNED = "churned"  # the task kind


def is_hard_churn(extra: dict[str, Any] | None) -> bool:
    extra = extra or {}
    return extra.get("churn") == "hard" or extra.get("event") in HARD_CHURN_EVENTS


def _title(key: str, **values: str) -> str:
    # Stored once for everyone, like the other tasks' titles: in the default language.
    return texts(DEFAULT_LANG, "churn")[key].format(**values)


def _event_title(extra: dict[str, Any]) -> str:
    event = str(extra.get("event") or "")
    if event == "unsubscribe":
        return _title("unsubscribed")
    if event == "unauthorize":
        return _title("unauthorized")
    return _title("hard_event", event=event)


async def alert_hard_churn(
    session: AsyncSession, stored: Iterable[tuple[Contact, Message]], now: datetime
) -> list[Task]:
    """A `churned` task for each newly stored message that is a hard churn event."""
    made: list[Task] = []
    for contact, message in stored:
        if message.content_type != "event" or message.direction != "inbound":
            continue
        if not is_hard_churn(message.extra):
            continue
        task = await create_task(
            session,
            kind=CHURNED,
            title=_event_title(message.extra or {}),
            contact_id=contact.id,
            due_at=now,
            assignee_id=contact.owner_id,
            source="churn",
            occasion_key=f"churned:message:{message.id}",
            conversation_id=message.conversation_id,
        )
        if task is not None:
            made.append(task)
    return made


async def alert_marked_lost(
    session: AsyncSession, contact: Contact, reason: str, by_name: str, now: datetime
) -> Task | None:
    """The `churned` task for an agent marking the customer lost (one per marking)."""
    return await create_task(
        session,
        kind=CHURNED,
        title=_title("marked_lost", name=by_name, reason=reason),
        contact_id=contact.id,
        due_at=now,
        assignee_id=contact.owner_id,
        source="churn",
        occasion_key=f"churned:lost:{contact.id}:{now.isoformat()}",
    )
