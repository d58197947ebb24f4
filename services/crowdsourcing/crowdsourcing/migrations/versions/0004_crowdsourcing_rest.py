"""The rest of issue 4: ranked prizes, public notice (任务公示) with objections, a bid cap, disputes about one
submission (bounty, contest, piece-rate), and the mediator roster replicated from identity events.

Revision ID: 0004_crowdsourcing_rest
"""

import sqlalchemy as sa
from alembic import op

revision = "0004_crowdsourcing_rest"
down_revision = "0003"
branch_labels = None
depends_on = None


ID, AT = sa.String(64), sa.DateTime(timezone=True)


def upgrade() -> None:
    with op.batch_alter_table("tasks") as batch:
        batch.add_column(sa.Column("prize_ranks", sa.String(400), nullable=False, server_default=""))
        batch.add_column(sa.Column("prize_basis", sa.String(10), nullable=False, server_default="equal"))
        batch.add_column(sa.Column("public_notice", sa.Boolean, nullable=False, server_default=sa.false()))
        batch.add_column(sa.Column("max_bids", sa.Integer, nullable=True))
        batch.add_column(sa.Column("bids_placed", sa.Integer, nullable=False, server_default="0"))
    with op.batch_alter_table("disputes") as batch:
        batch.add_column(sa.Column("submission_id", ID, nullable=True))
        batch.add_column(sa.Column("stake_fen", sa.BigInteger, nullable=True))
        batch.create_index("ix_disputes_submission_id", ["submission_id"])
    op.create_table(
        "cs_mediator_roster",
        sa.Column("person_id", ID, primary_key=True),
        sa.Column("roles", sa.String(400), nullable=False),
        sa.Column("updated_at", AT, nullable=False),
        sa.Column("source_event_id", ID, nullable=False),
    )
    op.create_table(
        "cs_award_notices",
        sa.Column("id", ID, primary_key=True),
        sa.Column("task_id", ID, sa.ForeignKey("tasks.id"), nullable=False, index=True),
        sa.Column("milestone_id", ID, sa.ForeignKey("milestones.id"), nullable=False, index=True),
        sa.Column("submission_ids", sa.String(2000), nullable=False),
        sa.Column("leftover", sa.String(20), nullable=False),
        sa.Column("state", sa.String(20), nullable=False, index=True),
        sa.Column("published_by", ID, nullable=False),
        sa.Column("published_at", AT, nullable=False),
        sa.Column("ends_at", AT, nullable=False),
        sa.Column("decided_at", AT, nullable=True),
    )
    op.create_table(
        "cs_award_objections",
        sa.Column("id", ID, primary_key=True),
        sa.Column("notice_id", ID, sa.ForeignKey("cs_award_notices.id"), nullable=False, index=True),
        sa.Column("task_id", ID, sa.ForeignKey("tasks.id"), nullable=False, index=True),
        sa.Column("objector_id", ID, nullable=False),
        sa.Column("reason", sa.String(2000), nullable=False),
        sa.Column("evidence_sha256", sa.String(64), nullable=False),
        sa.Column("state", sa.String(20), nullable=False, index=True),
        sa.Column("reviewer_id", ID, nullable=True),
        sa.Column("note", sa.String(2000), nullable=True),
        sa.Column("filed_at", AT, nullable=False),
        sa.Column("decided_at", AT, nullable=True),
        sa.UniqueConstraint("notice_id", "objector_id", name="uq_cs_award_objections_objector"),
    )


def downgrade() -> None:
    op.drop_table("cs_award_objections")
    op.drop_table("cs_award_notices")
    op.drop_table("cs_mediator_roster")
    with op.batch_alter_table("disputes") as batch:
        batch.drop_index("ix_disputes_submission_id")
        batch.drop_column("stake_fen")
        batch.drop_column("submission_id")
    with op.batch_alter_table("tasks") as batch:
        for column in ("bids_placed", "max_bids", "public_notice", "prize_basis", "prize_ranks"):
            batch.drop_column(column)
