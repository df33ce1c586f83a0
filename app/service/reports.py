"""The service report (contract section 9), from `conversation_facts` only.

Over the conversations created in [since, until), grouped by the day they were created
(in HUILIU_TIMEZONE), by agent (the assignee at the first response) or by channel:

- `conversations`, `messages_in`, `messages_out` (agent replies, not system messages);
- `first_response_p50_s` / `_p90_s`: nearest-rank percentiles (the value at rank
  ceil(p x n) of the n answered conversations, sorted), counted within the channel's
  business hours when it has them;
- `first_response_within_target`: the share of answered conversations answered within
  the channel's first-response target; `resolution_p50_s` and `resolved` over the
  conversations resolved now; `csat_responses` and `csat_score` (the share rated 4 or 5).
Shares are 0-1 and null when there is nothing to count.
"""

from __future__ import annotations

import csv
import io
import math
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.accounts.viewer import Viewer
from app.errors import BadRequest
from app.models import (
    Channel,
    Conversation,
    ConversationFacts,
    ConversationStatus,
    ServiceSettings,
    User,
    utcnow_for_models,
)
from app.service.hours import zone
from app.service.settings import DEFAULT_FIRST_RESPONSE_MINUTES

MAX_RANGE = timedelta(days=731)  # "over 2 years" is refused
GROUPINGS = ("day", "agent", "channel")
FIELDS = (
    "group",
    "conversations",
    "messages_in",
    "messages_out",
    "first_response_p50_s",
    "first_response_p90_s",
    "first_response_within_target",
    "resolution_p50_s",
    "resolved",
    "csat_responses",
    "csat_score",
)


def percentile(sorted_values: Sequence[int], p: float) -> int | None:
    """Nearest rank: the value at rank ceil(p x n) (1-based); None for no values."""
    if not sorted_values:
        return None
    rank = max(1, math.ceil(p * len(sorted_values)))
    return sorted_values[rank - 1]


def parse_moment(value: str | None, tz: ZoneInfo, name: str) -> datetime | None:
    """A date (the start of that day in the workspace zone) or a time (naive = that zone)."""
    if value is None or value == "":
        return None
    try:
        if len(value) == 10:
            return datetime.combine(date.fromisoformat(value), time(0), tz).astimezone(UTC)
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise BadRequest(f"{name} must be a date (2026-12-01) or a time (ISO 8601)") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=tz)
    return moment.astimezone(UTC)


@dataclass
class Range:
    since: datetime
    until: datetime
    tz: ZoneInfo


def report_range(session: AsyncSession, since: str | None, until: str | None) -> Range:
    """The range asked for (default: the last 7 days and today); BadRequest when bad."""
    tz = zone(session)
    start, end = parse_moment(since, tz, "since"), parse_moment(until, tz, "until")
    if end is None:
        tomorrow = datetime.now(tz).date() + timedelta(days=1)
        end = datetime.combine(tomorrow, time(0), tz).astimezone(UTC)
    if start is None:
        start = end - timedelta(days=7)
    if end <= start:
        raise BadRequest("until must be after since")
    if end - start > MAX_RANGE:
        raise BadRequest("the range must not be over 2 years")
    return Range(start, end, tz)


@dataclass
class Targets:
    """First-response targets in seconds: per channel with settings, else the default."""

    by_channel: dict[int, int]
    default: int = DEFAULT_FIRST_RESPONSE_MINUTES * 60


async def first_response_targets(session: AsyncSession) -> Targets:
    rows = await session.execute(
        select(ServiceSettings.channel_id, ServiceSettings.first_response_minutes)
    )
    return Targets({channel_id: minutes * 60 for channel_id, minutes in rows})


async def overdue_count(session: AsyncSession, viewer: Viewer) -> int:
    """Open or pending conversations not answered by their first-response deadline (the
    channel's target counted in its business hours, `Conversation.first_response_due_at`)."""
    stmt = select(func.count(Conversation.id)).where(
        Conversation.status != ConversationStatus.RESOLVED,
        Conversation.first_response_at.is_(None),
        Conversation.first_response_due_at < utcnow_for_models(),
    )
    clause = viewer.channel_clause(Conversation.channel_id)
    if clause is not None:
        stmt = stmt.where(clause)
    return int(await session.scalar(stmt) or 0)


@dataclass
class _Group:
    conversations: int = 0
    messages_in: int = 0
    messages_out: int = 0
    first: list[int] = field(default_factory=list)
    within: int = 0
    resolution: list[int] = field(default_factory=list)
    scores: list[int] = field(default_factory=list)

    def out(self, group: Any) -> dict[str, Any]:
        first = sorted(self.first)
        resolution = sorted(self.resolution)
        good = sum(1 for s in self.scores if s >= 4)
        return {
            "group": group,
            "conversations": self.conversations,
            "messages_in": self.messages_in,
            "messages_out": self.messages_out,
            "first_response_p50_s": percentile(first, 0.5),
            "first_response_p90_s": percentile(first, 0.9),
            "first_response_within_target": (round(self.within / len(first), 4) if first else None),
            "resolution_p50_s": percentile(resolution, 0.5),
            "resolved": len(resolution),
            "csat_responses": len(self.scores),
            "csat_score": round(good / len(self.scores), 4) if self.scores else None,
        }


async def service_report(
    session: AsyncSession, viewer: Viewer, span: Range, by: str
) -> dict[str, Any]:
    """The report's items (one per group) and the total over the range."""
    if by not in GROUPINGS:
        raise BadRequest("by must be day, agent or channel")
    f = ConversationFacts
    stmt = select(
        _day(session, span) if by == "day" else f.channel_id,
        f.channel_id,
        f.first_response_agent_id,
        f.messages_in,
        f.messages_out,
        f.first_response_business_s,
        f.resolution_s,
        f.csat_score,
    ).where(f.created_at >= span.since, f.created_at < span.until)
    if not viewer.is_supervisor:  # agents see their own figures
        stmt = stmt.where(f.first_response_agent_id == viewer.id)
    found = await first_response_targets(session)
    targets, default_target = found.by_channel, found.default
    groups: dict[Any, _Group] = defaultdict(_Group)
    total = _Group()
    for (
        day,
        channel_id,
        agent_id,
        n_in,
        n_out,
        first_s,
        resolution_s,
        score,
    ) in await session.execute(stmt):
        if by == "day":
            key: Any = str(day)
        elif by == "agent":
            key = agent_id
        else:
            key = channel_id
        for g in (groups[key], total):
            g.conversations += 1
            g.messages_in += n_in or 0
            g.messages_out += n_out or 0
            if first_s is not None:
                g.first.append(first_s)
                if first_s <= targets.get(channel_id, default_target):
                    g.within += 1
            if resolution_s is not None:
                g.resolution.append(resolution_s)
            if score is not None:
                g.scores.append(score)
    items = await _items(session, span, by, groups)
    return {
        "since": span.since.isoformat(),
        "until": span.until.isoformat(),
        "by": by,
        "items": items,
        "total": total.out("total"),
    }


def _day(session: AsyncSession, span: Range) -> Any:
    """The local day a conversation was created, computed by the database (no row-by-row
    time zone work in Python). SQLite shifts by the zone's offset at the range's start
    (exact for zones without daylight saving, such as China's); PostgreSQL converts."""
    created = ConversationFacts.created_at
    if session.get_bind().dialect.name == "postgresql":
        return func.date(func.timezone(span.tz.key, created))
    offset = span.tz.utcoffset(span.since.replace(tzinfo=None)) or timedelta(0)
    return func.date(created, f"{int(offset.total_seconds() // 60):+d} minutes")


async def _items(
    session: AsyncSession, span: Range, by: str, groups: dict[Any, _Group]
) -> list[dict[str, Any]]:
    if by == "day":  # every day of the range, empty ones too (a chart's x axis)
        first = span.since.astimezone(span.tz).date()
        last = (span.until - timedelta(microseconds=1)).astimezone(span.tz).date()
        days = [first + timedelta(days=i) for i in range((last - first).days + 1)]
        return [groups.get(d.isoformat(), _Group()).out(d.isoformat()) for d in days]
    ids = [k for k in groups if k is not None]
    model: Any = User if by == "agent" else Channel
    names: dict[Any, str] = {}
    if ids:
        found = await session.execute(select(model.id, model.name).where(model.id.in_(ids)))
        names = dict(found.all())
    rows = []
    for key in sorted(groups, key=lambda k: (k is None, str(names.get(k, "")), k or 0)):
        item = groups[key].out(names.get(key, "") if key is not None else None)
        item["group_id"] = key
        rows.append(item)
    return rows


def _cell(value: Any) -> str:
    """A cell starting with = + - @ (or a tab/CR) is a formula to spreadsheets: quote it."""
    text = "" if value is None else str(value)
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


def report_csv(items: Iterable[dict[str, Any]]) -> str:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(FIELDS)
    for item in items:
        writer.writerow([_cell(item.get(name)) for name in FIELDS])
    return out.getvalue()
