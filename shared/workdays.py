"""Working days (工作日) from a holiday calendar: deadlines such as "feedback within 10 working days".

China moves working days around its national holidays (调休): some weekdays are holidays and some
weekends are make-up working days. Weekends alone therefore give wrong deadlines; the calendar is a
table (`holiday_calendar`) seeded with the State Council's published schedules and extended by
migration each year. A date outside the seeded years falls back to Monday-Friday, and
`WorkingCalendar.covers` says whether a date was in the published schedule.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import Field, SQLModel, select

SHANGHAI = ZoneInfo("Asia/Shanghai")
HOLIDAY = "holiday"
MAKEUP_WORKDAY = "workday"

# (date, kind, name) as published by the State Council General Office (国务院办公厅) for each year.
CN_SCHEDULE: tuple[tuple[str, str, str], ...] = (
    # 2025 (国办发明电〔2024〕12号)
    ("2025-01-01", HOLIDAY, "元旦"),
    *((f"2025-01-{d:02d}", HOLIDAY, "春节") for d in (28, 29, 30, 31)),
    *((f"2025-02-{d:02d}", HOLIDAY, "春节") for d in (1, 2, 3, 4)),
    ("2025-01-26", MAKEUP_WORKDAY, "春节调休"), ("2025-02-08", MAKEUP_WORKDAY, "春节调休"),
    *((f"2025-04-{d:02d}", HOLIDAY, "清明节") for d in (4, 5, 6)),
    *((f"2025-05-{d:02d}", HOLIDAY, "劳动节") for d in (1, 2, 3, 4, 5)),
    ("2025-04-27", MAKEUP_WORKDAY, "劳动节调休"),
    ("2025-05-31", HOLIDAY, "端午节"), ("2025-06-01", HOLIDAY, "端午节"), ("2025-06-02", HOLIDAY, "端午节"),
    *((f"2025-10-{d:02d}", HOLIDAY, "国庆节、中秋节") for d in range(1, 9)),
    ("2025-09-28", MAKEUP_WORKDAY, "国庆节调休"), ("2025-10-11", MAKEUP_WORKDAY, "国庆节调休"),
    # 2026
    *((f"2026-01-{d:02d}", HOLIDAY, "元旦") for d in (1, 2, 3)),
    ("2026-01-04", MAKEUP_WORKDAY, "元旦调休"),
    *((f"2026-02-{d:02d}", HOLIDAY, "春节") for d in range(15, 24)),
    ("2026-02-14", MAKEUP_WORKDAY, "春节调休"), ("2026-02-28", MAKEUP_WORKDAY, "春节调休"),
    *((f"2026-04-{d:02d}", HOLIDAY, "清明节") for d in (4, 5, 6)),
    *((f"2026-05-{d:02d}", HOLIDAY, "劳动节") for d in (1, 2, 3, 4, 5)),
    ("2026-05-09", MAKEUP_WORKDAY, "劳动节调休"),
    *((f"2026-06-{d:02d}", HOLIDAY, "端午节") for d in (19, 20, 21)),
    *((f"2026-09-{d:02d}", HOLIDAY, "中秋节") for d in (25, 26, 27)),
    *((f"2026-10-{d:02d}", HOLIDAY, "国庆节") for d in range(1, 8)),
    ("2026-09-20", MAKEUP_WORKDAY, "国庆节调休"), ("2026-10-10", MAKEUP_WORKDAY, "国庆节调休"),
)


@dataclass(frozen=True)
class WorkingCalendar:
    """Pure: which dates are working days. Build it with `from_rows` or `load_working_calendar`."""

    holidays: frozenset[date] = field(default_factory=frozenset)
    makeup_workdays: frozenset[date] = field(default_factory=frozenset)
    years: frozenset[int] = field(default_factory=frozenset)

    @classmethod
    def from_rows(cls, rows: Iterable[tuple[date, str]]) -> WorkingCalendar:
        holidays: set[date] = set()
        workdays: set[date] = set()
        for day, kind in rows:
            (holidays if kind == HOLIDAY else workdays).add(day)
        return cls(frozenset(holidays), frozenset(workdays), frozenset(d.year for d in holidays | workdays))

    @classmethod
    def china(cls) -> WorkingCalendar:
        """The built-in schedule, for pure code and tests; services read the table instead."""
        return cls.from_rows((date.fromisoformat(day), kind) for day, kind, _ in CN_SCHEDULE)

    def covers(self, day: date) -> bool:
        return day.year in self.years

    def is_working_day(self, day: date) -> bool:
        if day in self.makeup_workdays:
            return True
        if day in self.holidays:
            return False
        return day.weekday() < 5

    def add_working_days(self, start: datetime, days: int) -> datetime:
        """The end (23:59:59.999999 Asia/Shanghai, returned in UTC) of the `days`-th working day after `start`.

        The day `start` falls on does not count, whatever the hour: a request filed on a Friday evening
        with 3 working days is due at the end of Wednesday.
        """
        if days < 1:
            raise ValueError("days must be at least 1")
        if start.tzinfo is None:
            raise ValueError("start must be timezone-aware")
        day = start.astimezone(SHANGHAI).date()
        remaining = days
        while remaining:
            day += timedelta(days=1)
            if self.is_working_day(day):
                remaining -= 1
        end_of_day = datetime.combine(day, time.max, tzinfo=SHANGHAI)
        return end_of_day.astimezone(ZoneInfo("UTC"))

    def working_days_between(self, start: datetime, end: datetime) -> int:
        """Working days after `start`'s date up to and including `end`'s date (Asia/Shanghai)."""
        first = start.astimezone(SHANGHAI).date()
        last = end.astimezone(SHANGHAI).date()
        count = 0
        day = first
        while day < last:
            day += timedelta(days=1)
            count += self.is_working_day(day)
        return count


class HolidayCalendarDay(SQLModel, table=True):
    """One exceptional date: a holiday on a weekday or a make-up working day on a weekend."""

    __tablename__ = "holiday_calendar"

    day: date = Field(primary_key=True)
    kind: str = Field(max_length=10)
    name: str = Field(max_length=40)


async def load_working_calendar(session: AsyncSession) -> WorkingCalendar:
    rows = (await session.execute(select(HolidayCalendarDay))).scalars().all()
    return WorkingCalendar.from_rows((row.day, row.kind) for row in rows)
