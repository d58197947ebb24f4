"""Events the crowdsupport service publishes (the event catalogue is in services/crowdsupport/README.md).

Wire names are explicit; consumers (credit, audit, statistics) import these models. Amounts are integer fen.
`VoucherVoided` is the contract credit scores voucher fraud from: change it only as a new `.v2`.
"""

from __future__ import annotations

from datetime import datetime

from shared.envelope import EventData

PREFIX = "cn.sizhong.crowdsupport"


class ProgrammeCreated(EventData):
    event_type = f"{PREFIX}.programme.created.v1"

    programme_id: str
    agency_id: str
    name: str
    kind: str
    region_code: str
    currency: str
    budget_fen: int
    per_enterprise_year_cap_fen: int
    copay_ratio_pct: int
    permitted_uses: list[str]
    recognised_regions: list[str]
    ledger_transaction: str
    policy_version: str


class ProviderWhitelisted(EventData):
    event_type = f"{PREFIX}.programme.provider_whitelisted.v1"

    programme_id: str
    agency_id: str
    provider_id: str


class VoucherIssued(EventData):
    event_type = f"{PREFIX}.voucher.issued.v1"

    voucher_id: str
    programme_id: str
    agency_id: str
    enterprise_id: str
    currency: str
    face_fen: int
    use: str
    year: int
    issued_in_year_fen: int  # the enterprise's total from this programme this year, this voucher included
    expires_at: datetime
    policy_version: str


class VoucherRedeemed(EventData):
    event_type = f"{PREFIX}.voucher.redeemed.v1"

    voucher_id: str
    programme_id: str
    enterprise_id: str
    provider_id: str
    redeemed_via: str  # whitelist | recognition:<programme id>
    contract_no: str
    contract_amount_fen: int
    voucher_fen: int
    copay_fen: int
    currency: str
    policy_version: str
    fast_tracked: bool = False  # the enterprise or provider is red-listed: the agency reviews it first (联合激励)


class RedemptionRejected(EventData):
    event_type = f"{PREFIX}.voucher.redemption_rejected.v1"

    voucher_id: str
    programme_id: str
    enterprise_id: str
    provider_id: str
    reason: str
    released_fen: int


class _VoucherPayout(EventData):
    """A voucher's payout to its provider: what is paid, to whom, under which idempotency key."""

    voucher_id: str
    programme_id: str
    agency_id: str
    enterprise_id: str
    provider_id: str
    currency: str
    amount_fen: int
    idempotency_key: str


class VoucherPaid(_VoucherPayout):
    event_type = f"{PREFIX}.voucher.paid.v1"

    reference: str
    ledger_transaction: str


class VoucherVoided(EventData):
    """A voucher voided (fraud, or withdrawn); partition key = the enterprise id. Credit scores `fraud`
    against every subject in `fraud_by`."""

    event_type = f"{PREFIX}.voucher.voided.v1"

    voucher_id: str
    programme_id: str
    agency_id: str
    enterprise_id: str
    provider_id: str | None
    reason: str
    fraud: bool
    fraud_by: list[str]
    clawed_back_fen: int
    currency: str


class ClawbackSettled(EventData):
    event_type = f"{PREFIX}.voucher.clawback_settled.v1"

    voucher_id: str
    programme_id: str
    provider_id: str
    currency: str
    amount_fen: int
    status: str  # done | failed
    idempotency_key: str
    reference: str | None


class InstrumentListed(EventData):
    event_type = f"{PREFIX}.instrument.listed.v1"

    instrument_id: str
    owner_id: str
    institution: str
    name: str
    category: str
    region_code: str
    hourly_rate_fen: int


class InstrumentBooked(EventData):
    event_type = f"{PREFIX}.instrument.booked.v1"

    booking_id: str
    instrument_id: str
    owner_id: str
    user_id: str
    start: datetime
    end: datetime
    state: str
    policy_version: str


class InstrumentUsed(EventData):
    """Checked out: the metered usage (booked vs actual minutes) that the post-use subsidy is computed from."""

    event_type = f"{PREFIX}.instrument.used.v1"

    booking_id: str
    instrument_id: str
    owner_id: str
    user_id: str
    booked_minutes: int
    actual_minutes: int
    checked_in_at: datetime
    checked_out_at: datetime


class InstrumentCheckedIn(EventData):
    event_type = f"{PREFIX}.instrument.checked_in.v1"

    booking_id: str
    instrument_id: str
    user_id: str
    checked_in_at: datetime


class MentorProfiled(EventData):
    event_type = f"{PREFIX}.mentor.profiled.v1"

    mentor_id: str
    skills: list[str]
    weekly_minutes: int


class MentorSessionBooked(EventData):
    event_type = f"{PREFIX}.mentor_session.booked.v1"

    booking_id: str
    mentor_id: str
    startup_id: str
    topic: str
    start: datetime
    end: datetime
    policy_version: str


class MentorFeedbackGiven(EventData):
    event_type = f"{PREFIX}.mentor_session.feedback_given.v1"

    booking_id: str
    mentor_id: str
    startup_id: str
    rating: int


class PatentListed(EventData):
    event_type = f"{PREFIX}.patent.listed.v1"

    patent_id: str
    holder_id: str
    holder_kind: str
    title: str
    field_of_use: str
    licence_terms: str
    royalty_fen: int


class LicenceRequested(EventData):
    event_type = f"{PREFIX}.licence.requested.v1"

    request_id: str
    patent_id: str
    holder_id: str
    requester_id: str
    fast_tracked: bool = False  # the requester is red-listed: the holder decides it first (联合激励)


class LicenceDecided(EventData):
    event_type = f"{PREFIX}.licence.decided.v1"

    request_id: str
    patent_id: str
    holder_id: str
    requester_id: str
    granted: bool
    reason: str | None


class ServiceRequestOpened(EventData):
    event_type = f"{PREFIX}.service_request.opened.v1"

    request_id: str
    requester_id: str
    kind: str
    deadline_at: datetime
    working_days: int
    policy_version: str
    fast_tracked: bool = False  # the requester is red-listed: staff assign it first (联合激励)


class ServiceRequestAssigned(EventData):
    event_type = f"{PREFIX}.service_request.assigned.v1"

    request_id: str
    requester_id: str
    handler_id: str


class ServiceRequestResolved(EventData):
    event_type = f"{PREFIX}.service_request.resolved.v1"

    request_id: str
    requester_id: str
    handler_id: str | None
    kind: str
    overdue: bool


class VoucherPaymentReissued(EventData):
    """A declined payout or claw-back re-issued by an admin under a new idempotency key."""

    event_type = f"{PREFIX}.voucher.payment_reissued.v1"

    voucher_id: str
    payment_id: str
    kind: str
    party_id: str
    currency: str
    amount_fen: int
    idempotency_key: str
    replaces_payment_id: str
    reissued_by: str


class BookingCancelled(EventData):
    """An instrument booking or a mentor session cancelled before it started."""

    event_type = f"{PREFIX}.booking.cancelled.v1"

    booking_id: str
    resource_id: str
    kind: str  # instrument | mentor
    member_id: str
    cancelled_by: str
    start: datetime


class VoucherApproved(_VoucherPayout):
    """The agency approved a redemption: reserved -> spent, the budget owes the provider (`budget -> payable`
    posted as `ledger_transaction`), and the payout `payment_id` is owed under `idempotency_key`."""

    event_type = f"{PREFIX}.voucher.approved.v1"

    payment_id: str
    ledger_transaction: str


class VoucherPayoutDeclined(EventData):
    """The payment provider declined a payout: nothing was paid, the amount stays owed in `payable_account`
    (`payable_fen`: what that account holds now, every programme's debt to the provider in this currency) and
    the voucher stays `approved` until the agency (or an admin) re-issues the payment under a new key."""

    event_type = f"{PREFIX}.voucher.payout_declined.v1"

    voucher_id: str
    programme_id: str
    agency_id: str
    provider_id: str
    payment_id: str
    currency: str
    amount_fen: int
    payable_account: str
    payable_fen: int
    idempotency_key: str
    failure: str | None


class InstrumentBookingDecided(EventData):
    """The owner approved (`confirmed`) or rejected (`rejected`, the slot freed) a booking needing approval."""

    event_type = f"{PREFIX}.instrument.booking_decided.v1"

    booking_id: str
    instrument_id: str
    owner_id: str
    user_id: str
    approved: bool
    state: str
    start: datetime
    end: datetime


class MentorSessionCheckedIn(EventData):
    """The mentor checked the start-up in (inside the check-in window): the session took place."""

    event_type = f"{PREFIX}.mentor_session.checked_in.v1"

    booking_id: str
    mentor_id: str
    startup_id: str
    checked_in_at: datetime


class _SweptBooking(EventData):
    """What the bookings sweep says of an instrument booking or a mentor session (`kind`): who booked it
    (`member_id`), whose resource it is (`owner_id`: the instrument's owner or the mentor) and the slot."""

    booking_id: str
    resource_id: str
    kind: str  # instrument | mentor
    member_id: str
    owner_id: str
    start: datetime
    end: datetime
    policy_version: str


class BookingNoShowRecorded(_SweptBooking):
    """Nobody checked in before the check-in window closed (start + grace): the member did not show."""

    event_type = f"{PREFIX}.booking.no_show_recorded.v1"

    check_in_closed_at: datetime


class BookingExpired(_SweptBooking):
    """A booking still pending the owner's approval when its slot started: never decided, so it is cancelled
    and its slot released."""

    event_type = f"{PREFIX}.booking.expired.v1"
