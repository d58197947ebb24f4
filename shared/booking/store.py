"""The booking engine's storage: take slots atomically inside the caller's one transaction (unit of work).

No overlap by construction:
- PostgreSQL: the resource and every room above it are locked (SELECT ... FOR UPDATE), root first, before
  the overlap check. Any booking in the same tree locks the shared ancestors, so two requests that could
  conflict (same resource, or a room and something inside it) run one after the other, and the second sees
  the first's committed row (READ COMMITTED takes a new snapshot per statement). Locking root-first along
  a tree path means no two requests wait on each other in opposite orders (no deadlock).
- SQLite: every write transaction is BEGIN IMMEDIATE on the one writer connection, so check and insert in
  one transaction are already serialised; the FOR UPDATE clause is simply not rendered there.
The member's subscription row is locked next, and credits are taken with a conditional update.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col, select

from shared.booking.models import (
    BookableResource,
    Booking,
    BookingPlan,
    BookingSubscription,
    BookingTraining,
    TrainingRecord,
)
from shared.booking.rules import (
    ACTIVE_STATES,
    Assessment,
    BookingRefused,
    BookingState,
    Interval,
    SubscriptionView,
    TrainingRecordView,
    assess,
    local_day_bounds,
    training_problem,
)
from shared.ids import new_id
from shared.problems import DomainError

MAX_DEPTH = 16


@dataclass
class Placed:
    """What a successful request placed, for the service to publish its events."""

    resource: BookableResource
    bookings: list[Booking]
    assessment: Assessment
    subscription: BookingSubscription


async def resource_chain(session: AsyncSession, resource_id: str, *, lock: bool) -> list[BookableResource]:
    """The resource and the rooms above it, root first; each row locked (FOR UPDATE) when `lock`."""
    ids: list[str] = []
    current: str | None = resource_id
    while current is not None:
        if len(ids) >= MAX_DEPTH or current in ids:
            raise DomainError(409, "the resource tree is too deep or circular", field="parent_id")
        parent = (await session.execute(
            select(BookableResource.parent_id).where(BookableResource.id == current))).first()
        if parent is None:
            raise DomainError(404, f"resource {current} not found", field="resource_id")
        ids.append(current)
        current = parent[0]
    chain = []
    for resource_key in reversed(ids):  # root first: every tree path is locked in the same order
        query = select(BookableResource).where(BookableResource.id == resource_key)
        if lock:
            query = query.with_for_update()
        chain.append((await session.execute(query)).scalars().one())
    return chain


async def descendant_ids(session: AsyncSession, resource_id: str) -> list[str]:
    """Every resource inside this one (rooms in rooms, equipment in rooms), breadth first."""
    found: list[str] = []
    frontier = [resource_id]
    for _ in range(MAX_DEPTH):
        if not frontier:
            break
        children = (await session.execute(
            select(BookableResource.id).where(col(BookableResource.parent_id).in_(frontier)))).scalars().all()
        found.extend(children)
        frontier = list(children)
    return found


async def active_subscription(session: AsyncSession, context_id: str, member_id: str, now: datetime, *,
                              lock: bool) -> BookingSubscription | None:
    """The member's subscription in force at `now` in this context (the one ending last)."""
    query = (select(BookingSubscription)
             .where(BookingSubscription.context_id == context_id, BookingSubscription.member_id == member_id,
                    col(BookingSubscription.starts_at) <= now, col(BookingSubscription.ends_at) > now)
             .order_by(col(BookingSubscription.ends_at).desc()).limit(1))
    if lock:
        query = query.with_for_update()
    return (await session.execute(query)).scalars().first()


async def conflicting(session: AsyncSession, resource_ids: Sequence[str],
                      intervals: Sequence[Interval]) -> Booking | None:
    """An active booking on any of `resource_ids` overlapping any interval, if there is one."""
    lowest = min(i.start for i in intervals)
    highest = max(i.end for i in intervals)
    rows = (await session.execute(
        select(Booking).where(col(Booking.resource_id).in_(resource_ids),
                              col(Booking.state).in_([s.value for s in ACTIVE_STATES]),
                              col(Booking.start_at) < highest, col(Booking.end_at) > lowest)
    )).scalars().all()
    for row in rows:
        held = Interval(row.start_at, row.end_at)
        if any(held.overlaps(interval) for interval in intervals):
            return row
    return None


async def place_bookings(session: AsyncSession, *, resource_id: str, member_id: str,
                         intervals: Sequence[Interval], now: datetime,
                         recurrence_id: str | None = None) -> Placed:
    """Check every rule and take the slots, all or nothing, inside the caller's transaction."""
    chain = await resource_chain(session, resource_id, lock=True)
    resource = chain[-1]
    training = (await session.get(BookingTraining, resource.required_training_id)
                if resource.required_training_id else None)
    rules = resource.rules(training)
    subscription = await active_subscription(session, resource.context_id, member_id, now, lock=True)
    subscription_view = None
    if subscription is not None:
        plan = await session.get(BookingPlan, subscription.plan_id)
        assert plan is not None
        subscription_view = SubscriptionView(
            plan_name=plan.name, starts_at=subscription.starts_at, ends_at=subscription.ends_at,
            credits_remaining=subscription.credits_remaining, daily_quota_minutes=plan.daily_quota_minutes)
    record = (await session.get(TrainingRecord, (training.id, member_id)) if training is not None else None)
    record_view = TrainingRecordView(record.certified_at, record.last_used_at) if record is not None else None
    already = await member_bookings_on_days(session, resource.context_id, member_id, intervals, rules.zone)

    assessment = assess(intervals, rules, now=now, subscription=subscription_view, training_record=record_view,
                        already_booked=already)
    assert subscription is not None  # assess refuses without one

    inside = await descendant_ids(session, resource.id)
    await _require_trainings_inside(session, inside, member_id, max(i.start for i in intervals), now)
    blocking = [r.id for r in chain] + inside
    taken = await conflicting(session, blocking, intervals)
    if taken is not None:
        raise BookingRefused(
            409, "slot_taken",
            f"the slot overlaps a booking from {taken.start_at.isoformat()} to {taken.end_at.isoformat()} "
            f"on {'this resource' if taken.resource_id == resource.id else 'resource ' + taken.resource_id}",
            field="start")

    if assessment.total_credits:
        charged = await session.execute(
            update(BookingSubscription)
            .where(col(BookingSubscription.id) == subscription.id,
                   col(BookingSubscription.credits_remaining) >= assessment.total_credits)
            .values(credits_remaining=BookingSubscription.credits_remaining - assessment.total_credits)
            .execution_options(synchronize_session="fetch"))
        if charged.rowcount != 1:  # type: ignore[attr-defined]
            raise BookingRefused(409, "insufficient_credits", "not enough credits left", field="credits")

    bookings = [
        Booking(id=new_id(), resource_id=resource.id, context_id=resource.context_id, member_id=member_id,
                subscription_id=subscription.id, start_at=interval.start, end_at=interval.end,
                state=assessment.state.value, credits_charged=credits, recurrence_id=recurrence_id, created_at=now)
        for interval, credits in zip(intervals, assessment.credits, strict=True)
    ]
    session.add_all(bookings)  # a booking is not a use: the trainings' last use moves at check-in (record_use)
    await session.flush()
    return Placed(resource=resource, bookings=bookings, assessment=assessment, subscription=subscription)


async def _require_trainings_inside(session: AsyncSession, inside: Sequence[str], member_id: str,
                                    latest_start: datetime, now: datetime) -> None:
    """Booking a room grants the use of everything inside it, so the member needs the trainings that equipment
    (or an inner room) requires, exactly as if booking it: refused naming the training (rule `training`)."""
    if not inside:
        return
    rows = (await session.execute(
        select(BookableResource.name, BookingTraining).join(
            BookingTraining, col(BookingTraining.id) == col(BookableResource.required_training_id))
        .where(col(BookableResource.id).in_(inside)).order_by(col(BookableResource.name)))).all()
    for name, training in rows:
        record = await session.get(TrainingRecord, (training.id, member_id))
        view = TrainingRecordView(record.certified_at, record.last_used_at) if record is not None else None
        reason = training_problem(training.view(), view, latest_start, now)
        if reason is not None:
            raise BookingRefused(403, "training", f"{reason} (required for {name!r} inside this room)",
                                 field="training")


async def record_use(session: AsyncSession, booking: Booking, now: datetime) -> None:
    """The member checked in: the trainings the booked resource needs (its own, and those of everything inside
    a room) were used now, which is what keeps them from lapsing. Booking alone never does."""
    ids = [booking.resource_id, *await descendant_ids(session, booking.resource_id)]
    trainings = set((await session.execute(
        select(BookableResource.required_training_id).where(
            col(BookableResource.id).in_(ids), col(BookableResource.required_training_id).is_not(None))
    )).scalars())
    for training_id in sorted(t for t in trainings if t):
        record = await session.get(TrainingRecord, (training_id, booking.member_id), with_for_update=True)
        if record is not None and (record.last_used_at is None or record.last_used_at < now):
            record.last_used_at = now


async def member_bookings_on_days(session: AsyncSession, context_id: str, member_id: str,
                                  intervals: Sequence[Interval], zone: ZoneInfo) -> list[Interval]:
    """The member's active bookings in the context on the local days the request touches (daily quota)."""
    first_day = min(i.start for i in intervals).astimezone(zone).date()
    last_day = max(i.end for i in intervals).astimezone(zone).date()
    lowest = local_day_bounds(first_day, zone)[0]
    highest = local_day_bounds(last_day, zone)[1]
    rows = (await session.execute(
        select(Booking.start_at, Booking.end_at).where(
            Booking.context_id == context_id, Booking.member_id == member_id,
            col(Booking.state).in_([s.value for s in ACTIVE_STATES]),
            col(Booking.start_at) < highest, col(Booking.end_at) > lowest)
    )).all()
    return [Interval(start, end) for start, end in rows]


async def refund(session: AsyncSession, booking: Booking) -> None:
    """Give a cancelled or rejected booking's credits back to its subscription (conditional update)."""
    if booking.credits_charged:
        await session.execute(
            update(BookingSubscription).where(col(BookingSubscription.id) == booking.subscription_id)
            .values(credits_remaining=BookingSubscription.credits_remaining + booking.credits_charged)
            .execution_options(synchronize_session="fetch"))


async def started_ids(session: AsyncSession, states: Sequence[BookingState], now: datetime,
                      limit: int) -> list[str]:
    """The ids of bookings in one of `states` whose slot has started by `now`, earliest first: what a
    service's bookings sweep decides on (no-shows, undecided bookings), `limit` at a time."""
    return list((await session.execute(
        select(Booking.id).where(col(Booking.state).in_([state.value for state in states]),
                                 col(Booking.start_at) <= now)
        .order_by(col(Booking.start_at), col(Booking.id)).limit(limit))).scalars())


async def load_for_update(session: AsyncSession, booking_id: str) -> Booking:
    """A booking, locked for a state change (no two operators decide it at once)."""
    row = (await session.execute(select(Booking).where(Booking.id == booking_id).with_for_update())).scalars().first()
    if row is None:
        raise DomainError(404, f"booking {booking_id} not found", field="booking_id")
    return row

