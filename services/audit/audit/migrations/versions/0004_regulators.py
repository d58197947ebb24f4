"""The regulator stream's watermark, supervision orders and their confirmations, unfilled sequence gaps, statistics.

Revision ID: 0004_regulators
"""

import sqlalchemy as sa
from alembic import op

revision = "0004_regulators"
down_revision = "0003"
branch_labels = None
depends_on = None


def _time(name: str, nullable: bool = False) -> sa.Column[object]:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def upgrade() -> None:
    op.create_table(
        "audit_supervision_orders",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("number", sa.Integer, nullable=False, unique=True),
        sa.Column("action", sa.String(10), nullable=False),
        sa.Column("target_type", sa.String(20), nullable=False, index=True),
        sa.Column("target_id", sa.String(64), nullable=False, index=True),
        sa.Column("reason", sa.String(2000), nullable=False),
        sa.Column("issued_by", sa.String(200), nullable=False),
        _time("issued_at"),
        sa.Column("expected", sa.String(200), nullable=False),
        _time("confirmed_at", nullable=True),
        _time("overdue_at", nullable=True),
    )
    op.create_table(
        "audit_order_confirmations",
        sa.Column("order_id", sa.String(64), primary_key=True),
        sa.Column("service", sa.String(40), primary_key=True),
        sa.Column("applied", sa.Boolean, nullable=False),
        sa.Column("detail", sa.String(2000), nullable=False),
        sa.Column("event_id", sa.String(64), nullable=False),
        _time("confirmed_at"),
    )
    op.create_table(
        "audit_sequence_gaps",
        sa.Column("source", sa.String(100), primary_key=True),
        sa.Column("first_missing", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("last_missing", sa.Integer, nullable=False),
        _time("detected_at"),
        _time("reported_at", nullable=True),
        _time("filled_at", nullable=True),
    )
    op.create_table(
        "audit_statistics",
        sa.Column("crowd", sa.String(20), primary_key=True),
        sa.Column("metric", sa.String(60), primary_key=True),
        sa.Column("day", sa.Date, primary_key=True),
        sa.Column("region", sa.String(6), primary_key=True),
        sa.Column("count", sa.Integer, nullable=False),
        sa.Column("total", sa.BigInteger, nullable=False),
    )
    op.create_table(
        "audit_subject_regions",
        sa.Column("subject_id", sa.String(64), primary_key=True),
        sa.Column("region", sa.String(6), nullable=False),
    )
    op.create_table(
        "audit_stream_watermark",
        sa.Column("name", sa.String(40), primary_key=True),
        sa.Column("published_through", sa.Integer, nullable=False),
    )
    op.create_index("ix_log_entries_event_time", "log_entries", ["event_time"])


def downgrade() -> None:
    op.drop_index("ix_log_entries_event_time", "log_entries")
    for table in ("audit_stream_watermark", "audit_subject_regions", "audit_statistics", "audit_sequence_gaps",
                  "audit_order_confirmations", "audit_supervision_orders"):
        op.drop_table(table)
