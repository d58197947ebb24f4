"""The booking store and the maker-space handlers on a real database (SQLite and PostgreSQL), time driven
explicitly: slots taken atomically under concurrency, a room blocking what is inside it, no-shows,
residency with desks and metrics. Events are read back from the outbox."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from makerspace import handlers
from sqlmodel import select

from shared.auth import Principal
from shared.booking.rules import BookingRefused, Interval
from shared.context import ServiceContext
from shared.db import Database
from shared.outbox import read_feed
from shared.problems import DomainError
from shared.uow import UnitOfWork

NOW = datetime(2026, 3, 2, 1, 0, tzinfo=UTC)  # 09:00 in Shanghai
OPERATOR = Principal(subject="op-1", roles=frozenset({"space_operator"}))


def member(n: int) -> Principal:
    return Principal(subject=f"member-{n}", roles=frozenset({"resident"}))


async def run(db: Database, command: Any, *args: Any, **kwargs: Any) -> Any:
    async with UnitOfWork(db, "makerspace") as uow:
        return await command(uow, *args, **kwargs)


async def events(db: Database) -> list[Any]:
    async with db.reading() as session:
        feed, _ = await read_feed(session, 0, 1000)
    return feed


async def a_space(db: Database, *, members: int = 1, credits: int = 1000, quota: int = 600,
                  **resource: Any) -> tuple[str, str]:
    space = await run(db, handlers.register_space, OPERATOR, handlers.SpaceInput(
        name="Space", tier="district_point", kind="general", industry=None, region_code="110108", capacity=50,
        services=["desks"], timezone="Asia/Shanghai", organisation_id=None), NOW)
    room = await run(db, handlers.add_resource, OPERATOR, space.id, resource_input(**resource), NOW)
    plan = await run(db, handlers.create_plan, OPERATOR, space.id, "Basic", quota, credits, NOW)
    for n in range(members):
        await run(db, handlers.subscribe, OPERATOR, space.id, plan.id, member(n).subject, NOW - timedelta(days=1),
                  NOW + timedelta(days=60), NOW)
    return space.id, room.id


def resource_input(**overrides: Any) -> handlers.ResourceInput:
    values: dict[str, Any] = dict(kind="room", name="Room", parent_id=None, timezone=None, min_notice_minutes=None,
                                  max_notice_minutes=None, min_duration_minutes=None, max_duration_minutes=None,
                                  slot_minutes=None, requires_approval=False, credits_per_hour=0,
                                  check_in_opens_before_minutes=None, check_in_grace_minutes=None,
                                  required_training_id=None)
    values.update(overrides)
    return handlers.ResourceInput(**values)


def slot(hours_from_now: float, hours: float = 1) -> Interval:
    start = NOW + timedelta(hours=hours_from_now)
    return Interval(start, start + timedelta(hours=hours))


async def test_concurrent_overlapping_requests_leave_one_booking_per_slot(db: Database) -> None:
    _, room = await a_space(db, members=10)
    # 40 requests: 4 distinct slots, each asked for 10 times by different members (with overlaps in between)
    wanted = [slot(2 + 2 * (n % 4)) for n in range(40)]

    async def attempt(n: int) -> str:
        try:
            await run(db, handlers.book, member(n % 10), room, [wanted[n]], NOW)
            return "ok"
        except BookingRefused as refused:
            return refused.rule

    outcomes = await asyncio.gather(*(attempt(n) for n in range(40)))
    assert outcomes.count("ok") == 4
    assert set(outcomes) == {"ok", "slot_taken"}


async def test_a_room_blocks_the_equipment_inside_it_and_back(db: Database) -> None:
    space, room = await a_space(db, members=2)
    inner = await run(db, handlers.add_resource, OPERATOR, space, resource_input(name="Inner", parent_id=room), NOW)
    laser = await run(db, handlers.add_resource, OPERATOR, space,
                      resource_input(kind="equipment", name="Laser", parent_id=inner.id), NOW)
    await run(db, handlers.book, member(0), laser.id, [slot(3)], NOW)
    with pytest.raises(BookingRefused) as refused:
        await run(db, handlers.book, member(1), room, [slot(3.5)], NOW)
    assert refused.value.rule == "slot_taken"
    await run(db, handlers.book, member(1), room, [slot(4)], NOW)  # back to back is fine
    with pytest.raises(BookingRefused):
        await run(db, handlers.book, member(0), laser.id, [slot(4.5, 0.5)], NOW)

    async def attempt(n: int) -> bool:
        target = room if n % 2 else laser.id
        try:
            await run(db, handlers.book, member(n % 2), target, [slot(8)], NOW)
            return True
        except BookingRefused:
            return False

    assert sum(await asyncio.gather(*(attempt(n) for n in range(20)))) == 1


async def test_credits_are_charged_and_refunded_and_never_go_negative(db: Database) -> None:
    _, room = await a_space(db, credits=3, credits_per_hour=2)
    booking = (await run(db, handlers.book, member(0), room, [slot(2)], NOW))[0]
    assert booking.credits_charged == 2
    with pytest.raises(BookingRefused) as refused:
        await run(db, handlers.book, member(0), room, [slot(4)], NOW)
    assert refused.value.rule == "insufficient_credits"
    await run(db, handlers.cancel_booking, member(0), booking.id, NOW)
    await run(db, handlers.book, member(0), room, [slot(4)], NOW)


async def test_approval_no_show_and_illegal_transitions(db: Database) -> None:
    _, room = await a_space(db, requires_approval=True)
    booking = (await run(db, handlers.book, member(0), room, [slot(1)], NOW))[0]
    assert booking.state == "pending"
    with pytest.raises(DomainError) as not_owner:
        await run(db, handlers.decide_booking, member(0), booking.id, True, "", NOW)
    assert not_owner.value.status == 403
    await run(db, handlers.decide_booking, OPERATOR, booking.id, True, "", NOW)
    with pytest.raises(BookingRefused) as early:
        await run(db, handlers.record_no_show, OPERATOR, booking.id, NOW + timedelta(hours=1, minutes=14))
    assert early.value.rule == "check_in_window"
    noshow = await run(db, handlers.record_no_show, OPERATOR, booking.id, NOW + timedelta(hours=1, minutes=15))
    assert noshow.state == "no_show"
    with pytest.raises(BookingRefused) as illegal:
        await run(db, handlers.check_in_booking, member(0), booking.id, NOW + timedelta(hours=1))
    assert illegal.value.status == 409 and "'no_show'" in illegal.value.detail
    recorded = [e for e in await events(db) if e.type.endswith("booking.no_show_recorded.v1")]
    assert len(recorded) == 1
    assert recorded[0].partitionkey == member(0).subject
    assert recorded[0].data["penalty_points"] == 10 and recorded[0].data["policy_version"] == "makerspace-2026.1"


async def test_residency_desk_without_double_allocation_and_metrics(db: Database) -> None:
    space, _ = await a_space(db)
    founder = Principal(subject="founder-1", roles=frozenset({"founder"}))
    cohort = await run(db, handlers.create_cohort, OPERATOR, space, "2026 spring", NOW, 1, NOW)
    apps = [await run(db, handlers.submit_application, founder, space, f"S{n}", "idea", None, NOW) for n in range(2)]
    for application in apps:
        for to in ("screening", "interview"):
            await run(db, handlers.move_application, OPERATOR, application.id, to, None, None, NOW)
    await run(db, handlers.move_application, OPERATOR, apps[0].id, "accepted", cohort.id, None, NOW)
    with pytest.raises(DomainError) as full:
        await run(db, handlers.move_application, OPERATOR, apps[1].id, "accepted", cohort.id, None, NOW)
    assert full.value.status == 409 and "full" in full.value.detail
    with pytest.raises(DomainError) as illegal:
        await run(db, handlers.move_application, OPERATOR, apps[0].id, "graduated", None, None, NOW)
    assert illegal.value.status == 409 and "'accepted'" in illegal.value.detail

    desks = [await run(db, handlers.add_workspace, OPERATOR, space, "desk", f"D{n}", NOW) for n in range(2)]

    async def allocate(desk: str) -> bool:
        try:
            await run(db, handlers.allocate_workspace, OPERATOR, desk, apps[0].id, NOW)
            return True
        except DomainError:
            return False

    assert sum(await asyncio.gather(*(allocate(desks[n % 2].id) for n in range(10)))) == 1
    await run(db, handlers.move_application, OPERATOR, apps[0].id, "resident", None, None, NOW)
    await run(db, handlers.report_outcome, founder, apps[0].id, 7, 1_000_000_00, NOW)
    await run(db, handlers.report_outcome, founder, apps[0].id, 5, 1_000_000_00, NOW)  # a correction
    reported = [e.data for e in await events(db) if e.type.endswith("outcome_reported.v1")]
    assert [(r["jobs_created"], r["jobs_created_change"]) for r in reported] == [(7, 7), (5, -2)]
    await run(db, handlers.move_application, OPERATOR, apps[0].id, "graduated", None, None, NOW)
    metrics = [e.data for e in await events(db) if e.type.endswith("metrics.updated.v1")]
    assert metrics[-1] | {"cause": ""} == {
        "space_id": space, "region_code": "110108", "tier": "district_point", "residents": 0, "graduations": 1,
        "exits": 0, "jobs_created": 5, "funding_raised_fen": 1_000_000_00, "currency": "CNY", "cause": ""}
    released = [e for e in await events(db) if e.type.endswith("workspace.released.v1")]
    assert len(released) == 1


async def test_activity_seats_are_never_oversold(db: Database) -> None:
    space, _ = await a_space(db)
    activity = await run(db, handlers.schedule_activity, OPERATOR, space, "roadshow", "路演", NOW + timedelta(days=1),
                         NOW + timedelta(days=1, hours=2), 3, None, NOW)

    async def attempt(n: int) -> bool:
        try:
            await run(db, handlers.register_for_activity, member(n), activity.id, NOW)
            return True
        except DomainError:
            return False

    assert sum(await asyncio.gather(*(attempt(n) for n in range(12)))) == 3
    with pytest.raises(DomainError):
        await run(db, handlers.register_for_activity, member(0), activity.id, NOW)


async def a_trained_member(db: Database, space: str, lapse_after_days: int = 30) -> tuple[Any, Principal]:
    """A training lapsing after `lapse_after_days` unused, and a member certified at NOW with a long plan."""
    training = await run(db, handlers.define_training, OPERATOR, space, "Laser safety", 12, lapse_after_days, NOW)
    plan = await run(db, handlers.create_plan, OPERATOR, space, "Long", 600, 100_000, NOW)
    trained = Principal(subject="trained-member", roles=frozenset({"resident"}))
    await run(db, handlers.subscribe, OPERATOR, space, plan.id, trained.subject, NOW - timedelta(days=1),
              NOW + timedelta(days=300), NOW)
    await run(db, handlers.certify_training, OPERATOR, training.id, trained.subject, NOW, NOW)
    return training, trained


async def test_booking_and_cancelling_never_keeps_a_training_alive_only_using_it_does(db: Database) -> None:
    space, _ = await a_space(db)
    training, trained = await a_trained_member(db, space)
    laser = await run(db, handlers.add_resource, OPERATOR, space, resource_input(
        kind="equipment", name="Laser", required_training_id=training.id, max_notice_minutes=365 * 24 * 60), NOW)
    # book far ahead and cancel after 29 days: the laser is never used, so that keeps nothing alive
    moment = NOW + timedelta(days=29)
    far = Interval(moment + timedelta(days=200), moment + timedelta(days=200, hours=1))
    placed = (await run(db, handlers.book, trained, laser.id, [far], moment))[0]
    await run(db, handlers.cancel_booking, trained, placed.id, moment)
    async with db.reading() as session:
        from shared.booking.models import TrainingRecord

        record = await session.get(TrainingRecord, (training.id, trained.subject))
        assert record is not None and record.last_used_at is None
    moment += timedelta(days=29)
    with pytest.raises(BookingRefused) as lapsed:
        await run(db, handlers.book, trained, laser.id, [far], moment)
    assert lapsed.value.rule == "training" and "lapsed" in lapsed.value.detail

    # checking in is using it: the training stays alive counted from the check-in
    await run(db, handlers.certify_training, OPERATOR, training.id, trained.subject, NOW, NOW)
    used = (await run(db, handlers.book, trained, laser.id, [slot(24 * 20)], NOW))[0]
    await run(db, handlers.check_in_booking, trained, used.id, used.start_at)
    later = used.start_at + timedelta(days=29)
    await run(db, handlers.book, trained, laser.id, [Interval(later + timedelta(hours=1), later + timedelta(hours=2))],
              later)


async def test_booking_a_room_needs_the_trainings_of_the_equipment_inside_it(db: Database) -> None:
    space, room = await a_space(db, members=1)
    training, trained = await a_trained_member(db, space)
    bench = await run(db, handlers.add_resource, OPERATOR, space, resource_input(name="Bench", parent_id=room), NOW)
    await run(db, handlers.add_resource, OPERATOR, space, resource_input(
        kind="equipment", name="Laser", parent_id=bench.id, required_training_id=training.id), NOW)
    for target in (room, bench.id):
        with pytest.raises(BookingRefused) as untrained:
            await run(db, handlers.book, member(0), target, [slot(3)], NOW)
        assert untrained.value.status == 403 and untrained.value.rule == "training"
        assert "Laser safety" in untrained.value.detail
    await run(db, handlers.book, trained, room, [slot(3)], NOW)


class FixedClock:
    def __init__(self, now: datetime) -> None:
        self.moment = now

    def now(self) -> datetime:
        return self.moment


async def test_the_sweeper_records_no_shows_after_the_grace_and_cancels_unapproved_bookings(db: Database) -> None:
    from makerspace import jobs

    from shared.booking.models import BookingSubscription

    space, room = await a_space(db, credits=10, credits_per_hour=2)
    gated = await run(db, handlers.add_resource, OPERATOR, space, resource_input(
        name="Gated", requires_approval=True, credits_per_hour=2), NOW)
    missed = (await run(db, handlers.book, member(0), room, [slot(1)], NOW))[0]
    attended = (await run(db, handlers.book, member(0), room, [slot(3)], NOW))[0]
    undecided = (await run(db, handlers.book, member(0), gated.id, [slot(2)], NOW))[0]
    assert undecided.state == "pending"
    clock = FixedClock(NOW + timedelta(hours=1, minutes=14))
    ctx = ServiceContext(db, clock, "makerspace", None)
    assert await jobs.sweep_bookings(ctx) == 0  # still inside the grace period
    clock.moment = NOW + timedelta(hours=1, minutes=15)
    assert await jobs.sweep_bookings(ctx) == 1
    clock.moment = NOW + timedelta(hours=3)
    await run(db, handlers.check_in_booking, member(0), attended.id, clock.moment)
    assert await jobs.sweep_bookings(ctx) == 1  # the unapproved one, past its start
    clock.moment = NOW + timedelta(days=1)
    assert await jobs.sweep_bookings(ctx) == 0  # nothing left: checked in, no-show and cancelled stay as they are
    async with db.reading() as session:
        from shared.booking.models import Booking

        states = {b.id: b.state for b in (await session.execute(select(Booking))).scalars()}
        credits = (await session.execute(select(BookingSubscription.credits_remaining).where(
            BookingSubscription.member_id == member(0).subject))).scalar_one()
    assert states == {missed.id: "no_show", attended.id: "checked_in", undecided.id: "cancelled"}
    assert credits == 10 - 2 - 2  # the unapproved booking's 2 credits came back
    kinds = [e.type.rsplit(".", 2)[-2] for e in await events(db) if e.subject in (missed.id, undecided.id)]
    assert "no_show_recorded" in kinds and "cancelled" in kinds
    recorded = next(e for e in await events(db) if e.type.endswith("booking.no_show_recorded.v1"))
    assert recorded.actor == "system:makerspace" and recorded.data["penalty_points"] == 10
    cancelled = next(e for e in await events(db) if e.type.endswith("booking.cancelled.v1"))
    assert cancelled.data["credits_refunded"] == 2
