"""Upgrading a database that predates the bookings sweep (SQLite and PostgreSQL): bookings that had started
before the upgrade, unchecked, are not judged by the first sweep (no no-show, no expiry, no event); a booking
made after the upgrade is."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import crowdsupport
import pytest
from crowdsupport.domain.matching import Window
from crowdsupport.handlers import attendance, instruments, mentors
from crowdsupport.jobs import sweep_bookings
from crowdsupport.models import UnsweptBooking
from sqlalchemy import select
from sqlmodel import col

from shared.auth import Principal
from shared.booking.models import Booking
from shared.booking.rules import Interval
from shared.context import ServiceContext
from shared.db import Database
from shared.migrations import migrate, upgrade_to_head
from shared.outbox import read_feed
from shared.uow import UnitOfWork

MIGRATIONS = str(Path(crowdsupport.__file__).parent / "migrations")
BEFORE_THE_SWEEP = "0005"  # the head the sweep shipped on, without a migration of its own
OLD = datetime(2026, 3, 2, 1, 0, tzinfo=UTC)  # Monday 09:00 in Shanghai, months before any upgrade run here
ALL_WEEK = [Window(day, 0, 24 * 60) for day in range(7)]
OWNER = Principal(subject="inst-1", roles=frozenset({"provider"}))
MENTOR = Principal(subject="mentor-1", roles=frozenset({"mentor"}))
INSTRUMENT = instruments.InstrumentInput(
    institution="Institute of Physics", name="Spectrometer", category="spectroscopy", location="Haidian",
    region_code="110108", hourly_rate_fen=30_000, timezone="Asia/Shanghai", min_notice_minutes=60,
    max_notice_minutes=30 * 24 * 60, min_duration_minutes=30, max_duration_minutes=8 * 60, slot_minutes=30,
    requires_approval=False)


def user(n: int) -> Principal:
    return Principal(subject=f"ent-{n}", roles=frozenset({"enterprise"}))


async def run(db: Database, handler: Any, *args: Any) -> Any:
    async with UnitOfWork(db, "crowdsupport") as uow:
        return await handler(uow, *args)


@pytest.fixture
async def db(database_url: str) -> AsyncIterator[Database]:
    database = Database(database_url)
    await migrate(database, MIGRATIONS, BEFORE_THE_SWEEP)
    try:
        yield database
    finally:
        await database.dispose()


async def _events(db: Database) -> list[tuple[str, str]]:
    async with db.reading() as session:
        feed, _ = await read_feed(session, 0, 5000)
    return [(event.type.removeprefix("cn.sizhong.crowdsupport."), event.data["booking_id"]) for event in feed
            if event.type.endswith(("no_show_recorded.v1", "expired.v1"))]


async def _states(db: Database, *ids: str) -> list[str]:
    async with db.reading() as session:
        query = select(col(Booking.id), col(Booking.state)).where(col(Booking.id).in_(ids))
        rows = dict((await session.execute(query)).all())
    return [rows[booking_id] for booking_id in ids]


async def test_bookings_started_before_the_upgrade_are_not_judged_and_later_ones_are(
        db: Database, ctx: ServiceContext, clock: Any) -> None:
    """`ctx` (conftest) is the service on this module's `db`, with a service clock the test moves."""
    def slot(at: datetime, hours: float = 1) -> Interval:
        return Interval(at, at + timedelta(hours=hours))

    old_start = OLD + timedelta(hours=2)
    instrument = await run(db, instruments.list_instrument, OWNER, INSTRUMENT, OLD)
    gated = await run(db, instruments.list_instrument, OWNER, replace(INSTRUMENT, requires_approval=True), OLD)
    await run(db, mentors.save_profile, MENTOR, mentors.MentorInput(
        name="Ms Li", bio="", skills=["fintech"], availability=ALL_WEEK, timezone="Asia/Shanghai"), OLD)
    unchecked = await run(db, instruments.book, user(1), instrument.id, slot(old_start), OLD)
    undecided = await run(db, instruments.book, user(2), gated.id, slot(old_start), OLD)
    session = await run(db, mentors.book_session, user(3), MENTOR.subject, "pitch", slot(old_start), OLD)
    assert old_start < datetime.now(UTC)  # started before the upgrade below

    await upgrade_to_head(db, MIGRATIONS)
    old = (unchecked.id, undecided.id, session.booking_id)
    async with db.reading() as reading:
        unswept = set((await reading.execute(select(UnsweptBooking.booking_id))).scalars())
    assert unswept == set(old)

    clock.moment = old_start + timedelta(days=1)  # long past every old check-in window
    assert await sweep_bookings(ctx) == 0
    assert await run(db, attendance.sweep_booking, session.booking_id, clock.now()) is None  # asked directly too
    assert await _states(db, *old) == ["confirmed", "pending", "confirmed"]
    assert await _events(db) == []

    new_start = clock.now() + timedelta(hours=2)
    missed = await run(db, instruments.book, user(4), instrument.id, slot(new_start), clock.now())
    skipped = await run(db, mentors.book_session, user(5), MENTOR.subject, "pitch", slot(new_start), clock.now())
    left = await run(db, instruments.book, user(6), gated.id, slot(new_start), clock.now())
    clock.moment = new_start + timedelta(minutes=15)  # the new bookings' check-in windows close
    async with db.reading() as reading:  # the old ones, earlier and never swept, take no place in a batch
        assert set(await attendance.due_ids(reading, clock.now(), 3)) == {missed.id, skipped.booking_id, left.id}
    assert await sweep_bookings(ctx) == 3
    assert sorted(await _events(db)) == sorted([("booking.no_show_recorded.v1", missed.id),
                                                ("booking.no_show_recorded.v1", skipped.booking_id),
                                                ("booking.expired.v1", left.id)])
    assert await _states(db, *old) == ["confirmed", "pending", "confirmed"]
    assert await sweep_bookings(ctx) == 0
