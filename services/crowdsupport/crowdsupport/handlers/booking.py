"""Crowd-support's use of the shared booking engine (shared.booking), as makerspace uses it.

Instruments and mentors' time are open to every eligible subject, not sold by membership plan: the
engine books only for a member with a subscription in the resource's context, so the first booking in a
context grants an open-access subscription (no credits, the policy's daily quota) inside the same
transaction. The engine's every rule still applies: notice, duration, slot grid, past, daily quota, and
no overlapping bookings by construction (row locks on PostgreSQL, the serialised writer on SQLite).
"""

from __future__ import annotations

from datetime import datetime, timedelta

from crowdsupport import contracts as ev
from crowdsupport.handlers.common import ADMIN
from shared.auth import Principal
from shared.booking import store
from shared.booking.models import BookableResource, Booking, BookingPlan, BookingSubscription
from shared.booking.rules import BookingState, Interval, transition
from shared.ids import new_id
from shared.problems import DomainError
from shared.uow import UnitOfWork

OPEN_ACCESS = "open access"


def plan_id(context_id: str) -> str:
    return f"open:{context_id}"


async def open_context(uow: UnitOfWork, context_id: str, daily_quota_minutes: int, now: datetime) -> None:
    """The open-access plan of a context (an instrument owner, a mentor), created once."""
    if await uow.session.get(BookingPlan, plan_id(context_id)) is None:
        uow.session.add(BookingPlan(id=plan_id(context_id), context_id=context_id, name=OPEN_ACCESS,
                                    daily_quota_minutes=daily_quota_minutes, credits=0, created_at=now))
        await uow.session.flush()


async def grant_access(uow: UnitOfWork, context_id: str, member_id: str, now: datetime, days: int) -> None:
    """Open access for the member, renewed for `days` from each booking (a rolling grant), so that a slot booked
    ahead (up to the resource's maximum notice) never ends after the grant, however old the first grant is."""
    renewed_until = now + timedelta(days=days)
    active = await store.active_subscription(uow.session, context_id, member_id, now, lock=True)
    if active is None:
        uow.session.add(BookingSubscription(id=new_id(), context_id=context_id, plan_id=plan_id(context_id),
                                            member_id=member_id, starts_at=now, ends_at=renewed_until,
                                            credits_remaining=0, created_at=now))
    elif active.plan_id == plan_id(context_id) and active.ends_at < renewed_until:
        active.ends_at = renewed_until
    await uow.session.flush()


async def place(uow: UnitOfWork, resource: BookableResource, member_id: str, interval: Interval, now: datetime,
                days: int) -> Booking:
    await grant_access(uow, resource.context_id, member_id, now, days)
    placed = await store.place_bookings(uow.session, resource_id=resource.id, member_id=member_id,
                                        intervals=[interval], now=now)
    return placed.bookings[0]


async def cancel(uow: UnitOfWork, principal: Principal, booking_id: str, kind: str, parties: set[str],
                 now: datetime) -> Booking:
    """The booker or the resource's side (owner, mentor) cancels before the start; the slot is freed."""
    placed = await store.load_for_update(uow.session, booking_id)
    if principal.subject not in parties and not principal.has_any(*ADMIN):
        raise DomainError(403, "only the booker or the resource's owner may cancel this booking", field="booking_id")
    if placed.start_at <= now:
        raise DomainError(409, "the booking has started; it can no longer be cancelled", field="booking_id",
                          current_state=placed.state)
    placed.state = transition(placed.state, BookingState.CANCELLED).value
    placed.decided_at, placed.decided_by = now, principal.subject
    await store.refund(uow.session, placed)
    uow.publish(ev.BookingCancelled(booking_id=placed.id, resource_id=placed.resource_id, kind=kind,
                                    member_id=placed.member_id, cancelled_by=principal.subject,
                                    start=placed.start_at),
                subject=placed.id, actor=principal.subject, partition_key=placed.member_id)
    await uow.commit()
    return placed
