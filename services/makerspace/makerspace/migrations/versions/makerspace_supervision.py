"""Supervision orders: the replica of regulators' restrictions (shared.supervision).

Revision ID: makerspace_supervision
"""

from shared.supervision import create_supervision_table

revision = "makerspace_supervision"
down_revision = "makerspace_listings"
branch_labels = None
depends_on = None


def upgrade() -> None:
    create_supervision_table()


def downgrade() -> None:
    from alembic import op

    op.drop_table("supervision_restrictions")
