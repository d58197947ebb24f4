"""Requests to re-issue a declined payout or refund to another payment party (four eyes): pending until a second
reviewer approves or someone rejects; at most one pending per payout (a partial unique index).

Revision ID: funding_gaps_reissue_requests
"""

import sqlalchemy as sa
from alembic import op

revision = "funding_gaps_reissue_requests"
down_revision = "funding3_payouts_and_instruments"
branch_labels = None
depends_on = None

_PENDING = sa.text("state = 'pending'")


def upgrade() -> None:
    op.create_table(
        "payout_reissue_requests",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("payout_id", sa.String(64), sa.ForeignKey("campaign_payouts.id"), nullable=False),
        sa.Column("campaign_id", sa.String(64), sa.ForeignKey("campaigns.id"), nullable=False),
        sa.Column("kind", sa.String(10), nullable=False),
        sa.Column("party_id", sa.String(64), nullable=False),
        sa.Column("from_party", sa.String(120), nullable=False),
        sa.Column("party", sa.String(120), nullable=False),
        sa.Column("currency", sa.String(3), nullable=False),
        sa.Column("amount_fen", sa.BigInteger, nullable=False),
        sa.Column("why", sa.String(2000), nullable=False),
        sa.Column("state", sa.String(10), nullable=False),
        sa.Column("requested_by", sa.String(200), nullable=False),
        sa.Column("requested_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("decided_by", sa.String(200), nullable=True),
        sa.Column("decided_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("decision_note", sa.String(2000), nullable=True),
        sa.Column("new_payout_id", sa.String(64), nullable=True),
    )
    for column in ("payout_id", "campaign_id", "party_id", "state"):
        op.create_index(f"ix_payout_reissue_requests_{column}", "payout_reissue_requests", [column])
    op.create_index("ux_reissue_requests_pending", "payout_reissue_requests", ["payout_id"], unique=True,
                    sqlite_where=_PENDING, postgresql_where=_PENDING)


def downgrade() -> None:
    op.drop_table("payout_reissue_requests")
