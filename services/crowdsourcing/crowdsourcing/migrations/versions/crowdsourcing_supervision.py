"""Supervision orders: the replica of regulators' restrictions (shared.supervision).

Revision ID: crowdsourcing_supervision
"""

from shared.supervision import create_supervision_table

revision = "crowdsourcing_supervision"
down_revision = "crowdsourcing_listings"
branch_labels = None
depends_on = None


def upgrade() -> None:
    create_supervision_table()


def downgrade() -> None:
    from alembic import op

    op.drop_table("supervision_restrictions")
