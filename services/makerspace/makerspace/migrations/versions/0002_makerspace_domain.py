"""Maker-space domain: spaces, cohorts, applications, workspaces, activities, metrics, and the booking engine.

Revision ID: 0002
"""

import sqlalchemy as sa
from alembic import op

from shared.booking.schema import create_booking_tables, drop_booking_tables

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def _ts(name: str, nullable: bool = False) -> sa.Column:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def upgrade() -> None:
    op.create_table(
        "spaces",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("tier", sa.String(40), nullable=False),
        sa.Column("kind", sa.String(20), nullable=False),
        sa.Column("industry", sa.String(100), nullable=True),
        sa.Column("operator_id", sa.String(64), nullable=False, index=True),
        sa.Column("organisation_id", sa.String(64), nullable=True),
        sa.Column("region_code", sa.String(6), nullable=False),
        sa.Column("capacity", sa.Integer, nullable=False),
        sa.Column("services", sa.String(2000), nullable=False),
        sa.Column("timezone", sa.String(64), nullable=False),
        _ts("created_at"),
    )
    op.create_table(
        "cohorts",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("space_id", sa.String(64), sa.ForeignKey("spaces.id"), nullable=False, index=True),
        sa.Column("name", sa.String(200), nullable=False),
        _ts("starts_at"),
        sa.Column("capacity", sa.Integer, nullable=False),
        sa.Column("admitted", sa.Integer, nullable=False),
        _ts("created_at"),
        sa.CheckConstraint("admitted >= 0 AND admitted <= capacity", name="ck_cohorts_admitted"),
    )
    op.create_table(
        "applications",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("space_id", sa.String(64), sa.ForeignKey("spaces.id"), nullable=False, index=True),
        sa.Column("applicant_id", sa.String(64), nullable=False, index=True),
        sa.Column("organisation_id", sa.String(64), nullable=True),
        sa.Column("startup_name", sa.String(200), nullable=False),
        sa.Column("summary", sa.String(4000), nullable=False),
        sa.Column("state", sa.String(20), nullable=False),
        sa.Column("cohort_id", sa.String(64), sa.ForeignKey("cohorts.id"), nullable=True),
        sa.Column("jobs_created", sa.Integer, nullable=False),
        sa.Column("funding_raised_fen", sa.BigInteger, nullable=False),
        _ts("submitted_at"),
        _ts("updated_at"),
        sa.Column("last_reason", sa.String(500), nullable=True),
    )
    op.create_table(
        "workspaces",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("space_id", sa.String(64), sa.ForeignKey("spaces.id"), nullable=False, index=True),
        sa.Column("kind", sa.String(10), nullable=False),
        sa.Column("label", sa.String(100), nullable=False),
        sa.Column("application_id", sa.String(64), sa.ForeignKey("applications.id"), nullable=True, unique=True),
        _ts("allocated_at", nullable=True),
        _ts("created_at"),
        sa.UniqueConstraint("space_id", "label", name="uq_workspaces_label"),
    )
    create_booking_tables()
    op.create_table(
        "activities",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("space_id", sa.String(64), sa.ForeignKey("spaces.id"), nullable=False, index=True),
        sa.Column("kind", sa.String(20), nullable=False),
        sa.Column("title", sa.String(200), nullable=False),
        _ts("starts_at"),
        _ts("ends_at"),
        sa.Column("capacity", sa.Integer, nullable=False),
        sa.Column("registered", sa.Integer, nullable=False),
        sa.Column("training_id", sa.String(64), sa.ForeignKey("booking_trainings.id"), nullable=True),
        _ts("created_at"),
        sa.CheckConstraint("registered >= 0 AND registered <= capacity", name="ck_activities_registered"),
    )
    op.create_table(
        "activity_registrations",
        sa.Column("activity_id", sa.String(64), sa.ForeignKey("activities.id"), primary_key=True),
        sa.Column("member_id", sa.String(64), primary_key=True),
        _ts("registered_at"),
    )
    op.create_table(
        "space_metrics",
        sa.Column("space_id", sa.String(64), sa.ForeignKey("spaces.id"), primary_key=True),
        sa.Column("residents", sa.Integer, nullable=False),
        sa.Column("graduations", sa.Integer, nullable=False),
        sa.Column("exits", sa.Integer, nullable=False),
        sa.Column("jobs_created", sa.Integer, nullable=False),
        sa.Column("funding_raised_fen", sa.BigInteger, nullable=False),
        _ts("updated_at"),
    )


def downgrade() -> None:
    for table in ("space_metrics", "activity_registrations", "activities"):
        op.drop_table(table)
    drop_booking_tables()
    for table in ("workspaces", "applications", "cohorts", "spaces"):
        op.drop_table(table)
