"""Missed deadlines: an objection or a repair request found past its deadline undecided (`overdue_at`), and a
decision taken after it (`decided_late`). Rows decided late before this revision are marked here (overdue at
their decision), without an event; the `overdue` job marks and announces the pending ones at its first run.

Revision ID: credit_edges_overdue
"""

import sqlalchemy as sa
from alembic import op

revision = "credit_edges_overdue"
down_revision = "0003"
branch_labels = None
depends_on = None

DEADLINES = (("credit_objections", "feedback_due"), ("credit_repairs", "decide_by"))


def upgrade() -> None:
    for table, due in DEADLINES:
        op.add_column(table, sa.Column("overdue_at", sa.DateTime(timezone=True), nullable=True))
        op.add_column(table, sa.Column("decided_late", sa.Boolean, nullable=False, server_default=sa.false()))
        rows = sa.table(table, sa.column(due), sa.column("decided_at"), sa.column("overdue_at"),
                        sa.column("decided_late", sa.Boolean))
        op.execute(rows.update().where(rows.c.decided_at.is_not(None), rows.c.decided_at > rows.c[due])
                   .values(decided_late=sa.true(), overdue_at=rows.c.decided_at))


def downgrade() -> None:
    """Plain `DROP COLUMN` (SQLite has it since 3.35), as 0003 does: neither column is indexed or referenced."""
    for table, _ in DEADLINES:
        op.drop_column(table, "decided_late")
        op.drop_column(table, "overdue_at")
