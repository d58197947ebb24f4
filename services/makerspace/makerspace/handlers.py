"""Maker-space commands: each one unit of work (one transaction), state and outbox events together.

Every command takes `now` from its caller (the route reads the clock once), so tests can drive time.
Ownership is checked here against rows read in the same transaction: an operator manages only the
spaces they operate (admins may act for them).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import update
from sqlalchemy.exc import IntegrityError
from sqlmodel import col, select

from makerspace import contracts as ev
from makerspace.domain.policy import DEFAULT_POLICY
from makerspace.domain.residency import HOLDS_WORKSPACE, ApplicationState, step
from makerspace.models import (
    Activity,
    ActivityRegistration,
    Application,
    Cohort,
    Space,
    SpaceMetrics,
    Workspace,
)
from shared.auth import Principal
from shared.booking import store
from shared.booking.models import (
    BookableResource,
    Booking,
    BookingPlan,
    BookingSubscription,
    BookingTraining,
    TrainingRecord,
)
from shared.booking.rules import (
    BookingRefused,
    BookingState,
    Interval,
    add_months,
    check_in,
    no_show,
    transition,
    zone_named,
)
from shared.ids import new_id
from shared.listings import ensure_not_blacklisted, fast_tracked
from shared.problems import DomainError
from shared.supervision import ensure_not_suspended
from shared.uow import UnitOfWork

MANAGER_OVERRIDE = ("admin",)
READ_OVERRIDE = ("admin", "regulator")


# ---------------------------------------------------------------- ownership


def authorise_operator(principal: Principal, space: Space) -> None:
    if principal.subject != space.operator_id and not principal.has_any(*MANAGER_OVERRIDE):
        raise DomainError(403, "only the operator of this space may do this", field="space_id")


async def space_of(uow: UnitOfWork, space_id: str) -> Space:
    space = await uow.session.get(Space, space_id)
    if space is None:
        raise DomainError(404, f"space {space_id} not found", field="space_id")
    return space


async def operated_space(uow: UnitOfWork, space_id: str, principal: Principal) -> Space:
    space = await space_of(uow, space_id)
    authorise_operator(principal, space)
    return space


async def ensure_may_book(uow: UnitOfWork, member_id: str, space: Space) -> None:
    """Joint punishment (联合奖惩): a black-listed subject may not book (from the local listing replica)."""
    await ensure_not_blacklisted(uow.session, member_id, "booking")


async def obeys_orders(uow: UnitOfWork, space_id: str, *subjects: str | None) -> None:
    """Supervision orders: a suspended space takes no bookings or applications; a suspended subject makes none."""
    await ensure_not_suspended(uow.session, "space", space_id)
    for subject in subjects:
        await ensure_not_suspended(uow.session, "subject", subject)


async def _commit_unique(uow: UnitOfWork, message: str, field: str) -> None:
    try:
        await uow.commit()
    except IntegrityError as exc:
        raise DomainError(409, message, field=field) from exc


async def _flush_unique(uow: UnitOfWork, message: str, field: str) -> None:
    try:
        await uow.session.flush()
    except IntegrityError as exc:
        raise DomainError(409, message, field=field) from exc


# ---------------------------------------------------------------- spaces, resources, trainings, plans


@dataclass(frozen=True)
class SpaceInput:
    name: str
    tier: str
    kind: str
    industry: str | None
    region_code: str
    capacity: int
    services: list[str]
    timezone: str
    organisation_id: str | None


async def register_space(uow: UnitOfWork, principal: Principal, data: SpaceInput, now: datetime) -> Space:
    zone_named(data.timezone)
    if data.kind == "industry" and not data.industry:
        raise DomainError(422, "an industry-specific space (一行业一众创空间) names its industry", field="industry")
    space = Space(id=new_id(), name=data.name, tier=data.tier, kind=data.kind, industry=data.industry,
                  operator_id=principal.subject, organisation_id=data.organisation_id, region_code=data.region_code,
                  capacity=data.capacity, services="\n".join(data.services), timezone=data.timezone, created_at=now)
    uow.session.add(space)
    uow.session.add(SpaceMetrics(space_id=space.id, updated_at=now))
    uow.publish(ev.SpaceRegistered(space_id=space.id, name=space.name, tier=space.tier, kind=space.kind,
                                   industry=space.industry, region_code=space.region_code, capacity=space.capacity,
                                   operator_id=space.operator_id, timezone=space.timezone),
                subject=space.id, actor=principal.subject)
    await uow.commit()
    return space


@dataclass(frozen=True)
class ResourceInput:
    kind: str
    name: str
    parent_id: str | None
    timezone: str | None
    min_notice_minutes: int | None
    max_notice_minutes: int | None
    min_duration_minutes: int | None
    max_duration_minutes: int | None
    slot_minutes: int | None
    requires_approval: bool
    credits_per_hour: int
    check_in_opens_before_minutes: int | None
    check_in_grace_minutes: int | None
    required_training_id: str | None


async def add_resource(uow: UnitOfWork, principal: Principal, space_id: str, data: ResourceInput,
                       now: datetime) -> BookableResource:
    space = await operated_space(uow, space_id, principal)
    policy = DEFAULT_POLICY
    if data.parent_id is not None:
        parent = await uow.session.get(BookableResource, data.parent_id)
        if parent is None or parent.context_id != space.id:
            raise DomainError(422, "the parent room is not a room of this space", field="parent_id")
        if parent.kind != "room":
            raise DomainError(422, "only a room can contain rooms or equipment", field="parent_id")
    if data.required_training_id is not None:
        training = await uow.session.get(BookingTraining, data.required_training_id)
        if training is None or training.context_id != space.id:
            raise DomainError(422, "the training is not one of this space's trainings", field="required_training_id")

    def pick(value: int | None, default: int) -> int:
        return default if value is None else value

    resource = BookableResource(
        id=new_id(), context_id=space.id, parent_id=data.parent_id, kind=data.kind, name=data.name,
        timezone=data.timezone or space.timezone,
        min_notice_minutes=pick(data.min_notice_minutes, policy.min_notice_minutes),
        max_notice_minutes=pick(data.max_notice_minutes, policy.max_notice_minutes),
        min_duration_minutes=pick(data.min_duration_minutes, policy.min_duration_minutes),
        max_duration_minutes=pick(data.max_duration_minutes, policy.max_duration_minutes),
        slot_minutes=pick(data.slot_minutes, policy.slot_minutes), requires_approval=data.requires_approval,
        credits_per_hour=data.credits_per_hour,
        check_in_opens_before_minutes=pick(data.check_in_opens_before_minutes, policy.check_in_opens_before_minutes),
        check_in_grace_minutes=pick(data.check_in_grace_minutes, policy.check_in_grace_minutes),
        required_training_id=data.required_training_id, created_at=now)
    zone_named(resource.timezone)
    if resource.min_notice_minutes > resource.max_notice_minutes:
        raise DomainError(422, "min_notice_minutes is above max_notice_minutes", field="min_notice_minutes")
    if resource.min_duration_minutes > resource.max_duration_minutes:
        raise DomainError(422, "min_duration_minutes is above max_duration_minutes", field="min_duration_minutes")
    if resource.max_notice_minutes > policy.max_notice_limit_minutes:
        raise DomainError(422, f"at most {policy.max_notice_limit_minutes} minutes", field="max_notice_minutes")
    if resource.max_duration_minutes > policy.max_duration_limit_minutes:
        raise DomainError(422, f"at most {policy.max_duration_limit_minutes} minutes", field="max_duration_minutes")
    uow.session.add(resource)
    uow.publish(ev.ResourceAdded(resource_id=resource.id, space_id=space.id, kind=resource.kind, name=resource.name,
                                 parent_id=resource.parent_id, timezone=resource.timezone,
                                 requires_approval=resource.requires_approval,
                                 required_training_id=resource.required_training_id),
                subject=resource.id, actor=principal.subject, partition_key=space.id)
    await uow.commit()
    return resource


async def define_training(uow: UnitOfWork, principal: Principal, space_id: str, name: str, validity_months: int,
                          lapse_after_days: int, now: datetime) -> BookingTraining:
    space = await operated_space(uow, space_id, principal)
    training = BookingTraining(id=new_id(), context_id=space.id, name=name, validity_months=validity_months,
                               lapse_after_days=lapse_after_days, created_at=now)
    uow.session.add(training)
    uow.publish(ev.TrainingDefined(training_id=training.id, space_id=space.id, name=name,
                                   validity_months=validity_months, lapse_after_days=lapse_after_days),
                subject=training.id, actor=principal.subject, partition_key=space.id)
    await uow.commit()
    return training


async def _certify(uow: UnitOfWork, training: BookingTraining, member_id: str, certified_at: datetime,
                   actor: str) -> TrainingRecord:
    record = await uow.session.get(TrainingRecord, (training.id, member_id), with_for_update=True)
    renewal = record is not None
    if record is None:
        record = TrainingRecord(training_id=training.id, member_id=member_id, certified_at=certified_at,
                                certified_by=actor)
        uow.session.add(record)
    else:
        record.certified_at, record.certified_by, record.last_used_at = certified_at, actor, None
    uow.publish(ev.TrainingCertified(training_id=training.id, space_id=training.context_id, member_id=member_id,
                                     certified_at=certified_at,
                                     valid_until=add_months(certified_at, training.validity_months),
                                     renewal=renewal),
                subject=training.id, actor=actor, partition_key=member_id)
    return record


async def certify_training(uow: UnitOfWork, principal: Principal, training_id: str, member_id: str,
                           certified_at: datetime | None, now: datetime) -> TrainingRecord:
    """Record (or renew) a member's training; `certified_at` may record a training held in the past."""
    training = await uow.session.get(BookingTraining, training_id)
    if training is None:
        raise DomainError(404, f"training {training_id} not found", field="training_id")
    await operated_space(uow, training.context_id, principal)
    when = certified_at or now
    if when > now:
        raise DomainError(422, "a training cannot be certified in the future", field="certified_at")
    record = await _certify(uow, training, member_id, when, principal.subject)
    await uow.commit()
    return record


async def create_plan(uow: UnitOfWork, principal: Principal, space_id: str, name: str, daily_quota_minutes: int,
                      credits: int, now: datetime) -> BookingPlan:
    space = await operated_space(uow, space_id, principal)
    plan = BookingPlan(id=new_id(), context_id=space.id, name=name, daily_quota_minutes=daily_quota_minutes,
                       credits=credits, created_at=now)
    uow.session.add(plan)
    uow.publish(ev.PlanCreated(plan_id=plan.id, space_id=space.id, name=name, daily_quota_minutes=daily_quota_minutes,
                               credits=credits), subject=plan.id, actor=principal.subject, partition_key=space.id)
    await uow.commit()
    return plan


async def subscribe(uow: UnitOfWork, principal: Principal, space_id: str, plan_id: str, member_id: str,
                    starts_at: datetime, ends_at: datetime, now: datetime) -> BookingSubscription:
    space = await operated_space(uow, space_id, principal)
    plan = await uow.session.get(BookingPlan, plan_id)
    if plan is None or plan.context_id != space.id:
        raise DomainError(422, "the plan is not one of this space's plans", field="plan_id")
    if ends_at <= starts_at:
        raise DomainError(422, "the subscription must end after it starts", field="ends_at")
    if ends_at <= now:
        raise DomainError(422, "the subscription would already be over", field="ends_at")
    subscription = BookingSubscription(id=new_id(), context_id=space.id, plan_id=plan.id, member_id=member_id,
                                       starts_at=starts_at, ends_at=ends_at, credits_remaining=plan.credits,
                                       created_at=now)
    uow.session.add(subscription)
    uow.publish(ev.SubscriptionStarted(subscription_id=subscription.id, space_id=space.id, plan_id=plan.id,
                                       member_id=member_id, starts_at=starts_at, ends_at=ends_at,
                                       credits=plan.credits),
                subject=subscription.id, actor=principal.subject, partition_key=member_id)
    await uow.commit()
    return subscription


# ---------------------------------------------------------------- bookings


def _facts(booking: Booking) -> dict[str, object]:
    return dict(booking_id=booking.id, resource_id=booking.resource_id, space_id=booking.context_id,
                member_id=booking.member_id, start=booking.start_at, end=booking.end_at, state=booking.state,
                policy_version=DEFAULT_POLICY.version)


async def book(uow: UnitOfWork, principal: Principal, resource_id: str, intervals: list[Interval], now: datetime,
               recurring: bool = False) -> list[Booking]:
    """Every booking path comes here: the subject check, every rule, and the slot taken atomically."""
    resource = await uow.session.get(BookableResource, resource_id)
    if resource is None:
        raise DomainError(404, f"resource {resource_id} not found", field="resource_id")
    space = await space_of(uow, resource.context_id)
    await ensure_may_book(uow, principal.subject, space)
    await obeys_orders(uow, space.id, principal.subject)
    placed = await store.place_bookings(uow.session, resource_id=resource_id, member_id=principal.subject,
                                        intervals=intervals, now=now,
                                        recurrence_id=new_id() if recurring else None)
    member_fast_tracked = await fast_tracked(uow.session, principal.subject)
    for booking in placed.bookings:
        uow.publish(ev.BookingPlaced(**_facts(booking), credits=booking.credits_charged,
                                     recurrence_id=booking.recurrence_id,
                                     fast_tracked=member_fast_tracked and booking.state == BookingState.PENDING),
                    subject=booking.id, actor=principal.subject, partition_key=booking.member_id)
    await uow.commit()
    return placed.bookings


async def _booking_and_space(uow: UnitOfWork, booking_id: str) -> tuple[Booking, BookableResource, Space]:
    booking = await store.load_for_update(uow.session, booking_id)
    resource = await uow.session.get(BookableResource, booking.resource_id)
    assert resource is not None
    return booking, resource, await space_of(uow, booking.context_id)


async def decide_booking(uow: UnitOfWork, principal: Principal, booking_id: str, approve: bool, reason: str,
                         now: datetime) -> Booking:
    booking, _resource, space = await _booking_and_space(uow, booking_id)
    authorise_operator(principal, space)
    target = BookingState.CONFIRMED if approve else BookingState.REJECTED
    booking.state = transition(booking.state, target).value
    booking.decided_at, booking.decided_by = now, principal.subject
    if approve:
        event: ev._BookingFacts = ev.BookingApproved(**_facts(booking))
    else:
        booking.reason = reason
        await store.refund(uow.session, booking)
        event = ev.BookingRejected(**_facts(booking), reason=reason)
    uow.publish(event, subject=booking.id, actor=principal.subject, partition_key=booking.member_id)
    await uow.commit()
    return booking


async def cancel_booking(uow: UnitOfWork, principal: Principal, booking_id: str, now: datetime) -> Booking:
    booking, _resource, space = await _booking_and_space(uow, booking_id)
    if principal.subject != booking.member_id:
        authorise_operator(principal, space)
    target = transition(booking.state, BookingState.CANCELLED)
    if booking.start_at <= now and principal.subject == booking.member_id:
        raise BookingRefused(409, "started", f"the booking started at {booking.start_at.isoformat()}; it can no "
                             "longer be cancelled by the member", field="state", current_state=booking.state)
    booking.state = target.value
    booking.decided_at, booking.decided_by = now, principal.subject
    refunded = booking.credits_charged if booking.start_at > now else 0
    if refunded:
        await store.refund(uow.session, booking)
    uow.publish(ev.BookingCancelled(**_facts(booking), credits_refunded=refunded),
                subject=booking.id, actor=principal.subject, partition_key=booking.member_id)
    await uow.commit()
    return booking


async def check_in_booking(uow: UnitOfWork, principal: Principal, booking_id: str, now: datetime) -> Booking:
    booking, resource, _space = await _booking_and_space(uow, booking_id)
    if principal.subject != booking.member_id:
        raise DomainError(403, "only the member who booked can check in", field="booking_id")
    booking.state = check_in(booking.state, booking.start_at, resource.rules(), now).value
    booking.checked_in_at = now
    await store.record_use(uow.session, booking, now)  # using a resource keeps its trainings from lapsing
    uow.publish(ev.BookingCheckedIn(**_facts(booking)),
                subject=booking.id, actor=principal.subject, partition_key=booking.member_id)
    await uow.commit()
    return booking


async def record_no_show(uow: UnitOfWork, principal: Principal, booking_id: str, now: datetime) -> Booking:
    """The operator (or the sweeper, as the service) marks a confirmed booking not checked in as a no-show;
    the event carries the policy's penalty for the credit service."""
    booking, resource, space = await _booking_and_space(uow, booking_id)
    if not principal.has_any("service"):
        authorise_operator(principal, space)
    booking.state = no_show(booking.state, booking.start_at, resource.rules(), now).value
    booking.decided_at, booking.decided_by = now, principal.subject
    uow.publish(ev.NoShowRecorded(**_facts(booking),
                                  penalty_points=DEFAULT_POLICY.no_show_penalty_points),
                subject=booking.id, actor=principal.subject, partition_key=booking.member_id)
    await uow.commit()
    return booking


async def cancel_unapproved(uow: UnitOfWork, principal: Principal, booking_id: str, now: datetime) -> Booking:
    """The sweeper (as the service) cancels a booking still pending approval once its start has passed: the
    operator never decided it, so the member gets every credit back and the slot is free again."""
    booking = await store.load_for_update(uow.session, booking_id)
    if booking.state != BookingState.PENDING or booking.start_at > now:
        raise BookingRefused(409, "illegal_transition", f"the booking is {booking.state!r} and starts "
                             f"{booking.start_at.isoformat()}; only a pending one whose start has passed is swept",
                             field="state", current_state=booking.state)
    booking.state = transition(booking.state, BookingState.CANCELLED).value
    booking.decided_at, booking.decided_by = now, principal.subject
    booking.reason = "not approved before its start"
    await store.refund(uow.session, booking)
    uow.publish(ev.BookingCancelled(**_facts(booking), credits_refunded=booking.credits_charged),
                subject=booking.id, actor=principal.subject, partition_key=booking.member_id)
    await uow.commit()
    return booking


# ---------------------------------------------------------------- residency


async def submit_application(uow: UnitOfWork, principal: Principal, space_id: str, startup_name: str, summary: str,
                             organisation_id: str | None, now: datetime) -> Application:
    space = await space_of(uow, space_id)
    await obeys_orders(uow, space.id, principal.subject, organisation_id)
    for applicant in dict.fromkeys(filter(None, (principal.subject, organisation_id))):
        await ensure_not_blacklisted(uow.session, applicant, "applying for residency")
    application = Application(id=new_id(), space_id=space.id, applicant_id=principal.subject,
                              organisation_id=organisation_id, startup_name=startup_name, summary=summary,
                              state=ApplicationState.SUBMITTED.value, submitted_at=now, updated_at=now)
    uow.session.add(application)
    _publish_step(uow, ev.ApplicationSubmitted, application, None, principal.subject,
                  fast_tracked=await fast_tracked(uow.session, application.applicant_id, organisation_id))
    await uow.commit()
    return application


def _publish_step(uow: UnitOfWork, kind: type[ev.ApplicationStep], application: Application,
                  from_state: str | None, actor: str, reason: str | None = None, **extra: bool) -> None:
    uow.publish(kind(application_id=application.id, space_id=application.space_id,
                     applicant_id=application.applicant_id, organisation_id=application.organisation_id,
                     startup_name=application.startup_name, from_state=from_state, to_state=application.state,
                     cohort_id=application.cohort_id, reason=reason, **extra),
                subject=application.id, actor=actor,
                partition_key=application.organisation_id or application.applicant_id)


async def _application(uow: UnitOfWork, application_id: str) -> Application:
    application = (await uow.session.execute(
        select(Application).where(Application.id == application_id).with_for_update())).scalars().first()
    if application is None:
        raise DomainError(404, f"application {application_id} not found", field="application_id")
    return application


async def move_application(uow: UnitOfWork, principal: Principal, application_id: str, to: str,
                           cohort_id: str | None, reason: str | None, now: datetime) -> Application:
    application = await _application(uow, application_id)
    space = await operated_space(uow, application.space_id, principal)
    before = application.state
    target = step(before, ApplicationState(to))
    if target is ApplicationState.ACCEPTED:
        if cohort_id is None:
            raise DomainError(422, "accepting an application names the cohort", field="cohort_id")
        cohort = await uow.session.get(Cohort, cohort_id)
        if cohort is None or cohort.space_id != space.id:
            raise DomainError(422, "the cohort is not one of this space's cohorts", field="cohort_id")
        seat = await uow.session.execute(
            update(Cohort).where(col(Cohort.id) == cohort.id, col(Cohort.admitted) < col(Cohort.capacity))
            .values(admitted=Cohort.admitted + 1).execution_options(synchronize_session=False))
        if seat.rowcount != 1:  # type: ignore[attr-defined]
            raise DomainError(409, f"the cohort {cohort.name!r} is full ({cohort.capacity})", field="cohort_id")
        application.cohort_id = cohort.id
    elif target is ApplicationState.REJECTED and not reason:
        raise DomainError(422, "a rejection gives its reason", field="reason")
    application.state = target.value
    application.updated_at = now
    application.last_reason = reason
    _publish_step(uow, ev.STEP_EVENTS[target.value], application, before, principal.subject, reason)

    if target in (ApplicationState.GRADUATED, ApplicationState.EXITED):
        await _release_workspace_of(uow, application, target.value, principal.subject)
    metrics_change = {
        ApplicationState.RESIDENT: {"residents": 1},
        ApplicationState.GRADUATED: {"residents": -1, "graduations": 1},
        ApplicationState.EXITED: {"residents": -1, "exits": 1} if before == ApplicationState.RESIDENT
        else {"exits": 1},
    }.get(target)
    if metrics_change:
        await _bump_metrics(uow, space, metrics_change, f"application.{target.value}", principal.subject, now)
    await uow.commit()
    return application


async def _release_workspace_of(uow: UnitOfWork, application: Application, reason: str, actor: str) -> None:
    workspace = (await uow.session.execute(
        select(Workspace).where(Workspace.application_id == application.id))).scalars().first()
    if workspace is None:
        return
    workspace.application_id, workspace.allocated_at = None, None
    uow.publish(ev.WorkspaceReleased(workspace_id=workspace.id, space_id=workspace.space_id,
                                     application_id=application.id, reason=reason),
                subject=workspace.id, actor=actor, partition_key=workspace.space_id)


async def _bump_metrics(uow: UnitOfWork, space: Space, change: dict[str, int], cause: str, actor: str,
                        now: datetime) -> None:
    values = {name: getattr(SpaceMetrics, name) + amount for name, amount in change.items()}
    await uow.session.execute(update(SpaceMetrics).where(col(SpaceMetrics.space_id) == space.id)
                              .values(**values, updated_at=now).execution_options(synchronize_session=False))
    metrics = (await uow.session.execute(
        select(SpaceMetrics).where(SpaceMetrics.space_id == space.id)
        .execution_options(populate_existing=True))).scalars().one()
    uow.publish(ev.MetricsUpdated(space_id=space.id, region_code=space.region_code, tier=space.tier,
                                  residents=metrics.residents, graduations=metrics.graduations, exits=metrics.exits,
                                  jobs_created=metrics.jobs_created, funding_raised_fen=metrics.funding_raised_fen,
                                  cause=cause),
                subject=space.id, actor=actor)


async def create_cohort(uow: UnitOfWork, principal: Principal, space_id: str, name: str, starts_at: datetime,
                        capacity: int, now: datetime) -> Cohort:
    space = await operated_space(uow, space_id, principal)
    cohort = Cohort(id=new_id(), space_id=space.id, name=name, starts_at=starts_at, capacity=capacity,
                    created_at=now)
    uow.session.add(cohort)
    uow.publish(ev.CohortCreated(cohort_id=cohort.id, space_id=space.id, name=name, starts_at=starts_at,
                                 capacity=capacity), subject=cohort.id, actor=principal.subject,
                partition_key=space.id)
    await uow.commit()
    return cohort


async def add_workspace(uow: UnitOfWork, principal: Principal, space_id: str, kind: str, label: str,
                        now: datetime) -> Workspace:
    space = await operated_space(uow, space_id, principal)
    workspace = Workspace(id=new_id(), space_id=space.id, kind=kind, label=label, created_at=now)
    uow.session.add(workspace)
    uow.publish(ev.WorkspaceAdded(workspace_id=workspace.id, space_id=space.id, kind=kind, label=label),
                subject=workspace.id, actor=principal.subject, partition_key=space.id)
    await _commit_unique(uow, f"this space already has a workspace labelled {label!r}", "label")
    return workspace


async def allocate_workspace(uow: UnitOfWork, principal: Principal, workspace_id: str, application_id: str,
                             now: datetime) -> Workspace:
    """Give a desk or office to an accepted start-up or a resident: one holder per workspace, one workspace per
    start-up. Taken with a conditional update (free -> held) backed by a unique constraint."""
    workspace = await uow.session.get(Workspace, workspace_id)
    if workspace is None:
        raise DomainError(404, f"workspace {workspace_id} not found", field="workspace_id")
    space = await operated_space(uow, workspace.space_id, principal)
    application = await _application(uow, application_id)
    if application.space_id != space.id:
        raise DomainError(422, "the application is for another space", field="application_id")
    if ApplicationState(application.state) not in HOLDS_WORKSPACE:
        raise DomainError(409, f"the application is in state {application.state!r}; only accepted start-ups and "
                               "residents get a workspace", field="application_id", current_state=application.state)
    held = (await uow.session.execute(
        select(Workspace.id).where(Workspace.application_id == application.id))).first()
    if held is not None:
        raise DomainError(409, f"the start-up already holds workspace {held[0]}", field="application_id")
    taken = await uow.session.execute(
        update(Workspace).where(col(Workspace.id) == workspace.id, col(Workspace.application_id).is_(None))
        .values(application_id=application.id, allocated_at=now).execution_options(synchronize_session=False))
    if taken.rowcount != 1:  # type: ignore[attr-defined]
        raise DomainError(409, f"workspace {workspace.label!r} is already allocated", field="workspace_id")
    uow.publish(ev.WorkspaceAllocated(workspace_id=workspace.id, space_id=space.id, kind=workspace.kind,
                                      label=workspace.label, application_id=application.id,
                                      applicant_id=application.applicant_id),
                subject=workspace.id, actor=principal.subject, partition_key=space.id)
    await _flush_unique(uow, "the workspace or the start-up is already allocated", "workspace_id")
    await uow.session.refresh(workspace)
    await uow.commit()
    return workspace


async def release_workspace(uow: UnitOfWork, principal: Principal, workspace_id: str, now: datetime) -> Workspace:
    workspace = await uow.session.get(Workspace, workspace_id, with_for_update=True)
    if workspace is None:
        raise DomainError(404, f"workspace {workspace_id} not found", field="workspace_id")
    await operated_space(uow, workspace.space_id, principal)
    if workspace.application_id is None:
        raise DomainError(409, f"workspace {workspace.label!r} is free", field="workspace_id", current_state="free")
    uow.publish(ev.WorkspaceReleased(workspace_id=workspace.id, space_id=workspace.space_id,
                                     application_id=workspace.application_id, reason="released"),
                subject=workspace.id, actor=principal.subject, partition_key=workspace.space_id)
    workspace.application_id, workspace.allocated_at = None, None
    await uow.commit()
    return workspace


async def report_outcome(uow: UnitOfWork, principal: Principal, application_id: str, jobs_created: int,
                         funding_raised_fen: int, now: datetime) -> Application:
    """Jobs created and funding raised so far (cumulative totals); the space's metrics move by the difference."""
    application = await _application(uow, application_id)
    space = await space_of(uow, application.space_id)
    if principal.subject != application.applicant_id:
        authorise_operator(principal, space)
    if ApplicationState(application.state) not in (ApplicationState.RESIDENT, ApplicationState.GRADUATED):
        raise DomainError(409, f"the application is in state {application.state!r}; outcomes are reported by "
                               "residents and graduates", field="application_id", current_state=application.state)
    change = {"jobs_created": jobs_created - application.jobs_created,
              "funding_raised_fen": funding_raised_fen - application.funding_raised_fen}
    application.jobs_created, application.funding_raised_fen, application.updated_at = (
        jobs_created, funding_raised_fen, now)
    uow.publish(ev.OutcomeReported(application_id=application.id, space_id=space.id, jobs_created=jobs_created,
                                   funding_raised_fen=funding_raised_fen, jobs_created_change=change["jobs_created"]),
                subject=application.id, actor=principal.subject,
                partition_key=application.organisation_id or application.applicant_id)
    await _bump_metrics(uow, space, change, "application.outcome_reported", principal.subject, now)
    await uow.commit()
    return application


# ---------------------------------------------------------------- activities


async def schedule_activity(uow: UnitOfWork, principal: Principal, space_id: str, kind: str, title: str,
                            starts_at: datetime, ends_at: datetime, capacity: int, training_id: str | None,
                            now: datetime) -> Activity:
    space = await operated_space(uow, space_id, principal)
    if ends_at <= starts_at:
        raise DomainError(422, "the activity must end after it starts", field="ends_at")
    if starts_at < now:
        raise DomainError(422, "the activity would start in the past", field="starts_at")
    if training_id is not None:
        training = await uow.session.get(BookingTraining, training_id)
        if training is None or training.context_id != space.id:
            raise DomainError(422, "the training is not one of this space's trainings", field="training_id")
    activity = Activity(id=new_id(), space_id=space.id, kind=kind, title=title, starts_at=starts_at,
                        ends_at=ends_at, capacity=capacity, training_id=training_id, created_at=now)
    uow.session.add(activity)
    uow.publish(ev.ActivityScheduled(activity_id=activity.id, space_id=space.id, kind=kind, title=title,
                                     starts_at=starts_at, ends_at=ends_at, capacity=capacity,
                                     training_id=training_id),
                subject=activity.id, actor=principal.subject, partition_key=space.id)
    await uow.commit()
    return activity


async def register_for_activity(uow: UnitOfWork, principal: Principal, activity_id: str,
                                now: datetime) -> Activity:
    """A seat taken with a conditional update (registered < capacity); never count-then-insert."""
    activity = await uow.session.get(Activity, activity_id)
    if activity is None:
        raise DomainError(404, f"activity {activity_id} not found", field="activity_id")
    if activity.starts_at <= now:
        raise DomainError(409, "registration closed when the activity started", field="activity_id")
    if await uow.session.get(ActivityRegistration, (activity.id, principal.subject)) is not None:
        raise DomainError(409, "already registered", field="activity_id")
    seat = await uow.session.execute(
        update(Activity).where(col(Activity.id) == activity.id, col(Activity.registered) < col(Activity.capacity))
        .values(registered=Activity.registered + 1).execution_options(synchronize_session=False))
    if seat.rowcount != 1:  # type: ignore[attr-defined]
        raise DomainError(409, f"the activity is full ({activity.capacity} seats)", field="activity_id")
    uow.session.add(ActivityRegistration(activity_id=activity.id, member_id=principal.subject, registered_at=now))
    await _flush_unique(uow, "already registered", "activity_id")
    await uow.session.refresh(activity)
    uow.publish(ev.ActivityRegistered(activity_id=activity.id, space_id=activity.space_id,
                                      member_id=principal.subject, seats_taken=activity.registered,
                                      capacity=activity.capacity),
                subject=activity.id, actor=principal.subject, partition_key=principal.subject)
    await uow.commit()
    return activity


async def record_attendance(uow: UnitOfWork, principal: Principal, activity_id: str, member_id: str,
                            now: datetime) -> TrainingRecord:
    """Attending a training session certifies (or renews) the member's training."""
    activity = await uow.session.get(Activity, activity_id)
    if activity is None:
        raise DomainError(404, f"activity {activity_id} not found", field="activity_id")
    await operated_space(uow, activity.space_id, principal)
    if activity.training_id is None:
        raise DomainError(409, "this activity is not a training session", field="activity_id")
    if await uow.session.get(ActivityRegistration, (activity.id, member_id)) is None:
        raise DomainError(409, "the member did not register for this session", field="member_id")
    if now < activity.starts_at:
        raise DomainError(409, "the session has not started", field="activity_id")
    training = await uow.session.get(BookingTraining, activity.training_id)
    assert training is not None
    record = await _certify(uow, training, member_id, min(now, activity.ends_at), principal.subject)
    await uow.commit()
    return record
