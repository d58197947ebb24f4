"""Crowd-support tables (all prefixed `cs_`; table names are unique across the platform's one metadata).

Instruments and mentors' time are bookable resources of the shared booking engine (`booking_*` tables):
an instrument's id is its resource's id, a mentor's resource is `mentor_resource_id`.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, CheckConstraint, Column
from sqlmodel import Field, SQLModel

from shared.db import utc_column


def _fen(nullable: bool = False) -> Column:
    return Column(BigInteger, nullable=nullable)


class Programme(SQLModel, table=True):
    """A voucher programme of an agency: budget, caps, co-pay, whitelist, permitted uses, recognition."""

    __tablename__ = "cs_programmes"
    __table_args__ = (CheckConstraint("reserved_fen >= 0 AND spent_fen >= 0 AND reserved_fen + spent_fen <= "
                                      "budget_fen", name="ck_cs_programmes_budget"),)

    id: str = Field(primary_key=True, max_length=64)
    agency_id: str = Field(max_length=64, index=True)
    name: str = Field(max_length=200)
    kind: str = Field(max_length=20)  # innovation (创新券) | startup (创业券)
    region_code: str = Field(max_length=6, index=True)
    currency: str = Field(max_length=3)
    budget_fen: int = Field(sa_column=_fen())
    reserved_fen: int = Field(default=0, sa_column=_fen())
    spent_fen: int = Field(default=0, sa_column=_fen())
    per_enterprise_year_cap_fen: int = Field(sa_column=_fen())
    copay_ratio_pct: int  # percent of a contract the enterprise pays itself
    permitted_uses: str = Field(max_length=2000)  # newline-separated
    recognised_regions: str = Field(max_length=2000)  # newline-separated region codes (跨区域互通互认)
    suspended: bool = False
    policy_version: str = Field(max_length=40)
    created_at: datetime = Field(sa_column=utc_column())


class ProgrammeProvider(SQLModel, table=True):
    __tablename__ = "cs_programme_providers"

    programme_id: str = Field(primary_key=True, foreign_key="cs_programmes.id", max_length=64)
    provider_id: str = Field(primary_key=True, max_length=64)
    added_at: datetime = Field(sa_column=utc_column())


class EnterpriseCap(SQLModel, table=True):
    """What an enterprise was issued by a programme in a year; taken with a conditional update."""

    __tablename__ = "cs_enterprise_caps"

    programme_id: str = Field(primary_key=True, foreign_key="cs_programmes.id", max_length=64)
    enterprise_id: str = Field(primary_key=True, max_length=64)
    year: int = Field(primary_key=True)
    issued_fen: int = Field(default=0, sa_column=_fen())


class VoucherFields(SQLModel):
    """A voucher's columns; `Voucher` is its table, and the agency's queue adds `fast_tracked`."""

    id: str = Field(primary_key=True, max_length=64)
    programme_id: str = Field(foreign_key="cs_programmes.id", max_length=64, index=True)
    agency_id: str = Field(max_length=64)
    enterprise_id: str = Field(max_length=64, index=True)
    currency: str = Field(max_length=3)
    face_fen: int = Field(sa_column=_fen())
    use: str = Field(max_length=100)
    year: int
    state: str = Field(max_length=20)
    issued_at: datetime = Field(sa_column=utc_column())
    expires_at: datetime = Field(sa_column=utc_column())
    provider_id: str | None = Field(default=None, max_length=64, index=True)
    redeemed_via: str | None = Field(default=None, max_length=100)
    contract_no: str | None = Field(default=None, max_length=100)
    contract_amount_fen: int | None = Field(default=None, sa_column=_fen(nullable=True))
    invoice_no: str | None = Field(default=None, max_length=100)
    payment_proof: str | None = Field(default=None, max_length=200)
    voucher_fen: int = Field(default=0, sa_column=_fen())  # the part the budget pays
    copay_fen: int = Field(default=0, sa_column=_fen())
    redeemed_at: datetime | None = Field(default=None, sa_column=utc_column(nullable=True))
    decided_at: datetime | None = Field(default=None, sa_column=utc_column(nullable=True))
    decided_by: str | None = Field(default=None, max_length=64)
    reason: str | None = Field(default=None, max_length=500)
    paid_fen: int = Field(default=0, sa_column=_fen())
    clawed_back_fen: int = Field(default=0, sa_column=_fen())
    policy_version: str = Field(max_length=40)


class Voucher(VoucherFields, table=True):
    __tablename__ = "cs_vouchers"


class VoucherPayment(SQLModel, table=True):
    """A payment owed on a voucher: the payout to the provider, or the claw-back charged back from it.
    Created in the transaction that made it owed; executed afterwards by its idempotency key."""

    __tablename__ = "cs_voucher_payments"

    id: str = Field(primary_key=True, max_length=64)
    voucher_id: str = Field(foreign_key="cs_vouchers.id", max_length=64, index=True)
    kind: str = Field(max_length=20)  # payout | clawback
    party_id: str = Field(max_length=64)
    currency: str = Field(max_length=3)
    amount_fen: int = Field(sa_column=_fen())
    idempotency_key: str = Field(max_length=120, unique=True)
    status: str = Field(max_length=20)  # pending | done | failed | reissued (a failed one replaced by a retry)
    reference: str | None = Field(default=None, max_length=120)
    failure: str | None = Field(default=None, max_length=300)
    created_at: datetime = Field(sa_column=utc_column())
    settled_at: datetime | None = Field(default=None, sa_column=utc_column(nullable=True))


class Instrument(SQLModel, table=True):
    """A large research instrument (大型科研仪器) in the open-sharing catalogue; `id` is its booking resource."""

    __tablename__ = "cs_instruments"

    id: str = Field(primary_key=True, max_length=64)
    owner_id: str = Field(max_length=64, index=True)  # the owner institution (role provider)
    institution: str = Field(max_length=200)
    name: str = Field(max_length=200)
    category: str = Field(max_length=100, index=True)
    location: str = Field(max_length=200)
    region_code: str = Field(max_length=6)
    hourly_rate_fen: int = Field(sa_column=_fen())
    created_at: datetime = Field(sa_column=utc_column())


class InstrumentUsage(SQLModel, table=True):
    """Metering of one booking: booked minutes, and actual minutes from check-in to check-out."""

    __tablename__ = "cs_instrument_usage"

    booking_id: str = Field(primary_key=True, max_length=64)
    instrument_id: str = Field(foreign_key="cs_instruments.id", max_length=64, index=True)
    owner_id: str = Field(max_length=64, index=True)
    user_id: str = Field(max_length=64)
    start_at: datetime = Field(sa_column=utc_column())
    booked_minutes: int
    hourly_rate_fen: int = Field(sa_column=_fen())
    checked_in_at: datetime | None = Field(default=None, sa_column=utc_column(nullable=True))
    checked_out_at: datetime | None = Field(default=None, sa_column=utc_column(nullable=True))
    actual_minutes: int = 0


class UnsweptBooking(SQLModel, table=True):
    """A booking the bookings sweep never judges: it had started before the sweep existed, when a missing check-in
    meant nothing (mentor sessions had no check-in at all). Written once, by migration `support_fixes_unswept`."""

    __tablename__ = "cs_unswept_bookings"

    booking_id: str = Field(primary_key=True, foreign_key="bookings.id", max_length=64)
    reason: str = Field(max_length=200)
    recorded_at: datetime = Field(sa_column=utc_column())


class Mentor(SQLModel, table=True):
    __tablename__ = "cs_mentors"

    id: str = Field(primary_key=True, max_length=64)  # the mentor's subject id
    name: str = Field(max_length=200)
    bio: str = Field(max_length=2000)
    skills: str = Field(max_length=2000)  # newline-separated, lower case
    availability: str = Field(max_length=4000)  # JSON list of [weekday, start_minute, end_minute]
    timezone: str = Field(max_length=64)
    resource_id: str = Field(max_length=64)
    created_at: datetime = Field(sa_column=utc_column())
    updated_at: datetime = Field(sa_column=utc_column())


class MentorSession(SQLModel, table=True):
    __tablename__ = "cs_mentor_sessions"

    booking_id: str = Field(primary_key=True, max_length=64)
    mentor_id: str = Field(foreign_key="cs_mentors.id", max_length=64, index=True)
    startup_id: str = Field(max_length=64, index=True)
    topic: str = Field(max_length=200)
    start_at: datetime = Field(sa_column=utc_column())
    end_at: datetime = Field(sa_column=utc_column())
    rating: int | None = None
    feedback: str | None = Field(default=None, max_length=2000)
    feedback_at: datetime | None = Field(default=None, sa_column=utc_column(nullable=True))


class Patent(SQLModel, table=True):
    """An open patent or technology (基础性专利/技术开放共享)."""

    __tablename__ = "cs_patents"

    id: str = Field(primary_key=True, max_length=64)
    holder_id: str = Field(max_length=64, index=True)
    holder_kind: str = Field(max_length=30)  # public_institution | enterprise
    title: str = Field(max_length=200)
    patent_no: str | None = Field(default=None, max_length=40)
    field_of_use: str = Field(max_length=100, index=True)
    licence_terms: str = Field(max_length=20)  # free | royalty
    royalty_fen: int = Field(default=0, sa_column=_fen())
    summary: str = Field(max_length=4000)
    created_at: datetime = Field(sa_column=utc_column())


class LicenceRequestFields(SQLModel):
    """A licence request's columns; `LicenceRequest` is its table, and the list view adds `fast_tracked`."""

    id: str = Field(primary_key=True, max_length=64)
    patent_id: str = Field(foreign_key="cs_patents.id", max_length=64, index=True)
    holder_id: str = Field(max_length=64, index=True)
    requester_id: str = Field(max_length=64, index=True)
    purpose: str = Field(max_length=2000)
    state: str = Field(max_length=20)  # requested | granted | refused
    created_at: datetime = Field(sa_column=utc_column())
    decided_at: datetime | None = Field(default=None, sa_column=utc_column(nullable=True))
    decided_by: str | None = Field(default=None, max_length=64)
    reason: str | None = Field(default=None, max_length=500)


class LicenceRequest(LicenceRequestFields, table=True):
    __tablename__ = "cs_licence_requests"


class ServiceRequest(SQLModel, table=True):
    """A one-stop service request of a micro-enterprise, with a deadline in working days."""

    __tablename__ = "cs_service_requests"

    id: str = Field(primary_key=True, max_length=64)
    requester_id: str = Field(max_length=64, index=True)
    kind: str = Field(max_length=30)
    title: str = Field(max_length=200)
    detail: str = Field(max_length=4000)
    state: str = Field(max_length=20)  # open | assigned | resolved
    handler_id: str | None = Field(default=None, max_length=64, index=True)
    deadline_at: datetime = Field(sa_column=utc_column())
    created_at: datetime = Field(sa_column=utc_column())
    assigned_at: datetime | None = Field(default=None, sa_column=utc_column(nullable=True))
    resolved_at: datetime | None = Field(default=None, sa_column=utc_column(nullable=True))
    resolution: str | None = Field(default=None, max_length=4000)
    policy_version: str = Field(max_length=40)
