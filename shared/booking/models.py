"""The booking engine's tables. A service that books (makerspace, crowdsupport) creates them in its own
database with `shared.booking.schema.create_booking_tables()` in one of its migrations.

`context_id` is the owner scope of the service: a maker-space's id, an instrument owner's id, ...
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import Index
from sqlmodel import Field, SQLModel

from shared.booking.rules import ResourceRules, TrainingView, zone_named
from shared.db import utc_column


class BookableResource(SQLModel, table=True):
    """A room, a machine, an instrument, a mentor's time. Rooms contain rooms and equipment (`parent_id`)."""

    __tablename__ = "booking_resources"

    id: str = Field(primary_key=True, max_length=64)
    context_id: str = Field(max_length=64, index=True)
    parent_id: str | None = Field(default=None, foreign_key="booking_resources.id", max_length=64, index=True)
    kind: str = Field(max_length=20)
    name: str = Field(max_length=200)
    timezone: str = Field(max_length=64)
    min_notice_minutes: int
    max_notice_minutes: int
    min_duration_minutes: int
    max_duration_minutes: int
    slot_minutes: int
    requires_approval: bool
    credits_per_hour: int
    check_in_opens_before_minutes: int
    check_in_grace_minutes: int
    required_training_id: str | None = Field(default=None, foreign_key="booking_trainings.id", max_length=64)
    created_at: datetime = Field(sa_column=utc_column())

    def rules(self, training: BookingTraining | None = None) -> ResourceRules:
        return ResourceRules(
            zone=zone_named(self.timezone),
            min_notice=timedelta(minutes=self.min_notice_minutes),
            max_notice=timedelta(minutes=self.max_notice_minutes),
            min_duration=timedelta(minutes=self.min_duration_minutes),
            max_duration=timedelta(minutes=self.max_duration_minutes),
            slot_minutes=self.slot_minutes,
            requires_approval=self.requires_approval,
            credits_per_hour=self.credits_per_hour,
            check_in_opens_before=timedelta(minutes=self.check_in_opens_before_minutes),
            check_in_grace=timedelta(minutes=self.check_in_grace_minutes),
            required_training=training.view() if training is not None else None,
        )


class BookingTraining(SQLModel, table=True):
    """A training some resources require: valid `validity_months`, lapsing after `lapse_after_days` unused."""

    __tablename__ = "booking_trainings"

    id: str = Field(primary_key=True, max_length=64)
    context_id: str = Field(max_length=64, index=True)
    name: str = Field(max_length=200)
    validity_months: int
    lapse_after_days: int
    created_at: datetime = Field(sa_column=utc_column())

    def view(self) -> TrainingView:
        return TrainingView(training_id=self.id, name=self.name, validity_months=self.validity_months,
                            lapse_after_days=self.lapse_after_days)


class TrainingRecord(SQLModel, table=True):
    """A member's certification for a training; renewing it moves `certified_at`."""

    __tablename__ = "booking_training_records"

    training_id: str = Field(primary_key=True, foreign_key="booking_trainings.id", max_length=64)
    member_id: str = Field(primary_key=True, max_length=64)
    certified_at: datetime = Field(sa_column=utc_column())
    certified_by: str = Field(max_length=64)
    last_used_at: datetime | None = Field(default=None, sa_column=utc_column(nullable=True))


class BookingPlan(SQLModel, table=True):
    """A membership plan: the daily quota of booked minutes and the credits a subscription starts with."""

    __tablename__ = "booking_plans"

    id: str = Field(primary_key=True, max_length=64)
    context_id: str = Field(max_length=64, index=True)
    name: str = Field(max_length=200)
    daily_quota_minutes: int
    credits: int
    created_at: datetime = Field(sa_column=utc_column())


class BookingSubscription(SQLModel, table=True):
    """A member's subscription to a plan; its credits are usable only for slots inside [starts_at, ends_at)."""

    __tablename__ = "booking_subscriptions"
    __table_args__ = (Index("ix_booking_subscriptions_member", "context_id", "member_id"),)

    id: str = Field(primary_key=True, max_length=64)
    context_id: str = Field(max_length=64)
    plan_id: str = Field(foreign_key="booking_plans.id", max_length=64)
    member_id: str = Field(max_length=64)
    starts_at: datetime = Field(sa_column=utc_column())
    ends_at: datetime = Field(sa_column=utc_column())
    credits_remaining: int
    created_at: datetime = Field(sa_column=utc_column())


class Booking(SQLModel, table=True):
    __tablename__ = "bookings"
    __table_args__ = (
        Index("ix_bookings_resource_start", "resource_id", "start_at"),
        Index("ix_bookings_member_start", "member_id", "start_at"),
        Index("ix_bookings_context_start", "context_id", "start_at"),
    )

    id: str = Field(primary_key=True, max_length=64)
    resource_id: str = Field(foreign_key="booking_resources.id", max_length=64)
    context_id: str = Field(max_length=64)
    member_id: str = Field(max_length=64)
    subscription_id: str = Field(foreign_key="booking_subscriptions.id", max_length=64)
    start_at: datetime = Field(sa_column=utc_column())
    end_at: datetime = Field(sa_column=utc_column())
    state: str = Field(max_length=20)
    credits_charged: int
    recurrence_id: str | None = Field(default=None, max_length=64)
    created_at: datetime = Field(sa_column=utc_column())
    decided_at: datetime | None = Field(default=None, sa_column=utc_column(nullable=True))
    decided_by: str | None = Field(default=None, max_length=64)
    reason: str | None = Field(default=None, max_length=500)
    checked_in_at: datetime | None = Field(default=None, sa_column=utc_column(nullable=True))
