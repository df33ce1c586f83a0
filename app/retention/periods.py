"""Report periods in Asia/Shanghai: weeks from Monday, calendar months and quarters."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

# The shops Huiliu serves count days in China time (CONTRACT section 11: midnight Asia/Shanghai).
TZ = ZoneInfo("Asia/Shanghai")
PERIODS = ("week", "month", "quarter")


def local_midnight(day: date) -> datetime:
    """The UTC instant at which `day` starts in Asia/Shanghai."""
    return datetime.combine(day, time(0), TZ).astimezone(UTC)


def local_date(at: datetime) -> date:
    return at.astimezone(TZ).date()


def period_start(day: date, period: str) -> date:
    """The first day of the period that contains `day`."""
    if period == "week":
        return day - timedelta(days=day.weekday())
    if period == "month":
        return day.replace(day=1)
    if period == "quarter":
        return date(day.year, 3 * ((day.month - 1) // 3) + 1, 1)
    raise ValueError(f"period: one of {', '.join(PERIODS)}")


def next_start(start: date, period: str) -> date:
    """The first day of the period after the one starting on `start`."""
    if period == "week":
        return start + timedelta(days=7)
    months = 1 if period == "month" else 3
    month = start.month - 1 + months
    return date(start.year + month // 12, month % 12 + 1, 1)


def periods_between(since: date, until: date, period: str) -> Iterator[tuple[date, date]]:
    """(start, end) of each period from the one containing `since` to the last starting
    before `until` (exclusive); end is the next period's first day."""
    start = period_start(since, period)
    while start < until:
        end = next_start(start, period)
        yield start, end
        start = end
