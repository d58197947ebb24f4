"""The bookings sweep's command: one instrument booking or mentor session, one transaction. The rule (when a
booking is a no-show, when an undecided one expires) is `crowdsupport.domain.attendance`; this applies it to
the stored booking, locked, and writes its event to the outbox in the same transaction."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import exists, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from crowdsupport import contracts as ev
from crowdsupport.domain.attendance import SweepAction, no_show_due, sweep_action
from crowdsupport.domain.policy import DEFAULT_POLICY
from crowdsupport.handlers.common import SYSTEM, found
from crowdsupport.models import InstrumentUsage, MentorSession, UnsweptBooking
from shared.booking import store
from shared.booking.models import BookableResource, Booking
from shared.booking.rules import BookingState, no_show, transition
from shared.uow import UnitOfWork

EXPIRED_REASON = "not decided by the owner before the slot started"


SWEPT_STATES: Sequence[BookingState] = (BookingState.PENDING, BookingState.CONFIRMED)


async def due_ids(session: AsyncSession, now: datetime, limit: int) -> list[str]:
    """The bookings the sweep decides on: pending or confirmed, started by `now`, and tracked (not in
    `cs_unswept_bookings`), earliest first. The untracked ones never leave those states, so they are left out
    here rather than after the limit, where they would fill every batch and starve the newer bookings."""
    unswept = exists().where(col(UnsweptBooking.booking_id) == col(Booking.id))
    return list((await session.execute(
        select(col(Booking.id)).where(col(Booking.state).in_([state.value for state in SWEPT_STATES]),
                                 col(Booking.start_at) <= now, ~unswept)
        .order_by(col(Booking.start_at), col(Booking.id)).limit(limit))).scalars())


async def sweep_booking(uow: UnitOfWork, booking_id: str, now: datetime) -> SweepAction | None:
    """Record a no-show or expire an undecided booking when the rule says so; None (nothing written) when the
    booking is not due, or was decided, checked in or cancelled meanwhile."""
    placed = await store.load_for_update(uow.session, booking_id)
    resource = await found(uow, BookableResource, placed.resource_id, "resource_id")
    rules = resource.rules()
    tracked = await uow.session.get(UnsweptBooking, booking_id) is None
    action = sweep_action(placed.state, placed.start_at, rules, now, tracked=tracked)
    if action is None:
        return None
    kind, owner_id = await _side(uow, booking_id)
    facts = {"booking_id": placed.id, "resource_id": placed.resource_id, "kind": kind,
             "member_id": placed.member_id, "owner_id": owner_id, "start": placed.start_at, "end": placed.end_at,
             "policy_version": DEFAULT_POLICY.version}
    placed.decided_at, placed.decided_by = now, SYSTEM
    if action is SweepAction.NO_SHOW:
        placed.state = no_show(placed.state, placed.start_at, rules, now).value
        uow.publish(ev.BookingNoShowRecorded(**facts, check_in_closed_at=no_show_due(placed.start_at, rules)),
                    subject=placed.id, actor=SYSTEM, partition_key=placed.member_id)
    else:
        placed.state = transition(placed.state, BookingState.CANCELLED).value
        placed.reason = EXPIRED_REASON
        await store.refund(uow.session, placed)
        uow.publish(ev.BookingExpired(**facts), subject=placed.id, actor=SYSTEM, partition_key=placed.member_id)
    await uow.commit()
    return action


async def _side(uow: UnitOfWork, booking_id: str) -> tuple[str, str]:
    """The booking's kind and the resource's side: the instrument's owner, or the mentor."""
    usage = await uow.session.get(InstrumentUsage, booking_id)
    if usage is not None:
        return "instrument", usage.owner_id
    session = await found(uow, MentorSession, booking_id, "booking_id")
    return "mentor", session.mentor_id
