"""Crowdsourcing tables: tasks with milestones, bids, submissions (with their content hash as evidence),
disputes and their evidence, ratings, reports, and payouts (the payment side of the escrow ledger).

Money is integer fen; escrow balances themselves live in the shared double-entry ledger
(account `escrow/task/<task>/milestone/<milestone>`), never in these rows.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, Column, UniqueConstraint
from sqlmodel import Field, SQLModel

from shared.db import utc_column


class Task(SQLModel, table=True):
    __tablename__ = "tasks"

    id: str = Field(primary_key=True, max_length=64)
    parent_id: str | None = Field(default=None, foreign_key="tasks.id", max_length=64, index=True)
    poster_id: str = Field(max_length=64, index=True)
    poster_type: str = Field(max_length=20, description="enterprise | institute | agency (public-service purchase)")
    organisation_id: str | None = Field(default=None, max_length=64)
    poster_verified: bool = False
    mode: str = Field(max_length=20)
    kind: str = Field(max_length=40)
    title: str = Field(max_length=200)
    description: str = Field(max_length=8000)
    currency: str = Field(default="CNY", max_length=3)
    budget_fen: int = Field(sa_column=Column(BigInteger, nullable=False))
    winners: int = 1
    piece_price_fen: int | None = Field(default=None, sa_column=Column(BigInteger, nullable=True))
    piece_quantity: int | None = None
    pieces_accepted: int = 0
    involves_personal_data: bool = False
    visibility: str = Field(max_length=10, description="public | invited")
    invited: str = Field(default="", max_length=4000, description="newline-separated invited solver ids")
    direct_solver_id: str | None = Field(default=None, max_length=64)
    assignee_id: str | None = Field(default=None, max_length=64, index=True)
    chosen_bid_id: str | None = Field(default=None, max_length=64)
    state: str = Field(max_length=20, index=True)
    reason: str | None = Field(default=None, max_length=40)
    current_seq: int = 1
    deadline: datetime = Field(sa_column=utc_column())
    state_since: datetime = Field(sa_column=utc_column())
    policy_version: str = Field(max_length=40)
    created_at: datetime = Field(sa_column=utc_column())
    updated_at: datetime = Field(sa_column=utc_column())
    completed_at: datetime | None = Field(default=None, sa_column=utc_column(nullable=True))
    # ranked prizes (bounty, contest): comma-separated weights by rank, in percent or in fen ("" = equal prizes)
    prize_ranks: str = Field(default="", max_length=400)
    prize_basis: str = Field(default="equal", max_length=10, description="equal | percent | fen")
    public_notice: bool = False  # 任务公示: chosen winners are published before the award is final
    max_bids: int | None = None  # a bid task may cap how many bids it takes
    bids_placed: int = 0

    @property
    def invited_ids(self) -> list[str]:
        return [s for s in self.invited.split("\n") if s]


class Milestone(SQLModel, table=True):
    """`state`: pending (not funded) | funded | settled (released, split or refunded: its escrow is zero)."""

    __tablename__ = "milestones"
    __table_args__ = (UniqueConstraint("task_id", "seq", name="uq_milestones_seq"),)

    id: str = Field(primary_key=True, max_length=64)
    task_id: str = Field(foreign_key="tasks.id", max_length=64, index=True)
    seq: int
    title: str = Field(max_length=200)
    amount_fen: int = Field(sa_column=Column(BigInteger, nullable=False))
    due_at: datetime = Field(sa_column=utc_column())
    state: str = Field(default="pending", max_length=20)
    revisions: int = 0
    funded_at: datetime | None = Field(default=None, sa_column=utc_column(nullable=True))
    settled_at: datetime | None = Field(default=None, sa_column=utc_column(nullable=True))
    warned_at: datetime | None = Field(default=None, sa_column=utc_column(nullable=True))
    escalated_at: datetime | None = Field(default=None, sa_column=utc_column(nullable=True))


class Bid(SQLModel, table=True):
    __tablename__ = "bids"
    __table_args__ = (UniqueConstraint("task_id", "solver_id", name="uq_bids_solver"),)

    id: str = Field(primary_key=True, max_length=64)
    task_id: str = Field(foreign_key="tasks.id", max_length=64, index=True)
    solver_id: str = Field(max_length=64, index=True)
    price_fen: int = Field(sa_column=Column(BigInteger, nullable=False))
    days: int
    plan: str = Field(max_length=4000)
    state: str = Field(default="placed", max_length=20, description="placed | chosen | not_chosen | withdrawn")
    placed_at: datetime = Field(sa_column=utc_column())


class Submission(SQLModel, table=True):
    """The content's SHA-256 and the service-clock time are the evidence of authorship (存证); the events that
    carry them land in the audit service's Merkle log."""

    __tablename__ = "submissions"

    id: str = Field(primary_key=True, max_length=64)
    task_id: str = Field(foreign_key="tasks.id", max_length=64, index=True)
    milestone_id: str = Field(foreign_key="milestones.id", max_length=64, index=True)
    solver_id: str = Field(max_length=64, index=True)
    content: str = Field(max_length=20000)
    content_sha256: str = Field(max_length=64, index=True)
    duplicate_of: str | None = Field(default=None, max_length=64)
    state: str = Field(default="submitted", max_length=20,
                       description="submitted | revision_requested | accepted | not_selected | disqualified")
    on_time: bool = True
    auto_accepted: bool = False
    submitted_at: datetime = Field(sa_column=utc_column())
    decided_at: datetime | None = Field(default=None, sa_column=utc_column(nullable=True))


class Dispute(SQLModel, table=True):
    """On assigned work (bid, direct hire) a dispute holds the current milestone's escrow; on a bounty, contest
    or piece-rate task it is about one submission (`submission_id`) and holds its stake (`stake_fen`: one prize
    of the round, or one piece)."""

    __tablename__ = "disputes"

    id: str = Field(primary_key=True, max_length=64)
    task_id: str = Field(foreign_key="tasks.id", max_length=64, index=True)
    milestone_id: str = Field(foreign_key="milestones.id", max_length=64)
    submission_id: str | None = Field(default=None, max_length=64, index=True)
    stake_fen: int | None = Field(default=None, sa_column=Column(BigInteger, nullable=True))
    poster_id: str = Field(max_length=64)
    solver_id: str = Field(max_length=64)
    opened_by: str = Field(max_length=64)
    reason: str = Field(max_length=2000)
    stage: str = Field(max_length=30, index=True)
    mediator_id: str | None = Field(default=None, max_length=64, index=True)
    third_party: str | None = Field(default=None, max_length=200)
    poster_proposal: int | None = None  # the solver's share (percent) each side proposes in negotiation
    solver_proposal: int | None = None
    solver_share_percent: int | None = None
    basis: str | None = Field(default=None, max_length=2000)
    opened_at: datetime = Field(sa_column=utc_column())
    updated_at: datetime = Field(sa_column=utc_column())
    resolved_at: datetime | None = Field(default=None, sa_column=utc_column(nullable=True))


class DisputeEvidence(SQLModel, table=True):
    __tablename__ = "dispute_evidence"

    id: str = Field(primary_key=True, max_length=64)
    dispute_id: str = Field(foreign_key="disputes.id", max_length=64, index=True)
    party_id: str = Field(max_length=64)
    text: str = Field(max_length=8000)
    sha256: str = Field(max_length=64)
    added_at: datetime = Field(sa_column=utc_column())


class Rating(SQLModel, table=True):
    __tablename__ = "ratings"
    __table_args__ = (UniqueConstraint("task_id", "rater_id", "ratee_id", name="uq_ratings_pair"),)

    id: str = Field(primary_key=True, max_length=64)
    task_id: str = Field(foreign_key="tasks.id", max_length=64, index=True)
    rater_id: str = Field(max_length=64)
    ratee_id: str = Field(max_length=64, index=True)
    score: int
    comment: str = Field(default="", max_length=2000)
    is_default: bool = False
    given_at: datetime = Field(sa_column=utc_column())


class Report(SQLModel, table=True):
    __tablename__ = "reports"

    id: str = Field(primary_key=True, max_length=64)
    task_id: str = Field(foreign_key="tasks.id", max_length=64, index=True)
    submission_id: str | None = Field(default=None, foreign_key="submissions.id", max_length=64)
    reporter_id: str = Field(max_length=64)
    reason: str = Field(max_length=20, description="spam | plagiarism | duplicate")
    detail: str = Field(default="", max_length=4000)
    state: str = Field(default="open", max_length=20, index=True, description="open | upheld | dismissed")
    reviewer_id: str | None = Field(default=None, max_length=64)
    note: str | None = Field(default=None, max_length=2000)
    filed_at: datetime = Field(sa_column=utc_column())
    decided_at: datetime | None = Field(default=None, sa_column=utc_column(nullable=True))


class Payout(SQLModel, table=True):
    """One outgoing payment owed from the ledger's payable accounts: a payout to a solver or a refund to a
    poster. Created in the command's transaction; executed afterwards through the payment provider with its
    idempotency key; retried by a job while pending."""

    __tablename__ = "payouts"

    id: str = Field(primary_key=True, max_length=64)
    task_id: str = Field(foreign_key="tasks.id", max_length=64, index=True)
    kind: str = Field(max_length=10, description="payout | refund")
    party_id: str = Field(max_length=64, index=True)
    account: str = Field(max_length=200)
    currency: str = Field(default="CNY", max_length=3)
    amount_fen: int = Field(sa_column=Column(BigInteger, nullable=False))
    idempotency_key: str = Field(max_length=120, unique=True)
    cause: str = Field(max_length=120)
    status: str = Field(default="pending", max_length=10, index=True,
                        description="pending | paid | failed | reissued (failed, then re-issued by an admin)")
    reference: str | None = Field(default=None, max_length=120)
    failure: str | None = Field(default=None, max_length=300)
    created_at: datetime = Field(sa_column=utc_column())
    settled_at: datetime | None = Field(default=None, sa_column=utc_column(nullable=True))


class MediatorRoster(SQLModel, table=True):
    """Who holds the `mediator` role, replicated from the gateway's identity events: a dispute is assigned only
    to a person on it."""

    __tablename__ = "cs_mediator_roster"

    person_id: str = Field(primary_key=True, max_length=64)
    roles: str = Field(max_length=400, description="comma-separated roles the person holds")
    updated_at: datetime = Field(sa_column=utc_column())
    source_event_id: str = Field(max_length=64)

    @property
    def role_set(self) -> frozenset[str]:
        return frozenset(r for r in self.roles.split(",") if r)


class AwardNotice(SQLModel, table=True):
    """A round's chosen winners in public notice (任务公示): `submission_ids` in rank order."""

    __tablename__ = "cs_award_notices"

    id: str = Field(primary_key=True, max_length=64)
    task_id: str = Field(foreign_key="tasks.id", max_length=64, index=True)
    milestone_id: str = Field(foreign_key="milestones.id", max_length=64, index=True)
    submission_ids: str = Field(max_length=2000, description="comma-separated, in rank order")
    leftover: str = Field(max_length=20, description="refund | roll_forward")
    state: str = Field(default="published", max_length=20, index=True, description="published | final | withdrawn")
    published_by: str = Field(max_length=64)
    published_at: datetime = Field(sa_column=utc_column())
    ends_at: datetime = Field(sa_column=utc_column())
    decided_at: datetime | None = Field(default=None, sa_column=utc_column(nullable=True))

    @property
    def chosen(self) -> list[str]:
        return [s for s in self.submission_ids.split(",") if s]


class AwardObjection(SQLModel, table=True):
    __tablename__ = "cs_award_objections"
    __table_args__ = (UniqueConstraint("notice_id", "objector_id", name="uq_cs_award_objections_objector"),)

    id: str = Field(primary_key=True, max_length=64)
    notice_id: str = Field(foreign_key="cs_award_notices.id", max_length=64, index=True)
    task_id: str = Field(foreign_key="tasks.id", max_length=64, index=True)
    objector_id: str = Field(max_length=64)
    reason: str = Field(max_length=2000)
    evidence_sha256: str = Field(max_length=64)
    state: str = Field(default="open", max_length=20, index=True, description="open | upheld | dismissed")
    reviewer_id: str | None = Field(default=None, max_length=64)
    note: str | None = Field(default=None, max_length=2000)
    filed_at: datetime = Field(sa_column=utc_column())
    decided_at: datetime | None = Field(default=None, sa_column=utc_column(nullable=True))
