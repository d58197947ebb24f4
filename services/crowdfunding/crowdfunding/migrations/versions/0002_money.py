"""The ledger and payment tables (shared.ledger, shared.payments): this service moves money.

Revision ID: 0002
"""

from alembic import op

from shared.migrations import create_money_tables

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    create_money_tables()


def downgrade() -> None:
    for table in ("sandbox_provider_operations", "payment_attempts", "ledger_entries", "ledger_transactions"):
        op.drop_table(table)
