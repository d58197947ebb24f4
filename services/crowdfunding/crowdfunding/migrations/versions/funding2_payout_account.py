"""The campaign's payout account as moved by an approved re-issue of a founder payout to another account: the
request that moved it, its approver and when (the account itself stays in `payout_party`).

Revision ID: funding2_payout_account
"""

import sqlalchemy as sa
from alembic import op

revision = "funding2_payout_account"
down_revision = "funding_gaps_pledge_failure"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("campaigns") as batch:
        batch.add_column(sa.Column("payout_party_request_id", sa.String(64), nullable=True))
        batch.add_column(sa.Column("payout_party_approved_by", sa.String(200), nullable=True))
        batch.add_column(sa.Column("payout_party_changed_at", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("campaigns") as batch:
        batch.drop_column("payout_party_changed_at")
        batch.drop_column("payout_party_approved_by")
        batch.drop_column("payout_party_request_id")
