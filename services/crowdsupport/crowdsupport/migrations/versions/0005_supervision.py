"""Supervision orders: the replica of regulators' restrictions (shared.supervision).

Revision ID: 0005
"""

from shared.supervision import create_supervision_table

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    create_supervision_table()


def downgrade() -> None:
    from alembic import op

    op.drop_table("supervision_restrictions")
