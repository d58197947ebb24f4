"""Scores with dimensions, credit facts, red/black listings, objections, repair requests, report consents.

Revision ID: 0003
"""

import sqlalchemy as sa
from alembic import op

from shared.migrations import create_holiday_calendar_table

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def _ts(name: str, nullable: bool = False) -> sa.Column:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def upgrade() -> None:
    create_holiday_calendar_table()
    op.add_column("credit_records", sa.Column("dimensions", sa.String(400), nullable=False, server_default="{}"))
    op.add_column("credit_records", _ts("as_of", nullable=True))
    op.add_column("credit_records", sa.Column("name", sa.String(200), nullable=False, server_default=""))
    op.add_column("credit_records", sa.Column("registration_number_masked", sa.String(32), nullable=False,
                                              server_default=""))
    op.add_column("credit_record_changes", sa.Column("cause_event_ids", sa.String(8000), nullable=False,
                                                     server_default="[]"))
    op.add_column("credit_record_changes", sa.Column("dimensions", sa.String(400), nullable=False,
                                                     server_default="{}"))
    op.create_table(
        "credit_facts",
        sa.Column("position", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("subject_id", sa.String(64), nullable=False, index=True),
        sa.Column("kind", sa.String(40), nullable=False),
        sa.Column("ref", sa.String(200), nullable=False),
        sa.Column("event_id", sa.String(64), nullable=False),
        sa.Column("event_type", sa.String(200), nullable=False),
        _ts("at"),
        sa.UniqueConstraint("event_id", "subject_id", "kind", name="uq_credit_facts_event"),
    )
    op.create_table(
        "credit_listings",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("subject_id", sa.String(64), nullable=False, index=True),
        sa.Column("list_kind", sa.String(10), nullable=False),
        sa.Column("tier", sa.String(10), nullable=False),
        sa.Column("state", sa.String(20), nullable=False, index=True),
        sa.Column("rule", sa.String(60), nullable=False),
        sa.Column("reasons", sa.String(4000), nullable=False),
        sa.Column("basis", sa.String(400), nullable=False),
        sa.Column("cause_event_ids", sa.String(8000), nullable=False),
        sa.Column("policy_version", sa.String(40), nullable=False),
        _ts("notified_at"), _ts("notice_ends_at"), _ts("listed_at", True), _ts("publish_until", True),
        _ts("ended_at", True),
        sa.Column("end_reason", sa.String(40), nullable=True),
    )
    op.create_table(
        "credit_objections",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("listing_id", sa.String(64), sa.ForeignKey("credit_listings.id"), nullable=False, index=True),
        sa.Column("subject_id", sa.String(64), nullable=False),
        sa.Column("grounds", sa.String(4000), nullable=False),
        _ts("filed_at"), _ts("feedback_due"),
        sa.Column("state", sa.String(20), nullable=False),
        sa.Column("decided_by", sa.String(64), nullable=True),
        _ts("decided_at", True),
        sa.Column("note", sa.String(4000), nullable=False),
    )
    op.create_table(
        "credit_repairs",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("listing_id", sa.String(64), sa.ForeignKey("credit_listings.id"), nullable=False, index=True),
        sa.Column("subject_id", sa.String(64), nullable=False),
        sa.Column("commitment", sa.String(4000), nullable=False),
        sa.Column("correction", sa.String(4000), nullable=False),
        _ts("requested_at"), _ts("decide_by"),
        sa.Column("state", sa.String(20), nullable=False),
        sa.Column("decided_by", sa.String(64), nullable=True),
        _ts("decided_at", True),
        sa.Column("note", sa.String(4000), nullable=False),
    )
    op.create_table(
        "credit_consents",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("subject_id", sa.String(64), nullable=False, index=True),
        sa.Column("party_id", sa.String(64), nullable=False, index=True),
        sa.Column("purpose", sa.String(400), nullable=False),
        _ts("granted_at"), _ts("revoked_at", True),
    )


def downgrade() -> None:
    """Everything `upgrade` added, tables and columns, so that upgrading again adds it again. The columns go by
    `ALTER TABLE ... DROP COLUMN` (SQLite has it since 3.35): a batch copy of `credit_records` would drop a table
    that `credit_record_changes` references, which SQLite's foreign keys refuse once there are changes."""
    for table in ("credit_consents", "credit_repairs", "credit_objections", "credit_listings", "credit_facts",
                  "holiday_calendar"):
        op.drop_table(table)
    for column in ("dimensions", "cause_event_ids"):
        op.drop_column("credit_record_changes", column)
    for column in ("registration_number_masked", "name", "as_of", "dimensions"):
        op.drop_column("credit_records", column)
