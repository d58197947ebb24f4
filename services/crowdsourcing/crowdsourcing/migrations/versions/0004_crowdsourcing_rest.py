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


def _at(name: str, nullable: bool = False) -> sa.Column:  # type: ignore[type-arg]
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def _id(name: str = "id", *args: object, **kwargs: object) -> sa.Column:  # type: ignore[type-arg]
    return sa.Column(name, sa.String(64), *args, **kwargs)  # type: ignore[arg-type]


def upgrade() -> None:
    with op.batch_alter_table("tasks") as batch:
        batch.add_column(sa.Column("prize_ranks", sa.String(400), nullable=False, server_default=""))
        batch.add_column(sa.Column("prize_basis", sa.String(10), nullable=False, server_default="equal"))
        batch.add_column(sa.Column("public_notice", sa.Boolean, nullable=False, server_default=sa.false()))
        batch.add_column(sa.Column("max_bids", sa.Integer, nullable=True))
        batch.add_column(sa.Column("bids_placed", sa.Integer, nullable=False, server_default="0"))
    with op.batch_alter_table("disputes") as batch:
        batch.add_column(_id("submission_id", nullable=True))
        batch.add_column(sa.Column("stake_fen", sa.BigInteger, nullable=True))
        batch.create_index("ix_disputes_submission_id", ["submission_id"])
    op.create_table(
        "cs_mediator_roster",
        _id("person_id", primary_key=True),
        sa.Column("roles", sa.String(400), nullable=False),
        _at("updated_at"),
        _id("source_event_id", nullable=False),
    )
    op.create_table(
        "cs_award_notices",
        _id(primary_key=True),
        _id("task_id", sa.ForeignKey("tasks.id"), nullable=False, index=True),
        _id("milestone_id", sa.ForeignKey("milestones.id"), nullable=False, index=True),
        sa.Column("submission_ids", sa.String(2000), nullable=False),
        sa.Column("leftover", sa.String(20), nullable=False),
        sa.Column("state", sa.String(20), nullable=False, index=True),
        _id("published_by", nullable=False),
        _at("published_at"),
        _at("ends_at"),
        _at("decided_at", nullable=True),
    )
    op.create_table(
        "cs_award_objections",
        _id(primary_key=True),
        _id("notice_id", sa.ForeignKey("cs_award_notices.id"), nullable=False, index=True),
        _id("task_id", sa.ForeignKey("tasks.id"), nullable=False, index=True),
        _id("objector_id", nullable=False),
        sa.Column("reason", sa.String(2000), nullable=False),
        sa.Column("evidence_sha256", sa.String(64), nullable=False),
        sa.Column("state", sa.String(20), nullable=False, index=True),
        _id("reviewer_id", nullable=True),
        sa.Column("note", sa.String(2000), nullable=True),
        _at("filed_at"),
        _at("decided_at", nullable=True),
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
