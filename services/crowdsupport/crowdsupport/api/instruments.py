"""Shared-instrument routes: the catalogue, bookings, check-in/out metering and the post-use subsidy report."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, status
from pydantic import BaseModel, Field
from sqlmodel import col, select

from crowdsupport.api.common import (
    READERS,
    Booker,
    InstrumentOwner,
    Label,
    Moment,
    Name,
    Provider,
    Region,
    Slot,
    ZoneName,
)
from crowdsupport.handlers import instruments
from crowdsupport.models import Instrument, InstrumentUsage
from shared.auth import CurrentPrincipal
from shared.booking.models import Booking
from shared.booking.rules import Interval
from shared.problems import DomainError
from shared.service_app import Now, ReadSessionDep, UnitOfWorkDep
from shared.validation import Limit, Offset, ResourceId, Strict

router = APIRouter(tags=["instruments"])


class InstrumentCreate(Strict):
    institution: Name
    name: Name
    category: Label
    location: Name
    region_code: Region
    hourly_rate_fen: int = Field(ge=0, le=10**9)
    timezone: ZoneName = "Asia/Shanghai"
    min_notice_minutes: int = Field(default=60, ge=0, le=365 * 24 * 60)
    max_notice_minutes: int = Field(default=60 * 24 * 60, ge=0, le=365 * 24 * 60)
    min_duration_minutes: int = Field(default=30, ge=1, le=7 * 24 * 60)
    max_duration_minutes: int = Field(default=8 * 60, ge=1, le=7 * 24 * 60)
    slot_minutes: Literal[5, 10, 15, 20, 30, 60] = 30
    requires_approval: bool = False


@router.post("/instruments", status_code=status.HTTP_201_CREATED, response_model=Instrument)
async def list_instrument(body: InstrumentCreate, uow: UnitOfWorkDep, now: Now, principal: Provider) -> Instrument:
    return await instruments.list_instrument(uow, principal, instruments.InstrumentInput(**body.model_dump()), now)


@router.get("/instruments", response_model=list[Instrument])
async def catalogue(session: ReadSessionDep, _principal: CurrentPrincipal, limit: Limit = 50, offset: Offset = 0,
                    owner_id: Annotated[str | None, Query(pattern=r"^[A-Za-z0-9_.:-]{1,64}$")] = None,
                    category: Annotated[str | None, Query(min_length=1, max_length=100)] = None,
                    ) -> list[Instrument]:
    """The open-sharing catalogue, by owner institution and category."""
    query = select(Instrument).order_by(col(Instrument.owner_id), col(Instrument.name), col(Instrument.id))
    if owner_id is not None:
        query = query.where(Instrument.owner_id == owner_id)
    if category is not None:
        query = query.where(Instrument.category == category)
    return list((await session.execute(query.limit(limit).offset(offset))).scalars().all())


class BookingPublic(BaseModel):
    id: str
    resource_id: str
    member_id: str
    state: str
    start: datetime
    end: datetime

    @classmethod
    def of(cls, booking: Booking) -> BookingPublic:
        return cls(id=booking.id, resource_id=booking.resource_id, member_id=booking.member_id, state=booking.state,
                   start=booking.start_at, end=booking.end_at)


@router.post("/instruments/{instrument_id}/bookings", status_code=status.HTTP_201_CREATED,
             response_model=BookingPublic)
async def book(instrument_id: ResourceId, body: Slot, uow: UnitOfWorkDep, now: Now, principal: Booker) -> BookingPublic:
    return BookingPublic.of(await instruments.book(uow, principal, instrument_id, Interval(body.start, body.end), now))


class Decision(Strict):
    approve: bool


@router.post("/instrument-bookings/{booking_id}/decision", response_model=BookingPublic)
async def decide(booking_id: ResourceId, body: Decision, uow: UnitOfWorkDep, now: Now,
                 principal: InstrumentOwner) -> BookingPublic:
    return BookingPublic.of(await instruments.approve(uow, principal, booking_id, body.approve, now))


@router.post("/instrument-bookings/{booking_id}/check-in", response_model=InstrumentUsage)
async def check_in(booking_id: ResourceId, uow: UnitOfWorkDep, now: Now,
                   principal: InstrumentOwner) -> InstrumentUsage:
    return await instruments.check_in_user(uow, principal, booking_id, now)


@router.post("/instrument-bookings/{booking_id}/check-out", response_model=InstrumentUsage)
async def check_out(booking_id: ResourceId, uow: UnitOfWorkDep, now: Now,
                    principal: InstrumentOwner) -> InstrumentUsage:
    return await instruments.check_out_user(uow, principal, booking_id, now)


@router.get("/owners/{owner_id}/subsidy-report")
async def subsidy_report(owner_id: ResourceId, session: ReadSessionDep, principal: CurrentPrincipal,
                         period_start: Annotated[Moment, Query(alias="from")],
                         period_end: Annotated[Moment, Query(alias="to")]) -> dict[str, Any]:
    """Post-use subsidy (先用后补) of an owner institution for a period: per user and instrument, booked and
    actual minutes, the metered fee and the subsidy at the policy's ratio (version recorded)."""
    if principal.subject != owner_id and not principal.has_any(*READERS, "agency"):
        raise DomainError(403, "only the owner institution, an agency, a regulator or an admin may read this",
                          field="owner_id")
    if period_end <= period_start:
        raise DomainError(422, "the period must end after it starts", field="to")
    return await instruments.subsidy_report(session, owner_id, period_start, period_end)


@router.post("/instrument-bookings/{booking_id}/cancel", response_model=BookingPublic)
async def cancel(booking_id: ResourceId, uow: UnitOfWorkDep, now: Now, principal: CurrentPrincipal) -> BookingPublic:
    """The booker or the owner cancels before the start."""
    return BookingPublic.of(await instruments.cancel(uow, principal, booking_id, now))
