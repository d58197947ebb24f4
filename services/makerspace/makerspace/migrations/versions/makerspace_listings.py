"""The local replica of credit's listings (shared.listings), for joint incentives and punishments.

Revision ID: makerspace_listings
"""

from shared.listings import create_listing_replica_table

revision = "makerspace_listings"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    create_listing_replica_table()


def downgrade() -> None:
    from alembic import op

    op.drop_table("listing_replica")
