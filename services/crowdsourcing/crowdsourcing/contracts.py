"""Events the crowdsourcing service publishes (catalogue: services/crowdsourcing/README.md).

Wire names are explicit; consumers (credit, audit, statistics) import these models. Every task state change
is a `task.<verb>` event carrying `from_state`/`to_state`; money movements are `milestone.*` and `payout.*`
events whose amounts are integer fen, matching the double-entry ledger postings made in the same transaction.
"""

from __future__ import annotations

from datetime import datetime

from pydantic import Field

from shared.envelope import EventData

PREFIX = "cn.sizhong.crowdsourcing"


class TaskPosted(EventData):
    """A task drafted by its poster (nothing is public yet)."""

    event_type = f"{PREFIX}.task.posted.v1"

    task_id: str
    parent_id: str | None
    poster_id: str
    poster_type: str  # enterprise | agency (public-service purchase, 政府购买服务) | institute
    organisation_id: str | None
    poster_verified: bool
    mode: str
    kind: str
    title: str
    currency: str
    budget_fen: int
    winners: int
    milestones: int
    involves_personal_data: bool
    visibility: str
    deadline: datetime
    policy_version: str
    prize_basis: str = "equal"  # equal | percent | fen (ranked prizes)
    prize_ranks: list[int] = Field(default_factory=list)
    public_notice: bool = False
    max_bids: int | None = None
    verification_level: str | None = None  # the gateway's real-name verification of the poster's organisation


class _TaskTransition(EventData):
    task_id: str
    mode: str
    poster_id: str
    from_state: str
    to_state: str
    policy_version: str


class TaskEscrowFunded(_TaskTransition):
    event_type = f"{PREFIX}.task.escrow_funded.v1"
    escrow_fen: int


class TaskSentToReview(_TaskTransition):
    event_type = f"{PREFIX}.task.sent_to_review.v1"
    why: str
    fast_track: bool = False  # a red-listed poster's task goes ahead in the review queue (联合激励)


class TaskOpened(_TaskTransition):
    event_type = f"{PREFIX}.task.opened.v1"
    milestone_seq: int


class TaskStarted(_TaskTransition):
    event_type = f"{PREFIX}.task.started.v1"
    assignee_id: str | None


class TaskSubmitted(_TaskTransition):
    """Delivery is waiting for the poster's decision (assigned modes), or a round has closed (competitive)."""

    event_type = f"{PREFIX}.task.submitted.v1"


class TaskRevisionRequested(_TaskTransition):
    event_type = f"{PREFIX}.task.revision_requested.v1"


class TaskAccepted(_TaskTransition):
    event_type = f"{PREFIX}.task.accepted.v1"
    milestone_seq: int


class TaskDisputed(_TaskTransition):
    event_type = f"{PREFIX}.task.disputed.v1"
    dispute_id: str


class TaskCompleted(_TaskTransition):
    """For credit: who delivered, whether every accepted delivery was on time, and whether a dispute ended it."""

    event_type = f"{PREFIX}.task.completed.v1"
    solver_ids: list[str]
    on_time: bool
    accepted_submissions: int
    settled_by_dispute: bool


class TaskRated(_TaskTransition):
    event_type = f"{PREFIX}.task.rated.v1"


class TaskCancelled(_TaskTransition):
    event_type = f"{PREFIX}.task.cancelled.v1"
    reason: str


class TaskExpired(_TaskTransition):
    event_type = f"{PREFIX}.task.expired.v1"
    reason: str


class TaskReviewed(EventData):
    """A reviewer's decision on a task in the review queue."""

    event_type = f"{PREFIX}.task.reviewed.v1"

    task_id: str
    reviewer_id: str
    approved: bool
    note: str
    policy_version: str


class MilestoneFunded(EventData):
    """Money in: the poster's charge posted provider clearing -> the milestone's escrow account."""

    event_type = f"{PREFIX}.milestone.funded.v1"

    task_id: str
    milestone_id: str
    seq: int
    poster_id: str
    currency: str
    amount_fen: int
    payment_reference: str
    ledger_transaction: str


class _Release(EventData):
    task_id: str
    milestone_id: str
    solver_id: str
    currency: str
    gross_fen: int
    net_fen: int
    commission_fen: int
    ledger_transaction: str
    policy_version: str
    commission_relief_percent: int = 0  # of the policy's commission, waived for a red-listed solver (联合激励)


class EscrowReleased(_Release):
    """Escrow -> payable to the solver (net) and the platform's commission (revenue)."""

    event_type = f"{PREFIX}.escrow.released.v1"

    submission_id: str | None


class EscrowRefunded(EventData):
    """Escrow -> payable to the poster: leftover prizes or pieces, a cancelled or expired task, a dispute share."""

    event_type = f"{PREFIX}.escrow.refunded.v1"

    task_id: str
    milestone_id: str
    poster_id: str
    currency: str
    amount_fen: int
    why: str
    ledger_transaction: str


class EscrowRolledForward(EventData):
    event_type = f"{PREFIX}.escrow.rolled_forward.v1"

    task_id: str
    from_milestone_id: str
    to_milestone_id: str
    currency: str
    amount_fen: int
    ledger_transaction: str


class _PayoutFacts(EventData):
    payout_id: str
    task_id: str
    kind: str  # payout (to a solver) | refund (to a poster)
    party_id: str
    currency: str
    amount_fen: int
    idempotency_key: str


class PayoutCompleted(_PayoutFacts):
    """Money out: the provider executed it; payable -> provider clearing."""

    event_type = f"{PREFIX}.payout.completed.v1"

    reference: str
    ledger_transaction: str


class PayoutFailed(_PayoutFacts):
    event_type = f"{PREFIX}.payout.failed.v1"

    failure: str


class PayoutReissued(_PayoutFacts):
    """An admin re-issued a declined payout or refund: a new payout (new idempotency key) from the same payable."""

    event_type = f"{PREFIX}.payout.reissued.v1"

    replaces_payout_id: str
    replaces_idempotency_key: str
    reissued_by: str


class BidPlaced(EventData):
    event_type = f"{PREFIX}.bid.placed.v1"

    bid_id: str
    task_id: str
    solver_id: str
    price_fen: int
    days: int


class BidChosen(EventData):
    event_type = f"{PREFIX}.bid.chosen.v1"

    bid_id: str
    task_id: str
    solver_id: str
    price_fen: int
    poster_id: str
    policy_version: str


class HireAnswered(EventData):
    """A direct hire's named solver accepted or declined the offer."""

    event_type = f"{PREFIX}.hire.answered.v1"

    task_id: str
    solver_id: str
    accepted: bool


class SubmissionReceived(EventData):
    """Evidence of authorship (存证): the content's SHA-256 and the time it was received."""

    event_type = f"{PREFIX}.submission.received.v1"

    submission_id: str
    task_id: str
    milestone_id: str
    solver_id: str
    content_sha256: str
    submitted_at: datetime
    on_time: bool
    duplicate_of: str | None


class SubmissionAccepted(EventData):
    """Accepted work (for credit): by the poster, or by default when the acceptance window passed."""

    event_type = f"{PREFIX}.submission.accepted.v1"

    submission_id: str
    task_id: str
    milestone_id: str
    solver_id: str
    poster_id: str
    on_time: bool
    automatically: bool
    policy_version: str


class SubmissionRevisionRequested(EventData):
    event_type = f"{PREFIX}.submission.revision_requested.v1"

    submission_id: str
    task_id: str
    solver_id: str
    note: str
    revisions: int


class SubmissionNotSelected(EventData):
    event_type = f"{PREFIX}.submission.not_selected.v1"

    submission_id: str
    task_id: str
    solver_id: str


class SubmissionDisqualified(EventData):
    event_type = f"{PREFIX}.submission.disqualified.v1"

    submission_id: str
    task_id: str
    solver_id: str
    report_id: str
    reason: str


class DisputeOpened(EventData):
    event_type = f"{PREFIX}.dispute.opened.v1"

    dispute_id: str
    task_id: str
    milestone_id: str
    poster_id: str
    solver_id: str
    opened_by: str
    reason: str
    escrow_fen: int  # what the dispute holds: the milestone's escrow, or one submission's stake
    submission_id: str | None = None  # bounty, contest, piece-rate: the submission the dispute is about
    mode: str | None = None


class DisputeEvidenceAdded(EventData):
    event_type = f"{PREFIX}.dispute.evidence_added.v1"

    dispute_id: str
    evidence_id: str
    party_id: str
    sha256: str


class DisputeProposalMade(EventData):
    event_type = f"{PREFIX}.dispute.proposal_made.v1"

    dispute_id: str
    party_id: str
    solver_share_percent: int


class DisputeEscalated(EventData):
    event_type = f"{PREFIX}.dispute.escalated.v1"

    dispute_id: str
    from_stage: str
    to_stage: str
    by: str
    third_party: str | None


class DisputeMediatorAssigned(EventData):
    event_type = f"{PREFIX}.dispute.mediator_assigned.v1"

    dispute_id: str
    mediator_id: str


class DisputeResolved(EventData):
    """The outcome: the escrow split in stated shares. `lost_by` (poster | solver | None) is for credit."""

    event_type = f"{PREFIX}.dispute.resolved.v1"

    dispute_id: str
    task_id: str
    milestone_id: str
    poster_id: str
    solver_id: str
    stage: str
    resolved_by: str
    solver_share_percent: int
    solver_gross_fen: int
    solver_net_fen: int
    commission_fen: int
    poster_fen: int
    lost_by: str | None
    policy_version: str
    submission_id: str | None = None
    commission_relief_percent: int = 0  # of the policy's commission on the solver's part (red-listed solver)


class RatingGiven(EventData):
    event_type = f"{PREFIX}.rating.given.v1"

    rating_id: str
    task_id: str
    rater_id: str
    ratee_id: str
    score: int
    by_default: bool
    policy_version: str


class ReportFiled(EventData):
    event_type = f"{PREFIX}.report.filed.v1"

    report_id: str
    task_id: str
    submission_id: str | None
    reporter_id: str
    reason: str


class ReportDecided(EventData):
    event_type = f"{PREFIX}.report.decided.v1"

    report_id: str
    task_id: str
    submission_id: str | None
    reviewer_id: str
    upheld: bool
    reason: str
    note: str


class AbandonmentWarned(EventData):
    """The assigned solver holds a milestone past its due date without delivering."""

    event_type = f"{PREFIX}.abandonment.warned.v1"

    task_id: str
    milestone_id: str
    solver_id: str
    due_at: datetime


class AbandonmentEscalated(EventData):
    """Still nothing delivered after the warning: escalated to the platform (and to credit: delivery missed)."""

    event_type = f"{PREFIX}.abandonment.escalated.v1"

    task_id: str
    milestone_id: str
    solver_id: str
    due_at: datetime
    warned_at: datetime
    # what escalation did (policy): the assignment cancelled (task expired, winner unresponsive), escrow refunded
    assignment_cancelled: bool = False
    refunded_fen: int = 0
    policy_version: str | None = None


class NoticePublished(EventData):
    """A round's chosen winners in public notice (任务公示) until `ends_at`; the award is not final yet."""

    event_type = f"{PREFIX}.notice.published.v1"

    notice_id: str
    task_id: str
    milestone_id: str
    poster_id: str
    submission_ids: list[str]
    solver_ids: list[str]
    prizes_fen: list[int]
    ends_at: datetime
    policy_version: str


class ObjectionFiled(EventData):
    """A participant of the round objects to the noticed winners (evidence kept as its SHA-256)."""

    event_type = f"{PREFIX}.objection.filed.v1"

    objection_id: str
    notice_id: str
    task_id: str
    objector_id: str
    reason: str
    evidence_sha256: str


class ObjectionDecided(EventData):
    event_type = f"{PREFIX}.objection.decided.v1"

    objection_id: str
    notice_id: str
    task_id: str
    objector_id: str
    reviewer_id: str
    upheld: bool
    note: str


class NoticeWithdrawn(EventData):
    """An upheld objection withdraws the notice: the round's selection reopens (its window starts again)."""

    event_type = f"{PREFIX}.notice.withdrawn.v1"

    notice_id: str
    task_id: str
    milestone_id: str
    objection_id: str


class NoticeFinalised(EventData):
    """The notice period passed with no objection pending: the award is final and paid (the winners'
    `submission.accepted` and `escrow.released` events follow in the same transaction)."""

    event_type = f"{PREFIX}.notice.finalised.v1"

    notice_id: str
    task_id: str
    milestone_id: str
    winner_submission_ids: list[str]
    dropped_submission_ids: list[str]  # disqualified during the notice: their prizes are unclaimed
