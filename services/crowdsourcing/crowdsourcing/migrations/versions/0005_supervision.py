"""Supervision orders: the replica of regulators' restrictions (shared.supervision).

Revision ID: 0005_supervision
"""

from shared.supervision import create_supervision_table

revision = "0005_supervision"
down_revision = "0004_crowdsourcing_rest"
branch_labels = None
depends_on = None


def upgrade() -> None:
    create_supervision_table()


def downgrade() -> None:
    from alembic import op

    op.drop_table("supervision_restrictions")
