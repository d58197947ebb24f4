"""Refund deadlines in working days: the holiday calendar (shared.workdays) and `campaigns.refunds_due_by`.

Revision ID: crowdfunding_refund_deadline
"""

import sqlalchemy as sa
from alembic import op

from shared.migrations import create_holiday_calendar_table

revision = "crowdfunding_refund_deadline"
down_revision = "crowdfunding_supervision"
branch_labels = None
depends_on = None


def upgrade() -> None:
    create_holiday_calendar_table()
    with op.batch_alter_table("campaigns") as batch:
        batch.add_column(sa.Column("refunds_due_by", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("campaigns") as batch:
        batch.drop_column("refunds_due_by")
    op.drop_table("holiday_calendar")
