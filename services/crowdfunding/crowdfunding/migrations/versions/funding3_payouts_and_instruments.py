"""A declined payout or refund issued again: `campaign_payouts.reissue_of` links the new payout to the old one.
The shared-instrument check of every pledge gets its index (instrument, campaign), replacing the instrument's own.

Revision ID: funding3_payouts_and_instruments
"""

import sqlalchemy as sa
from alembic import op

revision = "funding3_payouts_and_instruments"
down_revision = "crowdfunding_refund_deadline"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("campaign_payouts") as batch:
        batch.add_column(sa.Column("reissue_of", sa.String(64), nullable=True))
    op.drop_index("ix_pledges_instrument_hash", table_name="pledges")
    op.create_index("ix_pledges_instrument_campaign", "pledges", ["instrument_hash", "campaign_id"])


def downgrade() -> None:
    op.drop_index("ix_pledges_instrument_campaign", table_name="pledges")
    op.create_index("ix_pledges_instrument_hash", "pledges", ["instrument_hash"])
    with op.batch_alter_table("campaign_payouts") as batch:
        batch.drop_column("reissue_of")
