"""Crowdsourcing commands: each one unit of work (one transaction): state, ledger postings, payouts owed and
outbox events together. Every command takes `now` from its caller (the service clock), so tests drive time.

Ownership is checked here against the rows read (and locked) in the same transaction: a poster manages only
its own tasks, a solver acts only on tasks it may take part in and on its own bids and submissions, a mediator
only on disputes assigned to it. Provider calls never happen here (see flows.py): a command records what is
owed (`Payout` rows) and the flow executes it after the commit.

Split by what the command is about: `common` (loading, ownership, the state machine applied), `posting`,
`funding` (publication, escrow, review, cancellation), `work` (bids, direct hire, deliveries, revisions),
`acceptance` (accepting work, choosing winners, completion), `notices` (public notice of winners and
objections), `disputes`, `abandonment`, `roster` (who may mediate), `ratings`, `reports`, `payouts`.
The names callers use are re-exported here.
"""

from crowdsourcing.handlers.abandonment import check_abandonment
from crowdsourcing.handlers.acceptance import (
    _finish_pieces,
    _has_pending,
    accept_submission,
    award,
    participants,
    pieces_done,
    round_prizes,
    select_winners,
)
from crowdsourcing.handlers.common import (
    POLICY,
    SYSTEM,
    authorise_poster,
    may_take_part,
    may_view,
    milestones_of,
    move,
    prize_table,
    published_notice,
    sha256,
    task_for_update,
)
from crowdsourcing.handlers.disputes import (
    add_evidence,
    assign_mediator,
    escalate,
    open_dispute,
    propose,
    resolve_dispute,
)
from crowdsourcing.handlers.funding import (
    Charge,
    ChargeAttempt,
    _close_bids,
    _refund_all,
    cancel_task,
    charge_attempts,
    end_contract_at_deadline,
    finish_funding,
    prepare_publication,
    review_queue,
    review_task,
)
from crowdsourcing.handlers.notices import decide_objection, finalise_notice, object_to_award, withdrawn_at
from crowdsourcing.handlers.payouts import reissue_payout
from crowdsourcing.handlers.posting import MilestoneInput, TaskInput, create_task, ensure_may_post
from crowdsourcing.handlers.ratings import default_ratings, rate
from crowdsourcing.handlers.reports import decide_report, file_report
from crowdsourcing.handlers.roster import enrol_self, ensure_mediator, remember_roles
from crowdsourcing.handlers.work import answer_hire, choose_bid, place_bid, request_revision, submit

__all__ = [
    "POLICY",
    "SYSTEM",
    "Charge",
    "ChargeAttempt",
    "MilestoneInput",
    "TaskInput",
    "_close_bids",
    "_finish_pieces",
    "_has_pending",
    "_refund_all",
    "accept_submission",
    "add_evidence",
    "answer_hire",
    "assign_mediator",
    "authorise_poster",
    "award",
    "cancel_task",
    "charge_attempts",
    "check_abandonment",
    "choose_bid",
    "create_task",
    "decide_objection",
    "decide_report",
    "default_ratings",
    "end_contract_at_deadline",
    "enrol_self",
    "ensure_may_post",
    "ensure_mediator",
    "escalate",
    "file_report",
    "finalise_notice",
    "finish_funding",
    "may_take_part",
    "may_view",
    "milestones_of",
    "move",
    "object_to_award",
    "open_dispute",
    "participants",
    "pieces_done",
    "place_bid",
    "prepare_publication",
    "prize_table",
    "propose",
    "published_notice",
    "rate",
    "reissue_payout",
    "remember_roles",
    "request_revision",
    "resolve_dispute",
    "review_queue",
    "review_task",
    "round_prizes",
    "select_winners",
    "sha256",
    "submit",
    "task_for_update",
    "withdrawn_at",
]
