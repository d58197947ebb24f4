"""Events the credit service publishes (all on sizhong.credit.events; `listing.current` also, keyed by subject,
on the compacted topic sizhong.credit.listings)."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field

from shared.envelope import EventData

PREFIX = "cn.sizhong.credit"
LISTINGS_TOPIC = "sizhong.credit.listings"


class CreditRecordOpened(EventData):
    event_type = f"{PREFIX}.record.opened.v1"

    subject_id: str
    subject_kind: str
    score: int = Field(ge=0, le=1000)
    policy_version: str
    cause_event_id: str


class ListingNotified(EventData):
    """Before any listing: the subject is told the reasons, the basis, its rights and how to object."""

    event_type = f"{PREFIX}.listing.notified.v1"

    listing_id: str
    subject_id: str
    list_kind: str
    tier: str
    rule: str
    reasons: list[str]
    basis: str
    rights: str
    objection_url: str
    notice_ends_at: datetime
    cause_event_ids: list[str]
    policy_version: str


class ListingListed(EventData):
    event_type = f"{PREFIX}.listing.listed.v1"

    listing_id: str
    subject_id: str
    list_kind: str
    tier: str
    listed_at: datetime
    publish_until: datetime
    published: bool
    policy_version: str


class ListingRemoved(EventData):
    """The compensating event: an upheld objection, a repair or expiry ends the entry; the row stays."""

    event_type = f"{PREFIX}.listing.removed.v1"

    listing_id: str
    subject_id: str
    list_kind: str
    tier: str
    from_state: str
    reason: str  # objection_upheld | repaired | expired
    decided_by: str | None
    policy_version: str


class ObjectionFiled(EventData):
    event_type = f"{PREFIX}.objection.filed.v1"

    objection_id: str
    listing_id: str
    subject_id: str
    feedback_due: datetime


class ObjectionDecided(EventData):
    event_type = f"{PREFIX}.objection.decided.v1"

    objection_id: str
    listing_id: str
    subject_id: str
    upheld: bool
    reviewer_id: str
    note: str


class ObjectionOverdue(EventData):
    """No feedback on an objection by `feedback_due` (10 working days): published once per objection, when the
    `overdue` job finds it still pending after the deadline, or by its decision if that comes late and first."""

    event_type = f"{PREFIX}.objection.overdue.v1"

    objection_id: str
    listing_id: str
    subject_id: str
    filed_at: datetime
    feedback_due: datetime
    overdue_at: datetime  # the service clock when it was found overdue


class RepairRequested(EventData):
    event_type = f"{PREFIX}.repair.requested.v1"

    repair_id: str
    listing_id: str
    subject_id: str
    decide_by: datetime


class RepairDecided(EventData):
    event_type = f"{PREFIX}.repair.decided.v1"

    repair_id: str
    listing_id: str
    subject_id: str
    approved: bool
    reviewer_id: str
    note: str


class RepairOverdue(EventData):
    """No decision on a repair request by `decide_by` (3 working days): published once per request, as
    `ObjectionOverdue` is."""

    event_type = f"{PREFIX}.repair.overdue.v1"

    repair_id: str
    listing_id: str
    subject_id: str
    requested_at: datetime
    decide_by: datetime
    overdue_at: datetime


class ConsentChanged(EventData):
    event_type = f"{PREFIX}.consent.changed.v1"

    consent_id: str
    subject_id: str
    party_id: str
    granted: bool


class ListingSummary(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    listing_id: str
    tier: str
    rule: str
    basis: str
    listed_at: datetime
    until: datetime


class ListingCurrent(EventData):
    """A subject's current listing after every change: what the crowd services' replicas hold, and the value on
    the compacted topic. `black` and `red` are None when not listed (a value, not a tombstone: a late consumer
    still learns the subject was taken off)."""

    event_type = f"{PREFIX}.listing.current.v1"

    subject_id: str
    black: ListingSummary | None
    red: ListingSummary | None
    objection_url: str
    fast_track_review: bool
    commission_relief_percent: int
    policy_version: str
