"""The local replica of credit's listings (shared.listings), for joint incentives and punishments.

Revision ID: crowdsourcing_listings
"""

from shared.listings import create_listing_replica_table

revision = "crowdsourcing_listings"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    create_listing_replica_table()


def downgrade() -> None:
    from alembic import op

    op.drop_table("listing_replica")
