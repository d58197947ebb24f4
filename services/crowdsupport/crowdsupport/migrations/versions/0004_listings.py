"""The local replica of credit's listings (shared.listings), for joint incentives and punishments.

Revision ID: 0004
"""

from shared.listings import create_listing_replica_table

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    create_listing_replica_table()


def downgrade() -> None:
    from alembic import op

    op.drop_table("listing_replica")
