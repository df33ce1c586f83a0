"""Business hours: the schedule's shape, whether a moment is inside it, and how many
seconds of a span are.

A schedule is `{"mon": [["09:00", "18:00"]], ...}` in the workspace time zone
(HUILIU_TIMEZONE); a missing day is closed and `None` means always open. China's public
holidays are closed and its adjusted working days (调休, a Saturday or Sunday worked) keep
Monday's hours; both come from app/contacts/calendar.py (`chinese_calendar` plus the admin's
holiday table). A channel's own `holidays` are closed too.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy.ext.asyncio import AsyncSession

from app.config import settings_of
from app.contacts.calendar import is_workday

DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_HHMM = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)$")
MAX_RANGES_PER_DAY = 6
# A first response is counted over at most this many days of business time.
MAX_SPAN_DAYS = 62

Schedule = dict[str, list[tuple[int, int]]]  # day -> [(start minute, end minute)]


class ScheduleError(ValueError):
    pass


def _minute(value: Any, *, end: bool) -> int:
    if not isinstance(value, str):
        raise ScheduleError(f'{value!r} is not a time like "09:00"')
    if end and value == "24:00":
        return 24 * 60
    found = _HHMM.match(value)
    if found is None:
        raise ScheduleError(f"{value!r} is not a time from 00:00 to 23:59 (HH:MM)")
    return int(found.group(1)) * 60 + int(found.group(2))


def parse_schedule(raw: Any) -> Schedule | None:
    """The validated schedule (minutes), None for always open; ScheduleError otherwise."""
    if raw is None:
        return None
    if not isinstance(raw, Mapping):
        raise ScheduleError('business_hours must be an object like {"mon": [["09:00", "18:00"]]}')
    schedule: Schedule = {}
    for day, ranges in raw.items():
        if day not in DAYS:
            raise ScheduleError(f"unknown day {day!r}: use {', '.join(DAYS)}")
        if not isinstance(ranges, Sequence) or isinstance(ranges, str):
            raise ScheduleError(f"{day}: a list of [start, end] pairs is expected")
        if len(ranges) > MAX_RANGES_PER_DAY:
            raise ScheduleError(f"{day}: at most {MAX_RANGES_PER_DAY} ranges")
        parsed = []
        for pair in ranges:
            if not isinstance(pair, Sequence) or isinstance(pair, str) or len(pair) != 2:
                raise ScheduleError(f'{day}: each range is [start, end], e.g. ["09:00", "18:00"]')
            start, stop = _minute(pair[0], end=False), _minute(pair[1], end=True)
            if stop <= start:
                raise ScheduleError(f"{day}: {pair[1]} is not after {pair[0]}")
            parsed.append((start, stop))
        parsed.sort()
        for (_, a_end), (b_start, _) in zip(parsed, parsed[1:], strict=False):
            if b_start < a_end:
                raise ScheduleError(f"{day}: ranges overlap")
        schedule[day] = parsed
    return schedule


def schedule_json(schedule: Schedule | None) -> dict[str, list[list[str]]] | None:
    def text(m: int) -> str:
        return f"{m // 60:02d}:{m % 60:02d}"

    if schedule is None:
        return None
    return {d: [[text(a), text(b)] for a, b in schedule[d]] for d in DAYS if d in schedule}


def parse_holidays(raw: Any) -> list[str]:
    if raw is None:
        return []
    if not isinstance(raw, Sequence) or isinstance(raw, str):
        raise ScheduleError('holidays must be a list of dates like "2026-12-24"')
    if len(raw) > 366:
        raise ScheduleError("at most 366 holidays")
    days = set()
    for item in raw:
        try:
            days.add(date.fromisoformat(item).isoformat())
        except (TypeError, ValueError):
            raise ScheduleError(f"{item!r} is not a date (YYYY-MM-DD)") from None
    return sorted(days)


def zone(session: AsyncSession) -> ZoneInfo:
    try:
        return ZoneInfo(settings_of(session).timezone)
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo("Asia/Shanghai")


async def _ranges_of(
    session: AsyncSession, schedule: Schedule, holidays: set[str], day: date
) -> list[tuple[int, int]]:
    if day.isoformat() in holidays:
        return []
    workday = await is_workday(session, day)
    weekday = DAYS[day.weekday()]
    if day.weekday() < 5 and not workday:
        return []  # a public holiday
    if day.weekday() >= 5 and workday:
        return schedule.get("mon", [])  # an adjusted working day keeps Monday's hours
    return schedule.get(weekday, [])


async def is_open(
    session: AsyncSession, schedule: Schedule | None, holidays: Sequence[str], moment: datetime
) -> bool:
    if schedule is None:
        return True
    local = moment.astimezone(zone(session))
    minute = local.hour * 60 + local.minute
    ranges = await _ranges_of(session, schedule, set(holidays), local.date())
    return any(a <= minute < b for a, b in ranges)


async def business_seconds(
    session: AsyncSession,
    schedule: Schedule | None,
    holidays: Sequence[str],
    start: datetime,
    end: datetime,
) -> int:
    """Seconds of [start, end) inside business hours (all of them when always open)."""
    if end <= start:
        return 0
    if schedule is None:
        return int((end - start).total_seconds())
    tz = zone(session)
    closed = set(holidays)
    first = start.astimezone(tz).date()
    last = min(end.astimezone(tz).date(), first + timedelta(days=MAX_SPAN_DAYS))
    total = 0.0
    day = first
    while day <= last:
        for a, b in await _ranges_of(session, schedule, closed, day):
            midnight = datetime.combine(day, time(0), tz)
            lo = max(start, (midnight + timedelta(minutes=a)).astimezone(UTC))
            hi = min(end, (midnight + timedelta(minutes=b)).astimezone(UTC))
            if hi > lo:
                total += (hi - lo).total_seconds()
        day += timedelta(days=1)
    return int(total)


async def business_deadline(
    session: AsyncSession,
    schedule: Schedule | None,
    holidays: Sequence[str],
    start: datetime,
    seconds: int,
) -> datetime:
    """The moment `seconds` of business time have passed since `start` (the inverse of
    `business_seconds`); a schedule with no open time within MAX_SPAN_DAYS gives the end
    of that span."""
    if schedule is None:
        return start + timedelta(seconds=seconds)
    tz = zone(session)
    closed = set(holidays)
    left = float(seconds)
    day = start.astimezone(tz).date()
    for _ in range(MAX_SPAN_DAYS + 1):
        midnight = datetime.combine(day, time(0), tz)
        for a, b in await _ranges_of(session, schedule, closed, day):
            lo = max(start, (midnight + timedelta(minutes=a)).astimezone(UTC))
            hi = (midnight + timedelta(minutes=b)).astimezone(UTC)
            if hi <= lo:
                continue
            if (hi - lo).total_seconds() >= left:
                return lo + timedelta(seconds=left)
            left -= (hi - lo).total_seconds()
        day += timedelta(days=1)
    return datetime.combine(day, time(0), tz).astimezone(UTC)
