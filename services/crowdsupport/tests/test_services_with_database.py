"""Instruments, mentors, patents and one-stop requests on a real database (SQLite and PostgreSQL): bookings
through the shared booking engine (no overlaps, availability), metering and the post-use subsidy, feedback,
licence decisions, working-day deadlines and the overdue flag."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from crowdsupport.domain.matching import Window
from crowdsupport.handlers import attendance, instruments, mentors, patents, requests

from shared.auth import Principal
from shared.booking.rules import BookingRefused, Interval
from shared.db import Database
from shared.outbox import read_feed
from shared.problems import DomainError
from shared.uow import UnitOfWork

NOW = datetime(2026, 3, 2, 1, 0, tzinfo=UTC)  # Monday 09:00 in Shanghai
OWNER = Principal(subject="inst-1", roles=frozenset({"provider"}))
MENTOR = Principal(subject="mentor-1", roles=frozenset({"mentor"}))
STAFF = Principal(subject="staff-1", roles=frozenset({"reviewer"}))


def user(n: int) -> Principal:
    return Principal(subject=f"ent-{n}", roles=frozenset({"enterprise"}))


async def run(db: Database, command: Any, *args: Any) -> Any:
    async with UnitOfWork(db, "crowdsupport") as uow:
        return await command(uow, *args)


async def feed(db: Database, suffix: str) -> list[dict[str, Any]]:
    async with db.reading() as session:
        events, _ = await read_feed(session, 0, 5000)
    return [{**e.model_dump(mode="json")["data"], "_key": e.partitionkey} for e in events if e.type.endswith(suffix)]


async def types(db: Database) -> list[str]:
    async with db.reading() as session:
        feed, _ = await read_feed(session, 0, 5000)
    return [event.type.removeprefix("cn.sizhong.crowdsupport.") for event in feed]


def hours(start: float, length: float = 2) -> Interval:
    begin = NOW + timedelta(hours=start)
    return Interval(begin, begin + timedelta(hours=length))


INSTRUMENT = instruments.InstrumentInput(
    institution="Institute of Physics", name="Electron microscope", category="microscopy", location="Haidian",
    region_code="110108", hourly_rate_fen=60_000, timezone="Asia/Shanghai", min_notice_minutes=60,
    max_notice_minutes=30 * 24 * 60, min_duration_minutes=30, max_duration_minutes=8 * 60, slot_minutes=30,
    requires_approval=False)


async def test_instrument_booking_metering_and_subsidy(db: Database) -> None:
    instrument = await run(db, instruments.list_instrument, OWNER, INSTRUMENT, NOW)
    booking = await run(db, instruments.book, user(1), instrument.id, hours(2), NOW)
    assert booking.state == "confirmed"
    with pytest.raises(BookingRefused) as refused:
        await run(db, instruments.book, user(2), instrument.id, hours(3), NOW)
    assert refused.value.rule == "slot_taken"
    with pytest.raises(BookingRefused) as refused:
        await run(db, instruments.book, user(2), instrument.id, hours(0.5), NOW)
    assert refused.value.rule == "min_notice"
    with pytest.raises(DomainError) as refused_owner:
        await run(db, instruments.check_in_user, user(1), booking.id, NOW + timedelta(hours=2))
    assert refused_owner.value.status == 403
    start = NOW + timedelta(hours=2)
    await run(db, instruments.check_in_user, OWNER, booking.id, start)
    usage = await run(db, instruments.check_out_user, OWNER, booking.id, start + timedelta(minutes=89, seconds=10))
    assert (usage.booked_minutes, usage.actual_minutes) == (120, 90)
    with pytest.raises(DomainError) as twice:
        await run(db, instruments.check_out_user, OWNER, booking.id, start + timedelta(hours=3))
    assert twice.value.extra["current_state"] == "checked_out"
    async with db.reading() as session:
        report = await instruments.subsidy_report(session, OWNER.subject, NOW, NOW + timedelta(days=1))
    assert report["lines"] == [{"user_id": "ent-1", "instrument_id": instrument.id, "uses": 1, "booked_minutes": 120,
                                "actual_minutes": 90, "billable_minutes": 90, "fee_fen": 90_000,
                                "subsidy_fen": 45_000}]
    assert report["policy_version"] == "crowdsupport-2026.1"
    assert {"instrument.listed.v1", "instrument.booked.v1", "instrument.checked_in.v1",
            "instrument.used.v1"} <= set(await types(db))


async def test_an_owners_decision_is_an_event_and_only_before_the_start(db: Database) -> None:
    instrument = await run(db, instruments.list_instrument, OWNER, replace(INSTRUMENT, requires_approval=True), NOW)
    kept = await run(db, instruments.book, user(1), instrument.id, hours(2), NOW)
    turned_down = await run(db, instruments.book, user(2), instrument.id, hours(5), NOW)
    late = await run(db, instruments.book, user(3), instrument.id, hours(8), NOW)
    assert {kept.state, turned_down.state, late.state} == {"pending"}
    with pytest.raises(DomainError) as not_owner:
        await run(db, instruments.approve, Principal(subject="inst-2", roles=frozenset({"provider"})), kept.id, True,
                  NOW)
    assert not_owner.value.status == 403
    assert (await run(db, instruments.approve, OWNER, kept.id, True, NOW)).state == "confirmed"
    assert (await run(db, instruments.approve, OWNER, turned_down.id, False, NOW)).state == "rejected"
    with pytest.raises(DomainError) as started:
        await run(db, instruments.approve, OWNER, late.id, True, NOW + timedelta(hours=8))
    assert (started.value.status, started.value.extra["rule"]) == (409, "decision_closed")
    decided = await feed(db, "instrument.booking_decided.v1")
    assert [(e["booking_id"], e["approved"], e["state"], e["_key"]) for e in decided] == [
        (kept.id, True, "confirmed", "ent-1"), (turned_down.id, False, "rejected", "ent-2")]
    again = await run(db, instruments.book, user(4), instrument.id, hours(5), NOW)  # the rejection freed the slot
    assert again.state == "pending"


async def test_the_sweep_records_no_shows_and_expires_undecided_bookings_once(db: Database) -> None:
    instrument = await run(db, instruments.list_instrument, OWNER, INSTRUMENT, NOW)
    gated = await run(db, instruments.list_instrument, OWNER, replace(INSTRUMENT, requires_approval=True), NOW)
    missed = await run(db, instruments.book, user(1), instrument.id, hours(2), NOW)
    used = await run(db, instruments.book, user(2), instrument.id, hours(4), NOW)
    undecided = await run(db, instruments.book, user(1), gated.id, hours(2), NOW)
    await run(db, mentors.save_profile, MENTOR, mentors.MentorInput(
        name="Ms Li", bio="", skills=["fintech"], availability=WEEK, timezone="Asia/Shanghai"), NOW)
    skipped = await run(db, mentors.book_session, user(3), MENTOR.subject, "pitch", hours(2, 1), NOW)
    start = NOW + timedelta(hours=2)

    async def sweep(at: datetime) -> list[str | None]:
        return [await run(db, attendance.sweep_booking, b, at)
                for b in (missed.id, used.id, undecided.id, skipped.booking_id)]

    assert await sweep(start - timedelta(minutes=1)) == [None, None, None, None]
    assert await sweep(start + timedelta(minutes=14)) == [None, None, "expire", None]  # still in the grace
    await run(db, instruments.check_in_user, OWNER, used.id, start + timedelta(hours=2))
    assert await sweep(start + timedelta(minutes=15)) == ["no_show", None, None, "no_show"]
    assert await sweep(start + timedelta(hours=9)) == [None, None, None, None]  # nothing twice
    no_shows = await feed(db, "booking.no_show_recorded.v1")
    assert [(e["booking_id"], e["kind"], e["owner_id"], e["_key"]) for e in no_shows] == [
        (missed.id, "instrument", OWNER.subject, "ent-1"), (skipped.booking_id, "mentor", MENTOR.subject, "ent-3")]
    assert no_shows[0]["check_in_closed_at"] == (start + timedelta(minutes=15)).isoformat().replace("+00:00", "Z")
    [expired] = await feed(db, "booking.expired.v1")
    assert (expired["booking_id"], expired["kind"], expired["_key"]) == (undecided.id, "instrument", "ent-1")
    with pytest.raises(BookingRefused) as closed:
        await run(db, instruments.check_in_user, OWNER, missed.id, start + timedelta(minutes=15))
    assert closed.value.extra["current_state"] == "no_show"


async def test_a_check_in_racing_the_sweep_at_the_window_close_wins_or_loses_whole(db: Database) -> None:
    """The check-in (a second before the window closes) and the sweep (at the close) run at once: each booking is
    either checked in or a no-show, never both, and two sweeps at once (two replicas) record it once."""
    instrument = await run(db, instruments.list_instrument, OWNER, INSTRUMENT, NOW)
    booked = [await run(db, instruments.book, user(n), instrument.id, hours(2 + 2 * n), NOW) for n in range(8)]

    async def check_in(booking_id: str, at: datetime) -> bool:
        try:
            await run(db, instruments.check_in_user, OWNER, booking_id, at)
        except BookingRefused as refused:
            assert refused.extra["current_state"] == "no_show"
            return False
        return True

    outcomes = []
    for n, placed in enumerate(booked):
        closes = NOW + timedelta(hours=2 + 2 * n, minutes=15)
        checked_in, *swept = await asyncio.gather(
            check_in(placed.id, closes - timedelta(seconds=1)),
            *(run(db, attendance.sweep_booking, placed.id, closes) for _ in range(2)))
        outcomes.append((checked_in, tuple(sorted(swept, key=str))))
        assert outcomes[-1] in {(True, (None, None)), (False, (None, "no_show"))}, outcomes
    no_shows = [e["booking_id"] for e in await feed(db, "booking.no_show_recorded.v1")]
    checked = [e["booking_id"] for e in await feed(db, "instrument.checked_in.v1")]
    assert sorted(no_shows + checked) == sorted(b.id for b in booked), outcomes  # each exactly once


async def test_open_access_is_renewed_by_each_booking_so_a_late_slot_is_not_refused(db: Database) -> None:
    instrument = await run(db, instruments.list_instrument, OWNER, INSTRUMENT, NOW)
    await run(db, instruments.book, user(1), instrument.id, hours(2), NOW)
    later = NOW + timedelta(days=350)  # the first grant (366 days) ends in 16 days
    slot = Interval(later + timedelta(days=25), later + timedelta(days=25, hours=2))  # 25 days ahead: inside notice
    booked = await run(db, instruments.book, user(1), instrument.id, slot, later)
    assert booked.state == "confirmed" and booked.start_at == slot.start


async def test_concurrent_bookings_of_one_instrument_take_the_slot_once(db: Database) -> None:
    instrument = await run(db, instruments.list_instrument, OWNER, INSTRUMENT, NOW)

    async def attempt(n: int) -> bool:
        try:
            await run(db, instruments.book, user(n), instrument.id, hours(2 + (n % 2)), NOW)
            return True
        except BookingRefused as exc:
            assert exc.rule == "slot_taken"
            return False

    assert sum(await asyncio.gather(*(attempt(n) for n in range(12)))) == 1


WEEK = [Window(0, 9 * 60, 12 * 60), Window(2, 14 * 60, 16 * 60)]


async def test_mentor_sessions_inside_availability_and_feedback(db: Database) -> None:
    profile = mentors.MentorInput(name="Ms Li", bio="", skills=["FinTech", "marketing"], availability=WEEK,
                                  timezone="Asia/Shanghai")
    mentor = await run(db, mentors.save_profile, MENTOR, profile, NOW)
    assert mentor.skills == "fintech\nmarketing"
    with pytest.raises(DomainError) as outside:
        await run(db, mentors.book_session, user(1), MENTOR.subject, "pitch", hours(5, 1), NOW)  # Monday 14:00
    assert outside.value.extra["rule"] == "availability"
    session = await run(db, mentors.book_session, user(1), MENTOR.subject, "pitch", hours(2, 1), NOW)
    with pytest.raises(BookingRefused):
        await run(db, mentors.book_session, user(2), MENTOR.subject, "x", hours(2.5, 0.5), NOW)
    with pytest.raises(DomainError) as early:
        await run(db, mentors.give_feedback, user(1), session.booking_id, 5, "great", NOW)
    assert early.value.extra["current_state"] == "upcoming"
    after = NOW + timedelta(hours=4)
    with pytest.raises(DomainError) as absent:  # nobody checked in: the session did not take place
        await run(db, mentors.give_feedback, user(1), session.booking_id, 5, "great", after)
    assert absent.value.extra["current_state"] == "confirmed"
    with pytest.raises(DomainError) as not_the_mentor:
        await run(db, mentors.check_in_startup, user(1), session.booking_id, NOW + timedelta(hours=2))
    assert not_the_mentor.value.status == 403
    with pytest.raises(BookingRefused) as too_early:
        await run(db, mentors.check_in_startup, MENTOR, session.booking_id, NOW + timedelta(hours=1, minutes=44))
    assert too_early.value.rule == "check_in_window"
    checked = await run(db, mentors.check_in_startup, MENTOR, session.booking_id, NOW + timedelta(hours=1, minutes=45))
    assert checked.state == "checked_in"
    with pytest.raises(DomainError) as other:
        await run(db, mentors.give_feedback, user(2), session.booking_id, 1, "", after)
    assert other.value.status == 403
    rated = await run(db, mentors.give_feedback, user(1), session.booking_id, 5, "great", after)
    assert rated.rating == 5
    updated = await run(db, mentors.save_profile, MENTOR, profile, NOW)  # replacing the profile keeps one resource
    assert updated.resource_id == mentor.resource_id
    assert {"mentor_session.checked_in.v1", "mentor_session.feedback_given.v1"} <= set(await types(db))


async def test_licence_requests_are_decided_by_the_holder(db: Database) -> None:
    holder = Principal(subject="univ-1", roles=frozenset({"provider"}))
    patent = await run(db, patents.list_patent, holder, patents.PatentInput(
        holder_kind="public_institution", title="Battery electrolyte", patent_no="CN112345678A",
        field_of_use="energy", licence_terms="free", royalty_fen=0, summary=""), NOW)
    request = await run(db, patents.request_licence, user(1), patent.id, "pilot production", NOW)
    with pytest.raises(DomainError) as stranger:
        await run(db, patents.decide_licence, user(2), request.id, True, None, NOW)
    assert stranger.value.status == 403
    with pytest.raises(DomainError) as no_reason:
        await run(db, patents.decide_licence, holder, request.id, False, None, NOW)
    assert no_reason.value.field == "reason"
    granted = await run(db, patents.decide_licence, holder, request.id, True, None, NOW)
    assert granted.state == "granted"
    with pytest.raises(DomainError) as again:
        await run(db, patents.decide_licence, holder, request.id, False, "no", NOW)
    assert again.value.extra["current_state"] == "granted"


async def test_service_request_deadline_in_working_days_and_overdue(db: Database) -> None:
    # filed Friday 2026-09-18 (Shanghai); Sunday 09-20 is a make-up working day (国庆节调休):
    # 3 working days -> Sun 20, Mon 21, Tue 22: due at the end of Tuesday 2026-09-22 Shanghai time
    filed = datetime(2026, 9, 18, 2, 0, tzinfo=UTC)
    request = await run(db, requests.open_request, user(1), "registration_advice", "Register a company", "", filed)
    assert request.deadline_at == datetime(2026, 9, 22, 15, 59, 59, 999999, tzinfo=UTC)
    assert not requests.is_overdue(request, request.deadline_at)
    assert requests.is_overdue(request, request.deadline_at + timedelta(seconds=1))
    with pytest.raises(DomainError) as not_staff:
        await run(db, requests.assign, user(1), request.id, "handler-1", filed)
    assert not_staff.value.status == 403
    await run(db, requests.assign, STAFF, request.id, "handler-1", filed)
    handler = Principal(subject="handler-1", roles=frozenset({"provider"}))
    with pytest.raises(DomainError) as wrong:
        await run(db, requests.resolve, user(2), request.id, "done", filed)
    assert wrong.value.status == 403
    late = request.deadline_at + timedelta(days=1)
    resolved = await run(db, requests.resolve, handler, request.id, "advice given", late)
    assert resolved.state == "resolved" and requests.is_overdue(resolved, late + timedelta(days=30))
    with pytest.raises(DomainError) as kind:
        await run(db, requests.open_request, user(1), "catering", "x", "", filed)
    assert kind.value.field == "kind"


async def test_bookings_are_cancelled_before_they_start_by_the_booker_or_the_owner(db: Database) -> None:
    instrument = await run(db, instruments.list_instrument, OWNER, INSTRUMENT, NOW)
    booking = await run(db, instruments.book, user(1), instrument.id, hours(2), NOW)
    with pytest.raises(DomainError) as stranger:
        await run(db, instruments.cancel, user(2), booking.id, NOW)
    assert stranger.value.status == 403
    with pytest.raises(DomainError) as started:
        await run(db, instruments.cancel, user(1), booking.id, NOW + timedelta(hours=2))
    assert started.value.status == 409
    cancelled = await run(db, instruments.cancel, user(1), booking.id, NOW)
    assert cancelled.state == "cancelled"
    assert (await run(db, instruments.book, user(2), instrument.id, hours(2), NOW)).state == "confirmed"
    profile = mentors.MentorInput(name="Mr Wang", bio="", skills=["ip law"], availability=WEEK,
                                  timezone="Asia/Shanghai")
    await run(db, mentors.save_profile, MENTOR, profile, NOW)
    session = await run(db, mentors.book_session, user(1), MENTOR.subject, "licensing", hours(2, 1), NOW)
    by_mentor = await run(db, mentors.cancel_session, MENTOR, session.booking_id, NOW)
    assert by_mentor.state == "cancelled"
    assert (await types(db)).count("booking.cancelled.v1") == 2
