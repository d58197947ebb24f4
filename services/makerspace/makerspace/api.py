"""Maker-space routes: parse, authorise by role (ownership is checked in the handlers against the rows
they lock), call one handler, shape the response. Times go out in UTC plus the resource's own zone and
Asia/Shanghai."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Annotated, Literal

from fastapi import APIRouter, HTTPException, Query, status
from pydantic import AfterValidator, AwareDatetime, BaseModel, Field
from sqlmodel import col, select

from makerspace import handlers
from makerspace.domain.policy import DEFAULT_POLICY
from makerspace.domain.residency import UNDER_REVIEW
from makerspace.models import Activity, Application, ApplicationFields, Cohort, Space, SpaceMetrics, Workspace
from shared.auth import ROLES, SERVICE_ROLE, CurrentPrincipal, Principal, require_roles
from shared.booking.models import (
    BookableResource,
    Booking,
    BookingPlan,
    BookingSubscription,
    BookingTraining,
    TrainingRecord,
)
from shared.booking.rules import PLATFORM_ZONE, BookingState, Interval, add_months, recurring_series, zone_named
from shared.listings import fast_track, fast_track_first
from shared.problems import DomainError
from shared.service_app import Now, ReadSessionDep, UnitOfWorkDep
from shared.validation import ID_PATTERN, Limit, Offset, PlainText, ResourceId, Strict

OPERATOR_ROLES = ("space_operator", "admin")
BOOKER_ROLES = ("resident", "founder", "enterprise", "solver", "mentor", "provider", "space_operator")
APPLICANT_ROLES = ("founder", "enterprise", "resident", "solver")
READ_OVERRIDE = ("admin", "regulator")

Operator = Annotated[Principal, require_roles(*OPERATOR_ROLES)]
Booker = Annotated[Principal, require_roles(*BOOKER_ROLES)]
Applicant = Annotated[Principal, require_roles(*APPLICANT_ROLES)]
Id = Annotated[str, Field(pattern=ID_PATTERN)]
Name = Annotated[PlainText, Field(min_length=1, max_length=200)]
ZoneName = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_+\-/]+$")]
Minutes = Annotated[int, Field(ge=0, le=DEFAULT_POLICY.max_notice_limit_minutes)]



def _plausible(moment: datetime) -> datetime:
    """Far-off years would overflow date arithmetic (a 500); nothing here is booked beyond 2200."""
    if not 1970 <= moment.year <= 2200:
        raise ValueError("the year must be between 1970 and 2200")
    return moment


Moment = Annotated[AwareDatetime, AfterValidator(_plausible)]
WallTime = Annotated[datetime, AfterValidator(_plausible)]
router = APIRouter()


# ---------------------------------------------------------------- spaces


class SpaceCreate(Strict):
    name: Name
    tier: Literal["national_demonstration", "municipal_window", "district_point"]
    kind: Literal["general", "industry", "online"] = "general"
    industry: Annotated[PlainText, Field(min_length=1, max_length=100)] | None = None
    region_code: str = Field(pattern=r"^\d{6}$")
    capacity: int = Field(ge=0, le=100_000)
    services: list[Annotated[PlainText, Field(min_length=1, max_length=100)]] = Field(default=[], max_length=20)
    timezone: ZoneName = "Asia/Shanghai"
    organisation_id: Id | None = None


@router.post("/spaces", status_code=status.HTTP_201_CREATED, response_model=Space, tags=["spaces"])
async def register_space(body: SpaceCreate, uow: UnitOfWorkDep, now: Now, principal: Operator) -> Space:
    data = handlers.SpaceInput(name=body.name, tier=body.tier, kind=body.kind, industry=body.industry,
                               region_code=body.region_code, capacity=body.capacity, services=body.services,
                               timezone=body.timezone, organisation_id=body.organisation_id)
    return await handlers.register_space(uow, principal, data, now)


@router.get("/spaces", response_model=list[Space], tags=["spaces"])
async def list_spaces(session: ReadSessionDep, _principal: CurrentPrincipal, limit: Limit = 50, offset: Offset = 0,
                      tier: Annotated[str | None, Query(max_length=40, pattern=r"^[a-z_]+$")] = None) -> list[Space]:
    query = select(Space).order_by(col(Space.created_at), col(Space.id)).limit(limit).offset(offset)
    if tier is not None:
        query = query.where(Space.tier == tier)
    return list((await session.execute(query)).scalars().all())


async def _space(session: ReadSessionDep, space_id: str) -> Space:
    space = await session.get(Space, space_id)
    if space is None:
        raise HTTPException(404, f"space {space_id} not found")
    return space


def _operator_or_reader(principal: Principal, space: Space) -> None:
    if principal.subject != space.operator_id and not principal.has_any(*READ_OVERRIDE, SERVICE_ROLE):
        raise HTTPException(403, "only the operator of this space, a regulator or an admin may read this")


@router.get("/spaces/{space_id}", response_model=Space, tags=["spaces"])
async def read_space(space_id: ResourceId, session: ReadSessionDep, _principal: CurrentPrincipal) -> Space:
    return await _space(session, space_id)


@router.get("/spaces/{space_id}/metrics", response_model=SpaceMetrics, tags=["residency"])
async def read_metrics(space_id: ResourceId, session: ReadSessionDep, principal: CurrentPrincipal) -> SpaceMetrics:
    _operator_or_reader(principal, await _space(session, space_id))
    metrics = await session.get(SpaceMetrics, space_id)
    assert metrics is not None
    return metrics


# ---------------------------------------------------------------- resources, trainings, plans, subscriptions


class ResourceCreate(Strict):
    kind: Literal["room", "equipment"]
    name: Name
    parent_id: Id | None = None
    timezone: ZoneName | None = None
    min_notice_minutes: Minutes | None = None
    max_notice_minutes: Minutes | None = None
    min_duration_minutes: Annotated[int, Field(ge=1, le=DEFAULT_POLICY.max_duration_limit_minutes)] | None = None
    max_duration_minutes: Annotated[int, Field(ge=1, le=DEFAULT_POLICY.max_duration_limit_minutes)] | None = None
    slot_minutes: Literal[5, 10, 15, 20, 30, 60] | None = None
    requires_approval: bool = False
    credits_per_hour: int = Field(default=0, ge=0, le=100_000)
    check_in_opens_before_minutes: Annotated[int, Field(ge=0, le=24 * 60)] | None = None
    check_in_grace_minutes: Annotated[int, Field(ge=0, le=24 * 60)] | None = None
    required_training_id: Id | None = None


@router.post("/spaces/{space_id}/resources", status_code=status.HTTP_201_CREATED, response_model=BookableResource,
             tags=["resources"])
async def add_resource(space_id: ResourceId, body: ResourceCreate, uow: UnitOfWorkDep, now: Now,
                       principal: Operator) -> BookableResource:
    data = handlers.ResourceInput(**body.model_dump())
    return await handlers.add_resource(uow, principal, space_id, data, now)


@router.get("/spaces/{space_id}/resources", response_model=list[BookableResource], tags=["resources"])
async def list_resources(space_id: ResourceId, session: ReadSessionDep, _principal: CurrentPrincipal,
                         limit: Limit = 100, offset: Offset = 0) -> list[BookableResource]:
    await _space(session, space_id)
    return list((await session.execute(
        select(BookableResource).where(BookableResource.context_id == space_id)
        .order_by(col(BookableResource.created_at), col(BookableResource.id)).limit(limit).offset(offset)
    )).scalars().all())


class TrainingCreate(Strict):
    name: Name
    validity_months: int = Field(ge=1, le=120)
    lapse_after_days: int = Field(ge=1, le=3650)


@router.post("/spaces/{space_id}/trainings", status_code=status.HTTP_201_CREATED, response_model=BookingTraining,
             tags=["trainings"])
async def define_training(space_id: ResourceId, body: TrainingCreate, uow: UnitOfWorkDep, now: Now,
                          principal: Operator) -> BookingTraining:
    return await handlers.define_training(uow, principal, space_id, body.name, body.validity_months,
                                          body.lapse_after_days, now)


class Certification(Strict):
    member_id: Id
    certified_at: Moment | None = Field(default=None, description="when trained; default now")


class TrainingRecordPublic(BaseModel):
    training_id: str
    member_id: str
    certified_at: datetime
    valid_until: datetime
    last_used_at: datetime | None


@router.post("/trainings/{training_id}/certifications", status_code=status.HTTP_201_CREATED,
             response_model=TrainingRecordPublic, tags=["trainings"])
async def certify(training_id: ResourceId, body: Certification, uow: UnitOfWorkDep, now: Now,
                  principal: Operator) -> TrainingRecordPublic:
    record = await handlers.certify_training(uow, principal, training_id, body.member_id, body.certified_at,
                                             now)
    training = await uow.session.get(BookingTraining, training_id)
    assert training is not None
    return _record_public(record, training)


def _record_public(record: TrainingRecord, training: BookingTraining) -> TrainingRecordPublic:
    return TrainingRecordPublic(training_id=record.training_id, member_id=record.member_id,
                                certified_at=record.certified_at, last_used_at=record.last_used_at,
                                valid_until=add_months(record.certified_at, training.validity_months))


class PlanCreate(Strict):
    name: Name
    daily_quota_minutes: int = Field(ge=0, le=24 * 60)
    credits: int = Field(ge=0, le=1_000_000)


@router.post("/spaces/{space_id}/plans", status_code=status.HTTP_201_CREATED, response_model=BookingPlan,
             tags=["subscriptions"])
async def create_plan(
    space_id: ResourceId, body: PlanCreate, uow: UnitOfWorkDep, now: Now, principal: Operator
) -> BookingPlan:
    return await handlers.create_plan(uow, principal, space_id, body.name, body.daily_quota_minutes, body.credits,
                                      now)


class SubscriptionCreate(Strict):
    plan_id: Id
    member_id: Id
    starts_at: Moment
    ends_at: Moment


@router.post("/spaces/{space_id}/subscriptions", status_code=status.HTTP_201_CREATED,
             response_model=BookingSubscription, tags=["subscriptions"])
async def subscribe(space_id: ResourceId, body: SubscriptionCreate, uow: UnitOfWorkDep, now: Now,
                    principal: Operator) -> BookingSubscription:
    return await handlers.subscribe(uow, principal, space_id, body.plan_id, body.member_id, body.starts_at,
                                    body.ends_at, now)


@router.get("/subscriptions/mine", response_model=list[BookingSubscription], tags=["subscriptions"])
async def my_subscriptions(session: ReadSessionDep, principal: CurrentPrincipal, limit: Limit = 50,
                           offset: Offset = 0) -> list[BookingSubscription]:
    return list((await session.execute(
        select(BookingSubscription).where(BookingSubscription.member_id == principal.subject)
        .order_by(col(BookingSubscription.ends_at).desc()).limit(limit).offset(offset))).scalars().all())


@router.get("/trainings/mine", response_model=list[TrainingRecordPublic], tags=["trainings"])
async def my_trainings(session: ReadSessionDep, principal: CurrentPrincipal) -> list[TrainingRecordPublic]:
    rows = (await session.execute(
        select(TrainingRecord, BookingTraining).join(BookingTraining,
                                                     col(BookingTraining.id) == col(TrainingRecord.training_id))
        .where(TrainingRecord.member_id == principal.subject).limit(200))).all()
    return [_record_public(record, training) for record, training in rows]


# ---------------------------------------------------------------- bookings


class BookingCreate(Strict):
    start: Moment = Field(description="RFC 3339 with offset, e.g. 2026-05-04T10:00:00+08:00")
    end: Moment


class RecurringBookingCreate(Strict):
    local_start: WallTime = Field(description="wall time in the resource's zone, without offset")
    duration_minutes: int = Field(ge=1, le=DEFAULT_POLICY.max_duration_limit_minutes)
    every_days: int = Field(default=7, ge=1, le=28)
    count: int = Field(ge=1, le=DEFAULT_POLICY.recurring_max_count)


class BookingPublic(BaseModel):
    id: str
    resource_id: str
    space_id: str
    member_id: str
    state: str
    start: datetime
    end: datetime
    timezone: str
    start_local: str
    end_local: str
    start_shanghai: str
    end_shanghai: str
    credits_charged: int
    recurrence_id: str | None
    reason: str | None
    checked_in_at: datetime | None

    @classmethod
    def of(cls, booking: Booking, timezone: str) -> BookingPublic:
        zone = zone_named(timezone)
        return cls(id=booking.id, resource_id=booking.resource_id, space_id=booking.context_id,
                   member_id=booking.member_id, state=booking.state, start=booking.start_at, end=booking.end_at,
                   timezone=timezone, start_local=booking.start_at.astimezone(zone).isoformat(),
                   end_local=booking.end_at.astimezone(zone).isoformat(),
                   start_shanghai=booking.start_at.astimezone(PLATFORM_ZONE).isoformat(),
                   end_shanghai=booking.end_at.astimezone(PLATFORM_ZONE).isoformat(),
                   credits_charged=booking.credits_charged, recurrence_id=booking.recurrence_id,
                   reason=booking.reason, checked_in_at=booking.checked_in_at)


async def _zones(session: ReadSessionDep, bookings: list[Booking]) -> dict[str, str]:
    ids = sorted({b.resource_id for b in bookings})
    if not ids:
        return {}
    rows = (await session.execute(select(BookableResource.id, BookableResource.timezone)
                                  .where(col(BookableResource.id).in_(ids)))).all()
    return {resource_id: zone for resource_id, zone in rows}


async def _public(session: ReadSessionDep, bookings: list[Booking]) -> list[BookingPublic]:
    zones = await _zones(session, bookings)
    return [BookingPublic.of(b, zones[b.resource_id]) for b in bookings]


@router.post("/resources/{resource_id}/bookings", status_code=status.HTTP_201_CREATED, response_model=BookingPublic,
             tags=["bookings"])
async def book(
    resource_id: ResourceId, body: BookingCreate, uow: UnitOfWorkDep, now: Now, principal: Booker
) -> BookingPublic:
    bookings = await handlers.book(uow, principal, resource_id, [Interval(body.start, body.end)], now)
    resource = await uow.session.get(BookableResource, resource_id)
    assert resource is not None
    return BookingPublic.of(bookings[0], resource.timezone)


@router.post("/resources/{resource_id}/bookings/recurring", status_code=status.HTTP_201_CREATED,
             response_model=list[BookingPublic], tags=["bookings"])
async def book_recurring(resource_id: ResourceId, body: RecurringBookingCreate, uow: UnitOfWorkDep, now: Now,
                         principal: Booker) -> list[BookingPublic]:
    """A series at the same local wall time in the resource's zone (kept across DST changes); all or none."""
    if body.local_start.tzinfo is not None:
        raise DomainError(422, "local_start is a wall time in the resource's zone, without offset",
                          field="local_start")
    resource = await uow.session.get(BookableResource, resource_id)
    if resource is None:
        raise HTTPException(404, f"resource {resource_id} not found")
    intervals = recurring_series(body.local_start, zone_named(resource.timezone),
                                 timedelta(minutes=body.duration_minutes), body.every_days, body.count)
    bookings = await handlers.book(uow, principal, resource_id, intervals, now, recurring=True)
    return [BookingPublic.of(b, resource.timezone) for b in bookings]


@router.get("/bookings/mine", response_model=list[BookingPublic], tags=["bookings"])
async def my_bookings(session: ReadSessionDep, principal: CurrentPrincipal, limit: Limit = 50,
                      offset: Offset = 0) -> list[BookingPublic]:
    """A member sees only their own bookings."""
    rows = (await session.execute(
        select(Booking).where(Booking.member_id == principal.subject)
        .order_by(col(Booking.start_at), col(Booking.id)).limit(limit).offset(offset))).scalars().all()
    return await _public(session, list(rows))


class BookingInQueue(BookingPublic):
    fast_tracked: bool  # pending approval, and the member is red-listed (联合激励)


@router.get("/spaces/{space_id}/bookings", response_model=list[BookingInQueue], tags=["bookings"])
async def space_bookings(space_id: ResourceId, session: ReadSessionDep, principal: CurrentPrincipal,
                         limit: Limit = 50, offset: Offset = 0,
                         state: Annotated[str | None, Query(max_length=20, pattern=r"^[a-z_]+$")] = None,
                         ) -> list[BookingInQueue]:
    """Bookings pending approval whose member is red-listed with fast-track review first (联合激励), then by start."""
    _operator_or_reader(principal, await _space(session, space_id))
    flag = fast_track(col(Booking.member_id), awaiting=col(Booking.state) == BookingState.PENDING.value)
    query = (select(Booking, flag).where(Booking.context_id == space_id)
             .order_by(fast_track_first(flag), col(Booking.start_at), col(Booking.id)).limit(limit).offset(offset))
    if state is not None:
        query = query.where(Booking.state == state)
    rows = (await session.execute(query)).all()
    zones = await _zones(session, [booking for booking, _ in rows])
    return [BookingInQueue(**BookingPublic.of(booking, zones[booking.resource_id]).model_dump(),
                           fast_tracked=bool(fast)) for booking, fast in rows]


@router.get("/bookings/{booking_id}", response_model=BookingPublic, tags=["bookings"])
async def read_booking(booking_id: ResourceId, session: ReadSessionDep, principal: CurrentPrincipal) -> BookingPublic:
    booking = await session.get(Booking, booking_id)
    if booking is None:
        raise HTTPException(404, f"booking {booking_id} not found")
    if principal.subject != booking.member_id:
        _operator_or_reader(principal, await _space(session, booking.context_id))
    return (await _public(session, [booking]))[0]


class Rejection(Strict):
    reason: Annotated[PlainText, Field(min_length=1, max_length=500)]


async def _booking_out(uow: UnitOfWorkDep, booking: Booking) -> BookingPublic:
    resource = await uow.session.get(BookableResource, booking.resource_id)
    assert resource is not None
    return BookingPublic.of(booking, resource.timezone)


@router.post("/bookings/{booking_id}/approve", response_model=BookingPublic, tags=["bookings"])
async def approve(booking_id: ResourceId, uow: UnitOfWorkDep, now: Now, principal: Operator) -> BookingPublic:
    return await _booking_out(uow, await handlers.decide_booking(uow, principal, booking_id, True, "", now))


@router.post("/bookings/{booking_id}/reject", response_model=BookingPublic, tags=["bookings"])
async def reject(
    booking_id: ResourceId, body: Rejection, uow: UnitOfWorkDep, now: Now, principal: Operator
) -> BookingPublic:
    booking = await handlers.decide_booking(uow, principal, booking_id, False, body.reason, now)
    return await _booking_out(uow, booking)


@router.post("/bookings/{booking_id}/cancel", response_model=BookingPublic, tags=["bookings"])
async def cancel(booking_id: ResourceId, uow: UnitOfWorkDep, now: Now, principal: CurrentPrincipal) -> BookingPublic:
    return await _booking_out(uow, await handlers.cancel_booking(uow, principal, booking_id, now))


@router.post("/bookings/{booking_id}/check-in", response_model=BookingPublic, tags=["bookings"])
async def check_in(booking_id: ResourceId, uow: UnitOfWorkDep, now: Now, principal: Booker) -> BookingPublic:
    return await _booking_out(uow, await handlers.check_in_booking(uow, principal, booking_id, now))


@router.post("/bookings/{booking_id}/no-show", response_model=BookingPublic, tags=["bookings"])
async def mark_no_show(booking_id: ResourceId, uow: UnitOfWorkDep, now: Now,
                       principal: Annotated[Principal, require_roles(*OPERATOR_ROLES, SERVICE_ROLE)]) -> BookingPublic:
    return await _booking_out(uow, await handlers.record_no_show(uow, principal, booking_id, now))


# ---------------------------------------------------------------- residency


class ApplicationCreate(Strict):
    startup_name: Name
    summary: Annotated[PlainText, Field(min_length=1, max_length=4000)]
    organisation_id: Id | None = None


@router.post("/spaces/{space_id}/applications", status_code=status.HTTP_201_CREATED, response_model=Application,
             tags=["residency"])
async def apply(space_id: ResourceId, body: ApplicationCreate, uow: UnitOfWorkDep, now: Now,
                principal: Applicant) -> Application:
    return await handlers.submit_application(uow, principal, space_id, body.startup_name, body.summary,
                                             body.organisation_id, now)


@router.get("/applications/{application_id}", response_model=Application, tags=["residency"])
async def read_application(application_id: ResourceId, session: ReadSessionDep,
                           principal: CurrentPrincipal) -> Application:
    application = await session.get(Application, application_id)
    if application is None:
        raise HTTPException(404, f"application {application_id} not found")
    if principal.subject != application.applicant_id:
        _operator_or_reader(principal, await _space(session, application.space_id))
    return application


class ApplicationInQueue(ApplicationFields):
    fast_tracked: bool  # under review, and the applicant or its organisation is red-listed (联合激励)


@router.get("/spaces/{space_id}/applications", response_model=list[ApplicationInQueue], tags=["residency"])
async def space_applications(space_id: ResourceId, session: ReadSessionDep, principal: CurrentPrincipal,
                             limit: Limit = 50, offset: Offset = 0) -> list[ApplicationInQueue]:
    """The space's review queue: applications under review whose applicant is red-listed with fast-track review
    first (from the local listing replica), then everything oldest first."""
    _operator_or_reader(principal, await _space(session, space_id))
    flag = fast_track(col(Application.applicant_id), col(Application.organisation_id),
                      awaiting=col(Application.state).in_([s.value for s in UNDER_REVIEW]))
    rows = await session.execute(
        select(Application, flag).where(Application.space_id == space_id)
        .order_by(fast_track_first(flag), col(Application.submitted_at), col(Application.id))
        .limit(limit).offset(offset))
    return [ApplicationInQueue(**application.model_dump(), fast_tracked=bool(fast)) for application, fast in rows]


class Transition(Strict):
    to: Literal["screening", "interview", "accepted", "rejected", "resident", "graduated", "exited"]
    cohort_id: Id | None = None
    reason: Annotated[PlainText, Field(min_length=1, max_length=500)] | None = None


@router.post("/applications/{application_id}/transitions", response_model=Application, tags=["residency"])
async def move(
    application_id: ResourceId, body: Transition, uow: UnitOfWorkDep, now: Now, principal: Operator
) -> Application:
    return await handlers.move_application(uow, principal, application_id, body.to, body.cohort_id, body.reason,
                                           now)


class Outcome(Strict):
    jobs_created: int = Field(ge=0, le=1_000_000)
    funding_raised_fen: int = Field(ge=0, le=10**15)


@router.post("/applications/{application_id}/outcomes", response_model=Application, tags=["residency"])
async def report_outcome(application_id: ResourceId, body: Outcome, uow: UnitOfWorkDep, now: Now,
                         principal: CurrentPrincipal) -> Application:
    return await handlers.report_outcome(uow, principal, application_id, body.jobs_created, body.funding_raised_fen,
                                         now)


class CohortCreate(Strict):
    name: Name
    starts_at: Moment
    capacity: int = Field(ge=1, le=10_000)


@router.post("/spaces/{space_id}/cohorts", status_code=status.HTTP_201_CREATED, response_model=Cohort,
             tags=["residency"])
async def create_cohort(
    space_id: ResourceId, body: CohortCreate, uow: UnitOfWorkDep, now: Now, principal: Operator
) -> Cohort:
    return await handlers.create_cohort(uow, principal, space_id, body.name, body.starts_at, body.capacity, now)


class WorkspaceCreate(Strict):
    kind: Literal["desk", "office"]
    label: Annotated[PlainText, Field(min_length=1, max_length=100)]


@router.post("/spaces/{space_id}/workspaces", status_code=status.HTTP_201_CREATED, response_model=Workspace,
             tags=["residency"])
async def add_workspace(space_id: ResourceId, body: WorkspaceCreate, uow: UnitOfWorkDep, now: Now,
                        principal: Operator) -> Workspace:
    return await handlers.add_workspace(uow, principal, space_id, body.kind, body.label, now)


@router.get("/spaces/{space_id}/workspaces", response_model=list[Workspace], tags=["residency"])
async def list_workspaces(space_id: ResourceId, session: ReadSessionDep, principal: CurrentPrincipal,
                          limit: Limit = 100, offset: Offset = 0) -> list[Workspace]:
    _operator_or_reader(principal, await _space(session, space_id))
    return list((await session.execute(
        select(Workspace).where(Workspace.space_id == space_id).order_by(col(Workspace.label))
        .limit(limit).offset(offset))).scalars().all())


class Allocation(Strict):
    application_id: Id


@router.put("/workspaces/{workspace_id}/allocation", response_model=Workspace, tags=["residency"])
async def allocate(
    workspace_id: ResourceId, body: Allocation, uow: UnitOfWorkDep, now: Now, principal: Operator
) -> Workspace:
    return await handlers.allocate_workspace(uow, principal, workspace_id, body.application_id, now)


@router.delete("/workspaces/{workspace_id}/allocation", response_model=Workspace, tags=["residency"])
async def release(workspace_id: ResourceId, uow: UnitOfWorkDep, now: Now, principal: Operator) -> Workspace:
    return await handlers.release_workspace(uow, principal, workspace_id, now)


# ---------------------------------------------------------------- activities


class ActivityCreate(Strict):
    kind: Literal["roadshow", "startup_cafe", "training", "other"]
    title: Name
    starts_at: Moment
    ends_at: Moment
    capacity: int = Field(ge=1, le=100_000)
    training_id: Id | None = None


@router.post("/spaces/{space_id}/activities", status_code=status.HTTP_201_CREATED, response_model=Activity,
             tags=["activities"])
async def schedule_activity(space_id: ResourceId, body: ActivityCreate, uow: UnitOfWorkDep, now: Now,
                            principal: Operator) -> Activity:
    if body.kind == "training" and body.training_id is None:
        raise DomainError(422, "a training session names the training it certifies", field="training_id")
    return await handlers.schedule_activity(uow, principal, space_id, body.kind, body.title, body.starts_at,
                                            body.ends_at, body.capacity, body.training_id, now)


@router.get("/spaces/{space_id}/activities", response_model=list[Activity], tags=["activities"])
async def list_activities(space_id: ResourceId, session: ReadSessionDep, _principal: CurrentPrincipal,
                          limit: Limit = 50, offset: Offset = 0) -> list[Activity]:
    await _space(session, space_id)
    return list((await session.execute(
        select(Activity).where(Activity.space_id == space_id).order_by(col(Activity.starts_at), col(Activity.id))
        .limit(limit).offset(offset))).scalars().all())


@router.post("/activities/{activity_id}/registrations", status_code=status.HTTP_201_CREATED,
             response_model=Activity, tags=["activities"])
async def register(activity_id: ResourceId, uow: UnitOfWorkDep, now: Now,
                   principal: Annotated[Principal, require_roles(*sorted(ROLES))]) -> Activity:
    """People (any platform role) register; machine principals do not."""
    if principal.kind != "person":
        raise HTTPException(403, "people register for activities")
    return await handlers.register_for_activity(uow, principal, activity_id, now)


class Attendance(Strict):
    member_id: Id


@router.post("/activities/{activity_id}/attendance", response_model=TrainingRecordPublic, tags=["activities"])
async def attend(activity_id: ResourceId, body: Attendance, uow: UnitOfWorkDep, now: Now,
                 principal: Operator) -> TrainingRecordPublic:
    record = await handlers.record_attendance(uow, principal, activity_id, body.member_id, now)
    training = await uow.session.get(BookingTraining, record.training_id)
    assert training is not None
    return _record_public(record, training)
