"""The replica of the gateway's API keys.

Revision ID: 0002
"""

from alembic import op

from shared.migrations import create_api_key_replica_table

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    create_api_key_replica_table()


def downgrade() -> None:
    op.drop_table("api_key_replica")
