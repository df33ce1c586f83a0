"""Days that matter: the business day, important dates (solar or lunar), China's workdays.

Lunar dates convert with `lunardate`; holidays and make-up working days come from
`chinese_calendar`, corrected or extended by the admin's `holiday_days` table (the
State Council publishes each year's schedule late in the year before, after the
library's release); a year neither knows falls back to weekends.
"""

from __future__ import annotations

import calendar as std_calendar
from datetime import UTC, date, datetime, time, timedelta
from typing import Any, Literal
from zoneinfo import ZoneInfo

import chinese_calendar
from lunardate import LunarDate
from pydantic import BaseModel, Field, model_validator
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.models import HolidayDay

# The shops Huiliu serves keep China time: "today", "start of the day", "this week".
BUSINESS_TZ = ZoneInfo("Asia/Shanghai")
DEFAULT_REMIND_DAYS = 3  # contract section 8: care tasks 3 days before by default
MAX_DATES = 20


class ImportantDate(BaseModel):
    """`{"label": "生日", "month": 1-12, "day": 1-31, "calendar": "solar"|"lunar", "year"}`."""

    label: str = Field(min_length=1, max_length=50)
    month: int
    day: int
    calendar: Literal["solar", "lunar"] = "solar"
    year: int | None = None
    remind_days_before: int = Field(default=DEFAULT_REMIND_DAYS, ge=0, le=60)

    @model_validator(mode="after")
    def _valid_date(self) -> ImportantDate:
        self.label = " ".join(self.label.split())
        if not self.label:
            raise ValueError("label must not be empty")
        if not 1 <= self.month <= 12:
            raise ValueError(f"month {self.month} is not 1-12")
        if self.year is not None and not 1900 <= self.year <= 2099:
            raise ValueError(f"year {self.year} is not 1900-2099")
        if self.calendar == "lunar":
            if not 1 <= self.day <= 30:
                raise ValueError(f"lunar day {self.day} is not 1-30")
            if self.year is not None:
                try:
                    LunarDate(self.year, self.month, self.day).to_solar_date()
                except ValueError:
                    raise ValueError(
                        f"lunar {self.year}-{self.month}-{self.day} does not exist"
                    ) from None
            return self
        # 2000 is a leap year: 29 February is a valid yearless date.
        last = std_calendar.monthrange(self.year or 2000, self.month)[1]
        if not 1 <= self.day <= last:
            raise ValueError(f"{self.month}-{self.day} is not a date (day is 1-{last})")
        return self


def today() -> date:
    return datetime.now(BUSINESS_TZ).date()


def day_start(day: date) -> datetime:
    """The start of `day` in business time, as aware UTC."""
    return datetime.combine(day, time(0), BUSINESS_TZ).astimezone(UTC)


def local_day(moment: datetime) -> date:
    return moment.astimezone(BUSINESS_TZ).date()


def _solar_in(year: int, month: int, day: int) -> date:
    # 29 February falls on 28 February in other years (contract section 8).
    last = std_calendar.monthrange(year, month)[1]
    return date(year, month, min(day, last))


def _lunar_in(lunar_year: int, month: int, day: int) -> date | None:
    """The Gregorian date of lunar month/day in that lunar year; a 30th that this year's
    month lacks falls on the 29th."""
    for d in (day, day - 1) if day == 30 else (day,):
        try:
            solar: date = LunarDate(lunar_year, month, d).to_solar_date()
            return solar
        except ValueError:
            continue
    return None


def next_occurrence(item: ImportantDate | dict[str, Any], on_or_after: date) -> date | None:
    """The first date on or after `on_or_after` on which the important date falls."""
    d = item if isinstance(item, ImportantDate) else ImportantDate.model_validate(item)
    candidates: list[date] = []
    for year in (on_or_after.year - 1, on_or_after.year, on_or_after.year + 1):
        if d.calendar == "solar":
            candidates.append(_solar_in(year, d.month, d.day))
        elif 1900 <= year <= 2099:
            found = _lunar_in(year, d.month, d.day)
            if found is not None:
                candidates.append(found)
    later = sorted(c for c in candidates if c >= on_or_after)
    return later[0] if later else None


def date_text(item: dict[str, Any]) -> str:
    cal = "农历" if item.get("calendar") == "lunar" else ""
    return f"{cal}{item['month']}月{item['day']}日"


# session.info key: the admin's table by year, read once per transaction (business hours
# walk day by day, and ingest asks for each conversation a customer opens).
_TABLE = "holiday_table"


async def _admin_table(session: AsyncSession, year: int) -> dict[date, bool]:
    tables: dict[int, dict[date, bool]] = session.info.setdefault(_TABLE, {})
    if year not in tables:
        tables[year] = {row.day: row.workday for row in await holiday_rows(session, year)}
    return tables[year]


def forget_admin_table(session: AsyncSession) -> None:
    """The table changed in this transaction: the next question reads it again."""
    session.info.pop(_TABLE, None)


async def is_workday(session: AsyncSession, day: date) -> bool:
    """The admin's table first, then the library, then weekends."""
    workday = (await _admin_table(session, day.year)).get(day)
    if workday is not None:
        return workday
    try:
        return bool(chinese_calendar.is_workday(day))
    except NotImplementedError:  # a year the library does not know yet
        return day.weekday() < 5


async def holiday_rows(session: AsyncSession, year: int) -> list[HolidayDay]:
    return list(
        await session.scalars(
            select(HolidayDay)
            .where(HolidayDay.day >= date(year, 1, 1), HolidayDay.day <= date(year, 12, 31))
            .order_by(HolidayDay.day)
        )
    )


def library_knows(year: int) -> bool:
    try:
        chinese_calendar.is_workday(date(year, 6, 1))
    except NotImplementedError:
        return False
    return True


def week_end(day: date) -> date:
    """The last day (Sunday) of `day`'s week."""
    return day + timedelta(days=6 - day.weekday())
