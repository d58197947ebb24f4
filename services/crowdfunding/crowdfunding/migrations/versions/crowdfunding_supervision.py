"""Supervision orders: the replica of regulators' restrictions (shared.supervision).

Revision ID: crowdfunding_supervision
"""

from shared.supervision import create_supervision_table

revision = "crowdfunding_supervision"
down_revision = "crowdfunding_listings"
branch_labels = None
depends_on = None


def upgrade() -> None:
    create_supervision_table()


def downgrade() -> None:
    from alembic import op

    op.drop_table("supervision_restrictions")
