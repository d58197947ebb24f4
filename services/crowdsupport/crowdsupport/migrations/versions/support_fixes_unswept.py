"""The bookings sweep judges only what it tracks: every booking still pending or confirmed whose slot had started
before this upgrade (before the sweep existed; mentor sessions had no check-in) is recorded in
`cs_unswept_bookings`, so the first sweep marks none of them a no-show or expired.

Revision ID: support_fixes_unswept
"""

from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

from shared.db import UTCDateTime

revision = "support_fixes_unswept"
down_revision = "0005"
branch_labels = None
depends_on = None

REASON = "started before the bookings sweep existed: attendance not tracked"


def upgrade() -> None:
    unswept = op.create_table(
        "cs_unswept_bookings",
        sa.Column("booking_id", sa.String(64), sa.ForeignKey("bookings.id"), primary_key=True),
        sa.Column("reason", sa.String(200), nullable=False),
        sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False),
    )
    now = datetime.now(UTC)  # a migration has no service clock; this is when the sweep starts to judge
    bookings = sa.table("bookings", sa.column("id", sa.String), sa.column("state", sa.String),
                        sa.column("start_at", UTCDateTime()))
    op.execute(unswept.insert().from_select(
        ["booking_id", "reason", "recorded_at"],
        sa.select(bookings.c.id, sa.literal(REASON, sa.String), sa.literal(now, UTCDateTime()))
        .where(bookings.c.state.in_(["pending", "confirmed"]), bookings.c.start_at <= sa.literal(now, UTCDateTime()))))


def downgrade() -> None:
    op.drop_table("cs_unswept_bookings")
