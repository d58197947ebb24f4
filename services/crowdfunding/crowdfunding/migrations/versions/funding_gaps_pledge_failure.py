"""The provider's reason for a declined charge (its callback's `failure`, or its answer to the charge), kept on the
pledge where its backer reads it.

Revision ID: funding_gaps_pledge_failure
"""

import sqlalchemy as sa
from alembic import op

revision = "funding_gaps_pledge_failure"
down_revision = "funding_gaps_reissue_requests"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("pledges") as batch:
        batch.add_column(sa.Column("payment_failure", sa.String(300), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("pledges") as batch:
        batch.drop_column("payment_failure")
