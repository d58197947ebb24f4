"""Maker-space tables: spaces, cohorts, residency applications, desks and offices, activities, metrics.

Rooms, equipment, trainings, plans, subscriptions and bookings are the booking engine's tables
(shared.booking.models), with `context_id` = the space's id.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import UniqueConstraint
from sqlmodel import Field, SQLModel

from shared.db import utc_column


class Space(SQLModel, table=True):
    __tablename__ = "spaces"

    id: str = Field(primary_key=True, max_length=64)
    name: str = Field(max_length=200)
    tier: str = Field(max_length=40, description="national_demonstration | municipal_window | district_point")
    kind: str = Field(max_length=20, description="general | industry | online")
    industry: str | None = Field(default=None, max_length=100)
    operator_id: str = Field(max_length=64, index=True)
    organisation_id: str | None = Field(default=None, max_length=64)
    region_code: str = Field(max_length=6)
    capacity: int
    services: str = Field(max_length=2000, description="newline-separated services offered")
    timezone: str = Field(max_length=64)
    created_at: datetime = Field(sa_column=utc_column())


class Cohort(SQLModel, table=True):
    __tablename__ = "cohorts"

    id: str = Field(primary_key=True, max_length=64)
    space_id: str = Field(foreign_key="spaces.id", max_length=64, index=True)
    name: str = Field(max_length=200)
    starts_at: datetime = Field(sa_column=utc_column())
    capacity: int
    admitted: int = 0
    created_at: datetime = Field(sa_column=utc_column())


class ApplicationFields(SQLModel):
    """An application's columns; `Application` is its table, and the operator's queue adds `fast_tracked`."""

    id: str = Field(primary_key=True, max_length=64)
    space_id: str = Field(foreign_key="spaces.id", max_length=64, index=True)
    applicant_id: str = Field(max_length=64, index=True)
    organisation_id: str | None = Field(default=None, max_length=64)
    startup_name: str = Field(max_length=200)
    summary: str = Field(max_length=4000)
    state: str = Field(max_length=20)
    cohort_id: str | None = Field(default=None, foreign_key="cohorts.id", max_length=64)
    jobs_created: int = 0
    funding_raised_fen: int = 0
    submitted_at: datetime = Field(sa_column=utc_column())
    updated_at: datetime = Field(sa_column=utc_column())
    last_reason: str | None = Field(default=None, max_length=500)


class Application(ApplicationFields, table=True):
    __tablename__ = "applications"


class Workspace(SQLModel, table=True):
    """A desk or an office; `application_id` is its one holder (taken with a conditional update, and unique)."""

    __tablename__ = "workspaces"
    __table_args__ = (UniqueConstraint("space_id", "label", name="uq_workspaces_label"),)

    id: str = Field(primary_key=True, max_length=64)
    space_id: str = Field(foreign_key="spaces.id", max_length=64, index=True)
    kind: str = Field(max_length=10, description="desk | office")
    label: str = Field(max_length=100)
    application_id: str | None = Field(default=None, foreign_key="applications.id", max_length=64, unique=True)
    allocated_at: datetime | None = Field(default=None, sa_column=utc_column(nullable=True))
    created_at: datetime = Field(sa_column=utc_column())


class Activity(SQLModel, table=True):
    """A roadshow (路演), a startup café (创业咖啡), a training session; seats taken by conditional update."""

    __tablename__ = "activities"

    id: str = Field(primary_key=True, max_length=64)
    space_id: str = Field(foreign_key="spaces.id", max_length=64, index=True)
    kind: str = Field(max_length=20)
    title: str = Field(max_length=200)
    starts_at: datetime = Field(sa_column=utc_column())
    ends_at: datetime = Field(sa_column=utc_column())
    capacity: int
    registered: int = 0
    training_id: str | None = Field(default=None, foreign_key="booking_trainings.id", max_length=64)
    created_at: datetime = Field(sa_column=utc_column())


class ActivityRegistration(SQLModel, table=True):
    __tablename__ = "activity_registrations"

    activity_id: str = Field(primary_key=True, foreign_key="activities.id", max_length=64)
    member_id: str = Field(primary_key=True, max_length=64)
    registered_at: datetime = Field(sa_column=utc_column())


class SpaceMetrics(SQLModel, table=True):
    """Incubation metrics per space (统计监测), changed by increments in the transaction that causes them."""

    __tablename__ = "space_metrics"

    space_id: str = Field(primary_key=True, foreign_key="spaces.id", max_length=64)
    residents: int = 0
    graduations: int = 0
    exits: int = 0
    jobs_created: int = 0
    funding_raised_fen: int = 0
    updated_at: datetime = Field(sa_column=utc_column())
