"""Crowdsourcing domain: tasks, milestones, bids, submissions, disputes, evidence, ratings, reports, payouts.

Revision ID: 0003
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def _at(name: str, nullable: bool = False) -> sa.Column:  # type: ignore[type-arg]
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def _id(name: str = "id", *args: object, **kwargs: object) -> sa.Column:  # type: ignore[type-arg]
    return sa.Column(name, sa.String(64), *args, **kwargs)  # type: ignore[arg-type]


def upgrade() -> None:
    op.create_table(
        "tasks",
        _id(primary_key=True),
        _id("parent_id", sa.ForeignKey("tasks.id"), nullable=True, index=True),
        _id("poster_id", nullable=False, index=True),
        sa.Column("poster_type", sa.String(20), nullable=False),
        _id("organisation_id", nullable=True),
        sa.Column("poster_verified", sa.Boolean, nullable=False),
        sa.Column("mode", sa.String(20), nullable=False),
        sa.Column("kind", sa.String(40), nullable=False),
        sa.Column("title", sa.String(200), nullable=False),
        sa.Column("description", sa.String(8000), nullable=False),
        sa.Column("currency", sa.String(3), nullable=False),
        sa.Column("budget_fen", sa.BigInteger, nullable=False),
        sa.Column("winners", sa.Integer, nullable=False),
        sa.Column("piece_price_fen", sa.BigInteger, nullable=True),
        sa.Column("piece_quantity", sa.Integer, nullable=True),
        sa.Column("pieces_accepted", sa.Integer, nullable=False),
        sa.Column("involves_personal_data", sa.Boolean, nullable=False),
        sa.Column("visibility", sa.String(10), nullable=False),
        sa.Column("invited", sa.String(4000), nullable=False),
        _id("direct_solver_id", nullable=True),
        _id("assignee_id", nullable=True, index=True),
        _id("chosen_bid_id", nullable=True),
        sa.Column("state", sa.String(20), nullable=False, index=True),
        sa.Column("reason", sa.String(40), nullable=True),
        sa.Column("current_seq", sa.Integer, nullable=False),
        _at("deadline"),
        _at("state_since"),
        sa.Column("policy_version", sa.String(40), nullable=False),
        _at("created_at"),
        _at("updated_at"),
        _at("completed_at", nullable=True),
    )
    op.create_table(
        "milestones",
        _id(primary_key=True),
        _id("task_id", sa.ForeignKey("tasks.id"), nullable=False, index=True),
        sa.Column("seq", sa.Integer, nullable=False),
        sa.Column("title", sa.String(200), nullable=False),
        sa.Column("amount_fen", sa.BigInteger, nullable=False),
        _at("due_at"),
        sa.Column("state", sa.String(20), nullable=False),
        sa.Column("revisions", sa.Integer, nullable=False),
        _at("funded_at", nullable=True),
        _at("settled_at", nullable=True),
        _at("warned_at", nullable=True),
        _at("escalated_at", nullable=True),
        sa.UniqueConstraint("task_id", "seq", name="uq_milestones_seq"),
    )
    op.create_table(
        "bids",
        _id(primary_key=True),
        _id("task_id", sa.ForeignKey("tasks.id"), nullable=False, index=True),
        _id("solver_id", nullable=False, index=True),
        sa.Column("price_fen", sa.BigInteger, nullable=False),
        sa.Column("days", sa.Integer, nullable=False),
        sa.Column("plan", sa.String(4000), nullable=False),
        sa.Column("state", sa.String(20), nullable=False),
        _at("placed_at"),
        sa.UniqueConstraint("task_id", "solver_id", name="uq_bids_solver"),
    )
    op.create_table(
        "submissions",
        _id(primary_key=True),
        _id("task_id", sa.ForeignKey("tasks.id"), nullable=False, index=True),
        _id("milestone_id", sa.ForeignKey("milestones.id"), nullable=False, index=True),
        _id("solver_id", nullable=False, index=True),
        sa.Column("content", sa.String(20000), nullable=False),
        sa.Column("content_sha256", sa.String(64), nullable=False, index=True),
        _id("duplicate_of", nullable=True),
        sa.Column("state", sa.String(20), nullable=False),
        sa.Column("on_time", sa.Boolean, nullable=False),
        sa.Column("auto_accepted", sa.Boolean, nullable=False),
        _at("submitted_at"),
        _at("decided_at", nullable=True),
    )
    op.create_table(
        "disputes",
        _id(primary_key=True),
        _id("task_id", sa.ForeignKey("tasks.id"), nullable=False, index=True),
        _id("milestone_id", sa.ForeignKey("milestones.id"), nullable=False),
        _id("poster_id", nullable=False),
        _id("solver_id", nullable=False),
        _id("opened_by", nullable=False),
        sa.Column("reason", sa.String(2000), nullable=False),
        sa.Column("stage", sa.String(30), nullable=False, index=True),
        _id("mediator_id", nullable=True, index=True),
        sa.Column("third_party", sa.String(200), nullable=True),
        sa.Column("poster_proposal", sa.Integer, nullable=True),
        sa.Column("solver_proposal", sa.Integer, nullable=True),
        sa.Column("solver_share_percent", sa.Integer, nullable=True),
        sa.Column("basis", sa.String(2000), nullable=True),
        _at("opened_at"),
        _at("updated_at"),
        _at("resolved_at", nullable=True),
    )
    # at most one unresolved dispute per milestone
    op.create_index("uq_disputes_open_milestone", "disputes", ["milestone_id"], unique=True,
                    sqlite_where=sa.text("stage <> 'resolved'"), postgresql_where=sa.text("stage <> 'resolved'"))
    op.create_table(
        "dispute_evidence",
        _id(primary_key=True),
        _id("dispute_id", sa.ForeignKey("disputes.id"), nullable=False, index=True),
        _id("party_id", nullable=False),
        sa.Column("text", sa.String(8000), nullable=False),
        sa.Column("sha256", sa.String(64), nullable=False),
        _at("added_at"),
    )
    op.create_table(
        "ratings",
        _id(primary_key=True),
        _id("task_id", sa.ForeignKey("tasks.id"), nullable=False, index=True),
        _id("rater_id", nullable=False),
        _id("ratee_id", nullable=False, index=True),
        sa.Column("score", sa.Integer, nullable=False),
        sa.Column("comment", sa.String(2000), nullable=False),
        sa.Column("is_default", sa.Boolean, nullable=False),
        _at("given_at"),
        sa.UniqueConstraint("task_id", "rater_id", "ratee_id", name="uq_ratings_pair"),
    )
    op.create_table(
        "reports",
        _id(primary_key=True),
        _id("task_id", sa.ForeignKey("tasks.id"), nullable=False, index=True),
        _id("submission_id", sa.ForeignKey("submissions.id"), nullable=True),
        _id("reporter_id", nullable=False),
        sa.Column("reason", sa.String(20), nullable=False),
        sa.Column("detail", sa.String(4000), nullable=False),
        sa.Column("state", sa.String(20), nullable=False, index=True),
        _id("reviewer_id", nullable=True),
        sa.Column("note", sa.String(2000), nullable=True),
        _at("filed_at"),
        _at("decided_at", nullable=True),
    )
    op.create_table(
        "payouts",
        _id(primary_key=True),
        _id("task_id", sa.ForeignKey("tasks.id"), nullable=False, index=True),
        sa.Column("kind", sa.String(10), nullable=False),
        _id("party_id", nullable=False, index=True),
        sa.Column("account", sa.String(200), nullable=False),
        sa.Column("currency", sa.String(3), nullable=False),
        sa.Column("amount_fen", sa.BigInteger, nullable=False),
        sa.Column("idempotency_key", sa.String(120), nullable=False, unique=True),
        sa.Column("cause", sa.String(120), nullable=False),
        sa.Column("status", sa.String(10), nullable=False, index=True),
        sa.Column("reference", sa.String(120), nullable=True),
        sa.Column("failure", sa.String(300), nullable=True),
        _at("created_at"),
        _at("settled_at", nullable=True),
    )


def downgrade() -> None:
    for table in ("payouts", "reports", "ratings", "dispute_evidence", "disputes", "submissions", "bids",
                  "milestones", "tasks"):
        op.drop_table(table)
