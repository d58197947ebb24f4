"""Credit tables: one record per subject, and the events that changed it (so a score can be explained)."""

from __future__ import annotations

from datetime import datetime

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


class CreditRecordChange(SQLModel, table=True):
    __tablename__ = "credit_record_changes"

    subject_id: str = Field(primary_key=True, foreign_key="credit_records.subject_id", max_length=64)
    event_id: str = Field(primary_key=True, max_length=64)
    event_type: str = Field(max_length=200)
    score_before: int | None = None
    score_after: int
    policy_version: str = Field(max_length=40)
    changed_at: datetime = Field(sa_column=utc_column())
