"""Events the makerspace service publishes (the event catalogue is in services/makerspace/README.md).

Wire names are explicit; consumers (credit, audit, statistics) import these models.
"""

from __future__ import annotations

from datetime import datetime

from pydantic import Field

from shared.envelope import EventData

PREFIX = "cn.sizhong.makerspace"


class SpaceRegistered(EventData):
    event_type = f"{PREFIX}.space.registered.v1"

    space_id: str
    name: str
    tier: str
    kind: str
    industry: str | None
    region_code: str
    capacity: int
    operator_id: str
    timezone: str


class ResourceAdded(EventData):
    event_type = f"{PREFIX}.resource.added.v1"

    resource_id: str
    space_id: str
    kind: str
    name: str
    parent_id: str | None
    timezone: str
    requires_approval: bool
    required_training_id: str | None


class TrainingDefined(EventData):
    event_type = f"{PREFIX}.training.defined.v1"

    training_id: str
    space_id: str
    name: str
    validity_months: int
    lapse_after_days: int


class TrainingCertified(EventData):
    event_type = f"{PREFIX}.training.certified.v1"

    training_id: str
    space_id: str
    member_id: str
    certified_at: datetime
    valid_until: datetime
    renewal: bool


class PlanCreated(EventData):
    event_type = f"{PREFIX}.plan.created.v1"

    plan_id: str
    space_id: str
    name: str
    daily_quota_minutes: int
    credits: int


class SubscriptionStarted(EventData):
    event_type = f"{PREFIX}.subscription.started.v1"

    subscription_id: str
    space_id: str
    plan_id: str
    member_id: str
    starts_at: datetime
    ends_at: datetime
    credits: int


class _BookingFacts(EventData):
    booking_id: str
    resource_id: str
    space_id: str
    member_id: str
    start: datetime
    end: datetime
    state: str
    policy_version: str


class BookingPlaced(_BookingFacts):
    """A slot taken: state `confirmed`, or `pending` where the resource requires approval."""

    event_type = f"{PREFIX}.booking.placed.v1"

    credits: int
    recurrence_id: str | None
    fast_tracked: bool = False  # pending, and the member is red-listed: the operator decides it first (联合激励)


class BookingApproved(_BookingFacts):
    event_type = f"{PREFIX}.booking.approved.v1"


class BookingRejected(_BookingFacts):
    event_type = f"{PREFIX}.booking.rejected.v1"

    reason: str


class BookingCancelled(_BookingFacts):
    event_type = f"{PREFIX}.booking.cancelled.v1"

    credits_refunded: int


class BookingCheckedIn(_BookingFacts):
    event_type = f"{PREFIX}.booking.checked_in.v1"


class NoShowRecorded(_BookingFacts):
    """For the credit service: the member did not check in; the credits stay spent."""

    event_type = f"{PREFIX}.booking.no_show_recorded.v1"

    penalty_points: int = Field(ge=0)


class ApplicationStep(EventData):
    """Base of the residency events: every step says where from, where to, who, why."""

    application_id: str
    space_id: str
    applicant_id: str
    organisation_id: str | None
    startup_name: str
    from_state: str | None
    to_state: str
    cohort_id: str | None = None
    reason: str | None = None


class ApplicationSubmitted(ApplicationStep):
    event_type = f"{PREFIX}.application.submitted.v1"

    fast_tracked: bool = False  # the applicant (or its organisation) is red-listed: reviewed first (联合激励)


class ApplicationScreeningStarted(ApplicationStep):
    event_type = f"{PREFIX}.application.screening_started.v1"


class ApplicationInterviewScheduled(ApplicationStep):
    event_type = f"{PREFIX}.application.interview_scheduled.v1"


class ApplicationAccepted(ApplicationStep):
    event_type = f"{PREFIX}.application.accepted.v1"


class ApplicationRejected(ApplicationStep):
    event_type = f"{PREFIX}.application.rejected.v1"


class ResidentMovedIn(ApplicationStep):
    event_type = f"{PREFIX}.application.moved_in.v1"


class ResidentGraduated(ApplicationStep):
    event_type = f"{PREFIX}.application.graduated.v1"


class ResidentExited(ApplicationStep):
    event_type = f"{PREFIX}.application.exited.v1"


STEP_EVENTS: dict[str, type[ApplicationStep]] = {
    "screening": ApplicationScreeningStarted, "interview": ApplicationInterviewScheduled,
    "accepted": ApplicationAccepted, "rejected": ApplicationRejected, "resident": ResidentMovedIn,
    "graduated": ResidentGraduated, "exited": ResidentExited,
}


class CohortCreated(EventData):
    event_type = f"{PREFIX}.cohort.created.v1"

    cohort_id: str
    space_id: str
    name: str
    starts_at: datetime
    capacity: int


class WorkspaceAdded(EventData):
    event_type = f"{PREFIX}.workspace.added.v1"

    workspace_id: str
    space_id: str
    kind: str
    label: str


class WorkspaceAllocated(EventData):
    event_type = f"{PREFIX}.workspace.allocated.v1"

    workspace_id: str
    space_id: str
    kind: str
    label: str
    application_id: str
    applicant_id: str


class WorkspaceReleased(EventData):
    event_type = f"{PREFIX}.workspace.released.v1"

    workspace_id: str
    space_id: str
    application_id: str
    reason: str


class OutcomeReported(EventData):
    """A start-up's incubation outcome: jobs created, funding raised (integer fen), as cumulative totals.

    `jobs_created_change` is the difference from the previous report (negative for a correction), so that a
    reader summing reports per day (audit's statistics) counts each job once without keeping the totals itself.
    """

    event_type = f"{PREFIX}.application.outcome_reported.v1"

    application_id: str
    space_id: str
    jobs_created: int
    funding_raised_fen: int
    currency: str = "CNY"
    jobs_created_change: int = 0


class ActivityScheduled(EventData):
    event_type = f"{PREFIX}.activity.scheduled.v1"

    activity_id: str
    space_id: str
    kind: str
    title: str
    starts_at: datetime
    ends_at: datetime
    capacity: int
    training_id: str | None


class ActivityRegistered(EventData):
    event_type = f"{PREFIX}.activity.registered.v1"

    activity_id: str
    space_id: str
    member_id: str
    seats_taken: int
    capacity: int


class MetricsUpdated(EventData):
    """Incubation metrics of one space after a change, for statistics monitoring (统计监测)."""

    event_type = f"{PREFIX}.metrics.updated.v1"

    space_id: str
    region_code: str
    tier: str
    residents: int
    graduations: int
    exits: int
    jobs_created: int
    funding_raised_fen: int
    currency: str = "CNY"
    cause: str
