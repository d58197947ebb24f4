"""Platform tables and the local replica of registered subjects.

Revision ID: 0001
"""

from shared.migrations import create_platform_tables, create_subject_replica_table

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    create_platform_tables()
    create_subject_replica_table()


def downgrade() -> None:
    raise RuntimeError("the initial revision is not reversible; drop the database instead")
