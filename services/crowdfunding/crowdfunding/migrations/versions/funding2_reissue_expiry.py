"""A re-issue request's deadline (`expires_at`, the end of the policy's last working day to decide it); requests made
before it get theirs from the `reissue-expiry` job.

Revision ID: funding2_reissue_expiry
"""

import sqlalchemy as sa
from alembic import op

revision = "funding2_reissue_expiry"
down_revision = "funding2_payout_account"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("payout_reissue_requests") as batch:
        batch.add_column(sa.Column("expires_at", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("payout_reissue_requests") as batch:
        batch.drop_column("expires_at")
