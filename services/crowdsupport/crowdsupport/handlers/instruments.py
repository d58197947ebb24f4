"""Shared instruments (大型科研仪器开放共享): catalogue by owner institution, booking through the shared booking
engine, usage metering (booked vs actual minutes from check-in and check-out) for the post-use subsidy."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col, select

from crowdsupport import contracts as ev
from crowdsupport import guards
from crowdsupport.domain.attendance import decision_open
from crowdsupport.domain.policy import DEFAULT_POLICY
from crowdsupport.domain.usage import UsageLine, minutes_between, subsidy
from crowdsupport.handlers import booking
from crowdsupport.handlers.common import found, owner_or_admin
from crowdsupport.models import Instrument, InstrumentUsage
from shared.auth import Principal
from shared.booking import store
from shared.booking.models import BookableResource, Booking
from shared.booking.rules import BookingState, Interval, check_in, transition, zone_named
from shared.ids import new_id
from shared.problems import DomainError
from shared.uow import UnitOfWork


@dataclass(frozen=True)
class InstrumentInput:
    institution: str
    name: str
    category: str
    location: str
    region_code: str
    hourly_rate_fen: int
    timezone: str
    min_notice_minutes: int
    max_notice_minutes: int
    min_duration_minutes: int
    max_duration_minutes: int
    slot_minutes: int
    requires_approval: bool


async def list_instrument(uow: UnitOfWork, principal: Principal, data: InstrumentInput,
                          now: datetime) -> Instrument:
    """The owner institution lists an instrument: a bookable resource in the owner's context plus its entry."""
    zone_named(data.timezone)
    if data.min_notice_minutes > data.max_notice_minutes:
        raise DomainError(422, "min_notice_minutes is above max_notice_minutes", field="min_notice_minutes")
    if data.min_duration_minutes > data.max_duration_minutes:
        raise DomainError(422, "min_duration_minutes is above max_duration_minutes", field="min_duration_minutes")
    owner = principal.subject
    await booking.open_context(uow, owner, DEFAULT_POLICY.instrument_daily_quota_minutes, now)
    resource = BookableResource(
        id=new_id(), context_id=owner, kind="instrument", name=data.name, timezone=data.timezone,
        min_notice_minutes=data.min_notice_minutes, max_notice_minutes=data.max_notice_minutes,
        min_duration_minutes=data.min_duration_minutes, max_duration_minutes=data.max_duration_minutes,
        slot_minutes=data.slot_minutes, requires_approval=data.requires_approval, credits_per_hour=0,
        check_in_opens_before_minutes=15, check_in_grace_minutes=15, created_at=now)
    uow.session.add(resource)
    await uow.session.flush()
    instrument = Instrument(id=resource.id, owner_id=owner, institution=data.institution, name=data.name,
                            category=data.category, location=data.location, region_code=data.region_code,
                            hourly_rate_fen=data.hourly_rate_fen, created_at=now)
    uow.session.add(instrument)
    uow.publish(ev.InstrumentListed(instrument_id=instrument.id, owner_id=owner, institution=data.institution,
                                    name=data.name, category=data.category, region_code=data.region_code,
                                    hourly_rate_fen=data.hourly_rate_fen),
                subject=instrument.id, actor=owner, partition_key=owner)
    await uow.commit()
    return instrument


async def book(uow: UnitOfWork, principal: Principal, instrument_id: str, interval: Interval,
               now: datetime) -> Booking:
    instrument = await found(uow, Instrument, instrument_id, "instrument_id")
    if principal.subject == instrument.owner_id:
        raise DomainError(409, "an owner does not book its own instrument through the sharing platform",
                          field="instrument_id")
    await guards.ensure_may_book(uow, principal.subject)  # black list and supervision orders
    resource = await found(uow, BookableResource, instrument.id, "instrument_id")
    placed = await booking.place(uow, resource, principal.subject, interval, now, DEFAULT_POLICY.open_access_days)
    uow.session.add(InstrumentUsage(booking_id=placed.id, instrument_id=instrument.id, owner_id=instrument.owner_id,
                                    user_id=principal.subject, start_at=placed.start_at,
                                    booked_minutes=minutes_between(placed.start_at, placed.end_at),
                                    hourly_rate_fen=instrument.hourly_rate_fen))
    uow.publish(ev.InstrumentBooked(booking_id=placed.id, instrument_id=instrument.id, owner_id=instrument.owner_id,
                                    user_id=principal.subject, start=placed.start_at, end=placed.end_at,
                                    state=placed.state, policy_version=DEFAULT_POLICY.version),
                subject=placed.id, actor=principal.subject, partition_key=principal.subject)
    await uow.commit()
    return placed


async def _usage(uow: UnitOfWork, principal: Principal, booking_id: str) -> tuple[Booking, InstrumentUsage]:
    """The booking and its metering row, locked; the owner (or an admin) records use."""
    usage = await found(uow, InstrumentUsage, booking_id, "booking_id", lock=True)
    owner_or_admin(principal, usage.owner_id, "booking_id", "the instrument's owner")
    return await store.load_for_update(uow.session, booking_id), usage


async def approve(uow: UnitOfWork, principal: Principal, booking_id: str, approve: bool, now: datetime) -> Booking:
    """The owner approves or rejects, before its slot starts, a booking of an instrument that requires approval
    (after the start the bookings sweep expires it); a rejection frees the slot."""
    placed, usage = await _usage(uow, principal, booking_id)
    target = transition(placed.state, BookingState.CONFIRMED if approve else BookingState.REJECTED)
    if not decision_open(placed.start_at, now):
        raise DomainError(409, f"the slot started at {placed.start_at.isoformat()}; an undecided booking expires",
                          field="booking_id", current_state=placed.state, rule="decision_closed")
    placed.state = target.value
    placed.decided_at, placed.decided_by = now, principal.subject
    if not approve:
        await store.refund(uow.session, placed)
    uow.publish(ev.InstrumentBookingDecided(booking_id=placed.id, instrument_id=usage.instrument_id,
                                            owner_id=usage.owner_id, user_id=usage.user_id, approved=approve,
                                            state=placed.state, start=placed.start_at, end=placed.end_at),
                subject=placed.id, actor=principal.subject, partition_key=usage.user_id)
    await uow.commit()
    return placed


async def check_in_user(uow: UnitOfWork, principal: Principal, booking_id: str, now: datetime) -> InstrumentUsage:
    placed, usage = await _usage(uow, principal, booking_id)
    resource = await found(uow, BookableResource, placed.resource_id, "instrument_id")
    placed.state = check_in(placed.state, placed.start_at, resource.rules(), now).value
    placed.checked_in_at = usage.checked_in_at = now
    uow.publish(ev.InstrumentCheckedIn(booking_id=placed.id, instrument_id=usage.instrument_id,
                                       user_id=usage.user_id, checked_in_at=now),
                subject=placed.id, actor=principal.subject, partition_key=usage.user_id)
    await uow.commit()
    return usage


async def check_out_user(uow: UnitOfWork, principal: Principal, booking_id: str, now: datetime) -> InstrumentUsage:
    """The use ends: actual minutes are metered from check-in to now."""
    _, usage = await _usage(uow, principal, booking_id)
    if usage.checked_in_at is None:
        raise DomainError(409, "the user has not checked in", field="booking_id", current_state="not_checked_in")
    if usage.checked_out_at is not None:
        raise DomainError(409, "the user has already checked out", field="booking_id", current_state="checked_out")
    usage.checked_out_at = now
    usage.actual_minutes = minutes_between(usage.checked_in_at, now)
    uow.publish(ev.InstrumentUsed(booking_id=usage.booking_id, instrument_id=usage.instrument_id,
                                  owner_id=usage.owner_id, user_id=usage.user_id,
                                  booked_minutes=usage.booked_minutes, actual_minutes=usage.actual_minutes,
                                  checked_in_at=usage.checked_in_at, checked_out_at=now),
                subject=usage.booking_id, actor=principal.subject, partition_key=usage.user_id)
    await uow.commit()
    return usage


async def subsidy_report(session: AsyncSession, owner_id: str, start: datetime, end: datetime) -> dict[str, Any]:
    """Post-use subsidy (先用后补) of an owner institution for the uses that started in [start, end) and were
    checked out: per user and instrument, booked and actual minutes, the metered fee and the subsidy at the
    policy's ratio (its version recorded)."""
    policy = DEFAULT_POLICY
    rows = (await session.execute(select(InstrumentUsage).where(
        InstrumentUsage.owner_id == owner_id, col(InstrumentUsage.checked_out_at).is_not(None),
        col(InstrumentUsage.start_at) >= start, col(InstrumentUsage.start_at) < end))).scalars().all()
    groups: dict[tuple[str, str], list[UsageLine]] = defaultdict(list)
    for row in rows:
        groups[(row.user_id, row.instrument_id)].append(
            UsageLine(row.booked_minutes, row.actual_minutes, row.hourly_rate_fen))
    lines = [{"user_id": user_id, "instrument_id": instrument_id, "uses": len(usage),
              **subsidy(usage, policy.instrument_subsidy_ratio).__dict__}
             for (user_id, instrument_id), usage in sorted(groups.items())]
    total = subsidy([line for usage in groups.values() for line in usage], policy.instrument_subsidy_ratio)
    return {"owner_id": owner_id, "from": start, "to": end, "currency": "CNY",
            "subsidy_ratio": str(policy.instrument_subsidy_ratio), "policy_version": policy.version,
            "lines": lines, "total": total.__dict__}


async def cancel(uow: UnitOfWork, principal: Principal, booking_id: str, now: datetime) -> Booking:
    usage = await found(uow, InstrumentUsage, booking_id, "booking_id")
    return await booking.cancel(uow, principal, booking_id, "instrument", {usage.user_id, usage.owner_id}, now)
