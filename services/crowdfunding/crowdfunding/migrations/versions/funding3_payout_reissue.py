"""A declined payout or refund issued again: `campaign_payouts.reissue_of` links the new payout to the old one.

Revision ID: funding3_payout_reissue
"""

import sqlalchemy as sa
from alembic import op

revision = "funding3_payout_reissue"
down_revision = "crowdfunding_refund_deadline"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("campaign_payouts") as batch:
        batch.add_column(sa.Column("reissue_of", sa.String(64), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("campaign_payouts") as batch:
        batch.drop_column("reissue_of")
