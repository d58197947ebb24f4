"""Credit tables: records with score and dimensions, the facts that shaped them, every score change with its
causes, red/black listings with objections and repair requests, and report consents. Rows are never
deleted; a listing leaves the lists through a compensating state."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import UniqueConstraint
from sqlmodel import Field, SQLModel

from shared.db import utc_column


class CreditRecord(SQLModel, table=True):
    __tablename__ = "credit_records"

    subject_id: str = Field(primary_key=True, max_length=64)
    subject_kind: str = Field(max_length=20)
    owner_id: str = Field(max_length=64, index=True)
    score: int
    policy_version: str = Field(max_length=40)
    opened_at: datetime = Field(sa_column=utc_column())
    dimensions: str = Field(default="{}", max_length=400)  # JSON: dimension -> contribution
    as_of: datetime | None = Field(default=None, sa_column=utc_column(nullable=True))
    name: str = Field(default="", max_length=200)
    registration_number_masked: str = Field(default="", max_length=32)  # only ever the masked form


class CreditRecordChange(SQLModel, table=True):
    __tablename__ = "credit_record_changes"

    subject_id: str = Field(primary_key=True, foreign_key="credit_records.subject_id", max_length=64)
    event_id: str = Field(primary_key=True, max_length=64)
    event_type: str = Field(max_length=200)
    score_before: int | None = None
    score_after: int
    policy_version: str = Field(max_length=40)
    changed_at: datetime = Field(sa_column=utc_column())
    cause_event_ids: str = Field(default="[]", max_length=8000)  # JSON list: the event, then decayed facts
    dimensions: str = Field(default="{}", max_length=400)


class CreditFact(SQLModel, table=True):
    __tablename__ = "credit_facts"
    __table_args__ = (UniqueConstraint("event_id", "subject_id", "kind", name="uq_credit_facts_event"),)

    position: int | None = Field(default=None, primary_key=True)  # arrival order, the order a rebuild folds in
    subject_id: str = Field(max_length=64, index=True)
    kind: str = Field(max_length=40)
    ref: str = Field(max_length=200)
    event_id: str = Field(max_length=64)
    event_type: str = Field(max_length=200)
    at: datetime = Field(sa_column=utc_column())


class CreditListing(SQLModel, table=True):
    __tablename__ = "credit_listings"

    id: str = Field(primary_key=True, max_length=64)
    subject_id: str = Field(max_length=64, index=True)
    list_kind: str = Field(max_length=10)  # black | red
    tier: str = Field(max_length=10)
    state: str = Field(max_length=20, index=True)
    rule: str = Field(max_length=60)
    reasons: str = Field(max_length=4000)  # JSON list
    basis: str = Field(max_length=400)
    cause_event_ids: str = Field(max_length=8000)  # JSON list
    policy_version: str = Field(max_length=40)
    notified_at: datetime = Field(sa_column=utc_column())
    notice_ends_at: datetime = Field(sa_column=utc_column())
    listed_at: datetime | None = Field(default=None, sa_column=utc_column(nullable=True))
    publish_until: datetime | None = Field(default=None, sa_column=utc_column(nullable=True))
    ended_at: datetime | None = Field(default=None, sa_column=utc_column(nullable=True))
    end_reason: str | None = Field(default=None, max_length=40)


class CreditObjection(SQLModel, table=True):
    __tablename__ = "credit_objections"

    id: str = Field(primary_key=True, max_length=64)
    listing_id: str = Field(foreign_key="credit_listings.id", max_length=64, index=True)
    subject_id: str = Field(max_length=64)
    grounds: str = Field(max_length=4000)
    filed_at: datetime = Field(sa_column=utc_column())
    feedback_due: datetime = Field(sa_column=utc_column())
    state: str = Field(max_length=20)  # pending | upheld | dismissed
    decided_by: str | None = Field(default=None, max_length=64)
    decided_at: datetime | None = Field(default=None, sa_column=utc_column(nullable=True))
    note: str = Field(default="", max_length=4000)
    # when it was found past `feedback_due` undecided (job `overdue`, or a late decision that came first)
    overdue_at: datetime | None = Field(default=None, sa_column=utc_column(nullable=True))
    decided_late: bool = False  # decided after `feedback_due`: allowed, and recorded


class CreditRepair(SQLModel, table=True):
    __tablename__ = "credit_repairs"

    id: str = Field(primary_key=True, max_length=64)
    listing_id: str = Field(foreign_key="credit_listings.id", max_length=64, index=True)
    subject_id: str = Field(max_length=64)
    commitment: str = Field(max_length=4000)  # the filed credit commitment (信用承诺)
    correction: str = Field(max_length=4000)  # how the behaviour was corrected
    requested_at: datetime = Field(sa_column=utc_column())
    decide_by: datetime = Field(sa_column=utc_column())
    state: str = Field(max_length=20)  # pending | approved | refused
    decided_by: str | None = Field(default=None, max_length=64)
    decided_at: datetime | None = Field(default=None, sa_column=utc_column(nullable=True))
    note: str = Field(default="", max_length=4000)
    # when it was found past `decide_by` undecided (job `overdue`, or a late decision that came first)
    overdue_at: datetime | None = Field(default=None, sa_column=utc_column(nullable=True))
    decided_late: bool = False  # decided after `decide_by`: allowed, and recorded


class CreditConsent(SQLModel, table=True):
    __tablename__ = "credit_consents"

    id: str = Field(primary_key=True, max_length=64)
    subject_id: str = Field(max_length=64, index=True)
    party_id: str = Field(max_length=64, index=True)
    purpose: str = Field(max_length=400)
    granted_at: datetime = Field(sa_column=utc_column())
    revoked_at: datetime | None = Field(default=None, sa_column=utc_column(nullable=True))
