"""Working-day deadlines across China's national holidays, the calendar table, and masking."""

from __future__ import annotations

from datetime import UTC, date, datetime

import sqlalchemy as sa

from shared.db import Database
from shared.masking import mask_personal_numbers, mask_resident_id, mask_uscc
from shared.workdays import SHANGHAI, WorkingCalendar, load_working_calendar

CHINA = WorkingCalendar.china()


def shanghai(*args: int) -> datetime:
    return datetime(*args, tzinfo=SHANGHAI)  # type: ignore[misc]


def test_ten_working_days_across_the_national_day_holiday() -> None:
    # Filed Monday 2026-09-28. Working days after it: 29, 30 Sep; 1-7 Oct are holidays; Sat 10 Oct is a
    # make-up working day; then 8, 9, 10, 12, 13, 14, 15, 16 Oct -> the 10th is Friday 16 Oct.
    due = CHINA.add_working_days(shanghai(2026, 9, 28, 10), 10)
    assert due.astimezone(SHANGHAI).date() == date(2026, 10, 16)
    # Weekends only would have said Monday 12 Oct.
    assert WorkingCalendar().add_working_days(shanghai(2026, 9, 28, 10), 10).astimezone(SHANGHAI).date() == date(
        2026, 10, 12)


def test_spring_festival_and_its_makeup_saturdays() -> None:
    assert CHINA.is_working_day(date(2026, 2, 14))  # Saturday, 调休 working day
    assert not CHINA.is_working_day(date(2026, 2, 16))  # Monday in 春节
    assert not CHINA.is_working_day(date(2026, 2, 15))  # Sunday
    # Filed Friday 13 Feb: Sat 14 works, 15-23 off, Tue 24 is the second working day, ... Sat 28 works.
    due = CHINA.add_working_days(shanghai(2026, 2, 13, 18), 3)
    assert due.astimezone(SHANGHAI).date() == date(2026, 2, 25)


def test_deadline_is_the_end_of_the_day_in_shanghai_and_returned_in_utc() -> None:
    due = CHINA.add_working_days(datetime(2026, 11, 20, 17, 0, tzinfo=UTC), 3)  # Sat 01:00 in Shanghai
    # Shanghai date is Saturday 21 Nov; working days after it: Mon 23, Tue 24, Wed 25.
    assert due.astimezone(SHANGHAI).date() == date(2026, 11, 25)
    assert (due.astimezone(SHANGHAI).hour, due.astimezone(SHANGHAI).minute) == (23, 59)
    assert due.tzinfo is not None and due.utcoffset() == UTC.utcoffset(None)


def test_working_days_between_counts_only_working_days() -> None:
    # After Wed 30 Sep up to Sat 10 Oct: 1-7 Oct are holidays; Thu 8, Fri 9 and Sat 10 (调休) work.
    assert CHINA.working_days_between(shanghai(2026, 9, 30, 9), shanghai(2026, 10, 10, 9)) == 3
    assert CHINA.covers(date(2026, 5, 1)) and not CHINA.covers(date(2030, 5, 1))


def test_zero_or_naive_input_is_refused() -> None:
    for bad in ((shanghai(2026, 1, 5), 0), (datetime(2026, 1, 5), 1)):
        try:
            CHINA.add_working_days(*bad)
        except ValueError:
            continue
        raise AssertionError(f"{bad} was accepted")


async def test_the_calendar_table_is_seeded_and_loads(database_url: str) -> None:
    from alembic import op  # noqa: F401  (the migration helper runs inside Alembic's op context)
    from alembic.migration import MigrationContext
    from alembic.operations import Operations

    from shared.migrations import create_holiday_calendar_table

    db = Database(database_url)
    try:
        async with db.write_engine.begin() as connection:
            def _create(sync_connection: sa.Connection) -> None:
                with Operations.context(MigrationContext.configure(sync_connection)):
                    create_holiday_calendar_table()
            await connection.run_sync(_create)
        async with db.reading() as session:
            calendar = await load_working_calendar(session)
        assert calendar == CHINA
    finally:
        await db.dispose()


def test_masking_hides_the_middle_of_both_kinds_of_number() -> None:
    assert mask_uscc("91350100M000100Y43") == "91350100******0Y43"
    assert mask_resident_id("11010519491231002X") == "110105********002X"
    event = {"note": "id 11010519491231002X and org 91350100M000100Y43.", "nested": [{"uscc": "91350100M000100Y43"}],
             "event_id": "3f2a9c1e-5b7d-4c1a-9e2f-0a1b2c3d4e5f", "amount": 12345}
    masked = mask_personal_numbers(event)
    assert masked == {"note": "id 110105********002X and org 91350100******0Y43.",
                      "nested": [{"uscc": "91350100******0Y43"}],
                      "event_id": "3f2a9c1e-5b7d-4c1a-9e2f-0a1b2c3d4e5f", "amount": 12345}
