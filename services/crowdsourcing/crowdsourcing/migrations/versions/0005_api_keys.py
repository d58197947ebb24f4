"""The replica of the gateway's API keys and real-name verification on the subject replica.

Revision ID: 0005
"""

from alembic import op

from shared.migrations import (
    add_subject_verification_columns,
    create_api_key_replica_table,
    drop_subject_verification_columns,
)

revision = "0005"
down_revision = "0004_crowdsourcing_rest"
branch_labels = None
depends_on = None


def upgrade() -> None:
    create_api_key_replica_table()
    add_subject_verification_columns()


def downgrade() -> None:
    drop_subject_verification_columns()
    op.drop_table("api_key_replica")
