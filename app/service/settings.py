"""A channel's service settings as the product reads them (defaults when it has none)."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession

from app.models import ServiceSettings
from app.service.hours import Schedule, parse_schedule

DEFAULT_FIRST_RESPONSE_MINUTES = 5
DEFAULT_CSAT_QUESTION = (
    "本次服务已结束，请为我们的服务打分：回复数字 1-5（5 = 非常满意，1 = 非常不满意），"
    "也可以在数字后写下您的意见，例如：5 很满意"
)


@dataclass(frozen=True)
class ChannelService:
    channel_id: int
    schedule: Schedule | None = None
    holidays: tuple[str, ...] = ()
    away_message: str = ""
    greeting: str = ""
    csat_enabled: bool = False
    csat_question: str = ""
    first_response_minutes: int = DEFAULT_FIRST_RESPONSE_MINUTES

    @property
    def question(self) -> str:
        return self.csat_question.strip() or DEFAULT_CSAT_QUESTION


def from_row(channel_id: int, row: ServiceSettings | None) -> ChannelService:
    if row is None:
        return ChannelService(channel_id)
    try:
        schedule = parse_schedule(row.business_hours)
    except ValueError:  # stored before a rule tightened: treat as always open
        schedule = None
    return ChannelService(
        channel_id=channel_id,
        schedule=schedule,
        holidays=tuple(row.holidays or ()),
        away_message=row.away_message or "",
        greeting=row.greeting or "",
        csat_enabled=bool(row.csat_enabled),
        csat_question=row.csat_question or "",
        first_response_minutes=row.first_response_minutes or DEFAULT_FIRST_RESPONSE_MINUTES,
    )


# session.info key: settings rows (or None: none stored) already read in this transaction.
_KNOWN = "service_settings"


def remember_service(session: AsyncSession, channel_id: int, row: ServiceSettings | None) -> None:
    """A caller that read the channel's settings row with the channel itself (ingest reads
    both in one query) saves `channel_service` its own read in this transaction."""
    session.info.setdefault(_KNOWN, {})[channel_id] = row


async def channel_service(session: AsyncSession, channel_id: int) -> ChannelService:
    known: dict[int, ServiceSettings | None] = session.info.get(_KNOWN, {})
    if channel_id in known:
        return from_row(channel_id, known[channel_id])
    return from_row(channel_id, await session.get(ServiceSettings, channel_id))
