"""Alembic operations that create the booking engine's tables (see shared.booking.models).

A service calls `create_booking_tables()` from one of its own migrations, as it does for the platform tables.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op


def _ts(name: str, nullable: bool = False) -> sa.Column[object]:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def create_booking_tables() -> None:
    op.create_table(
        "booking_trainings",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("context_id", sa.String(64), nullable=False, index=True),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("validity_months", sa.Integer, nullable=False),
        sa.Column("lapse_after_days", sa.Integer, nullable=False),
        _ts("created_at"),
    )
    op.create_table(
        "booking_training_records",
        sa.Column("training_id", sa.String(64), sa.ForeignKey("booking_trainings.id"), primary_key=True),
        sa.Column("member_id", sa.String(64), primary_key=True),
        _ts("certified_at"),
        sa.Column("certified_by", sa.String(64), nullable=False),
        _ts("last_used_at", nullable=True),
    )
    op.create_table(
        "booking_resources",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("context_id", sa.String(64), nullable=False, index=True),
        sa.Column("parent_id", sa.String(64), sa.ForeignKey("booking_resources.id"), nullable=True, index=True),
        sa.Column("kind", sa.String(20), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("timezone", sa.String(64), nullable=False),
        sa.Column("min_notice_minutes", sa.Integer, nullable=False),
        sa.Column("max_notice_minutes", sa.Integer, nullable=False),
        sa.Column("min_duration_minutes", sa.Integer, nullable=False),
        sa.Column("max_duration_minutes", sa.Integer, nullable=False),
        sa.Column("slot_minutes", sa.Integer, nullable=False),
        sa.Column("requires_approval", sa.Boolean, nullable=False),
        sa.Column("credits_per_hour", sa.Integer, nullable=False),
        sa.Column("check_in_opens_before_minutes", sa.Integer, nullable=False),
        sa.Column("check_in_grace_minutes", sa.Integer, nullable=False),
        sa.Column("required_training_id", sa.String(64), sa.ForeignKey("booking_trainings.id"), nullable=True),
        _ts("created_at"),
    )
    op.create_table(
        "booking_plans",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("context_id", sa.String(64), nullable=False, index=True),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("daily_quota_minutes", sa.Integer, nullable=False),
        sa.Column("credits", sa.Integer, nullable=False),
        _ts("created_at"),
    )
    op.create_table(
        "booking_subscriptions",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("context_id", sa.String(64), nullable=False),
        sa.Column("plan_id", sa.String(64), sa.ForeignKey("booking_plans.id"), nullable=False),
        sa.Column("member_id", sa.String(64), nullable=False),
        _ts("starts_at"),
        _ts("ends_at"),
        sa.Column("credits_remaining", sa.Integer, sa.CheckConstraint("credits_remaining >= 0"), nullable=False),
        _ts("created_at"),
    )
    op.create_index("ix_booking_subscriptions_member", "booking_subscriptions", ["context_id", "member_id"])
    op.create_table(
        "bookings",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("resource_id", sa.String(64), sa.ForeignKey("booking_resources.id"), nullable=False),
        sa.Column("context_id", sa.String(64), nullable=False),
        sa.Column("member_id", sa.String(64), nullable=False),
        sa.Column("subscription_id", sa.String(64), sa.ForeignKey("booking_subscriptions.id"), nullable=False),
        _ts("start_at"),
        _ts("end_at"),
        sa.Column("state", sa.String(20), nullable=False),
        sa.Column("credits_charged", sa.Integer, nullable=False),
        sa.Column("recurrence_id", sa.String(64), nullable=True),
        _ts("created_at"),
        _ts("decided_at", nullable=True),
        sa.Column("decided_by", sa.String(64), nullable=True),
        sa.Column("reason", sa.String(500), nullable=True),
        _ts("checked_in_at", nullable=True),
        sa.CheckConstraint("end_at > start_at", name="ck_bookings_positive"),
    )
    op.create_index("ix_bookings_resource_start", "bookings", ["resource_id", "start_at"])
    op.create_index("ix_bookings_member_start", "bookings", ["member_id", "start_at"])
    op.create_index("ix_bookings_context_start", "bookings", ["context_id", "start_at"])


def drop_booking_tables() -> None:
    for table in ("bookings", "booking_subscriptions", "booking_plans", "booking_resources",
                  "booking_training_records", "booking_trainings"):
        op.drop_table(table)
