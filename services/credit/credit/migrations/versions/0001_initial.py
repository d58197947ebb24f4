"""Platform tables, credit records and their changes.

Revision ID: 0001
"""

import sqlalchemy as sa
from alembic import op

from shared.migrations import create_platform_tables

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    create_platform_tables()
    op.create_table(
        "credit_records",
        sa.Column("subject_id", sa.String(64), primary_key=True),
        sa.Column("subject_kind", sa.String(20), nullable=False),
        sa.Column("owner_id", sa.String(64), nullable=False, index=True),
        sa.Column("score", sa.Integer, nullable=False),
        sa.Column("policy_version", sa.String(40), nullable=False),
        sa.Column("opened_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_table(
        "credit_record_changes",
        sa.Column("subject_id", sa.String(64), sa.ForeignKey("credit_records.subject_id"), primary_key=True),
        sa.Column("event_id", sa.String(64), primary_key=True),
        sa.Column("event_type", sa.String(200), nullable=False),
        sa.Column("score_before", sa.Integer, nullable=True),
        sa.Column("score_after", sa.Integer, nullable=False),
        sa.Column("policy_version", sa.String(40), nullable=False),
        sa.Column("changed_at", sa.DateTime(timezone=True), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("credit_record_changes")
    op.drop_table("credit_records")
