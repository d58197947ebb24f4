"""The one task state machine for every mode (pure, no I/O).

    draft -> escrow_funded -> under_review -> open -> in_progress -> submitted ->
    accepted | revision_requested | disputed -> completed -> rated;  cancelled | expired with a typed reason.

Each mode walks its own subset of that machine (`TRANSITIONS[mode]`):
- bounty and contest (one or more winners): full escrow up front; each milestone is a round open to every
  solver; `in_progress` once work arrives, `submitted` when the round's deadline passes (the selection window
  runs), `accepted` when winners are chosen; then the next milestone's round opens, or the task completes.
- piece_rate: full escrow up front (unit price x quantity); every accepted piece is paid; the task completes
  when the quantity is reached, or at the deadline (the rest is refunded).
- direct_hire: full escrow up front, offered to one named solver who accepts it (`in_progress`) or lets the
  window pass (`expired`, winner unresponsive); then delivery per milestone like a bid.
- bid: no escrow while bids are taken; choosing a bid funds the escrow (`open -> escrow_funded`) and starts the
  work; delivery per milestone: submitted -> accepted | revision_requested | disputed. An assignee who abandons
  the work (warned, then escalated) loses the assignment: `in_progress | revision_requested -> expired`
  (winner unresponsive), the escrow refunded.
- general_contract (总包): holds no money itself; its sub-tasks (分包) are tasks of any other mode, and it
  completes when they are done, or expires (no_sub_task_completed) when they all ended undone, or when its
  deadline passes with none of them left under way. Cancelling it cancels its unfinished sub-tasks
  (contract_cancelled).

An illegal step is a 409 naming the current state.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from enum import StrEnum
from typing import Literal, get_args

from shared.problems import DomainError


class TaskMode(StrEnum):
    BOUNTY = "bounty"  # 悬赏
    CONTEST = "contest"  # 比稿
    BID = "bid"  # 投标
    DIRECT_HIRE = "direct_hire"  # 指定
    PIECE_RATE = "piece_rate"  # 计件
    GENERAL_CONTRACT = "general_contract"  # 总包 (split into 分包 sub-tasks)


class TaskKind(StrEnum):
    RD_SOLUTION = "rd_solution"
    DESIGN_CREATIVE = "design_creative"
    TECHNICAL_CONSULTING = "technical_consulting"
    SUPPLY_CHAIN_PARTS = "supply_chain_parts"
    SUPPLY_CHAIN_LOGISTICS = "supply_chain_logistics"
    SUPPLY_CHAIN_AFTER_SALES = "supply_chain_after_sales"


class TaskState(StrEnum):
    DRAFT = "draft"
    ESCROW_FUNDED = "escrow_funded"
    UNDER_REVIEW = "under_review"
    OPEN = "open"
    IN_PROGRESS = "in_progress"
    SUBMITTED = "submitted"
    REVISION_REQUESTED = "revision_requested"
    ACCEPTED = "accepted"
    DISPUTED = "disputed"
    COMPLETED = "completed"
    RATED = "rated"
    CANCELLED = "cancelled"
    EXPIRED = "expired"


class TerminalReason(StrEnum):
    """Why a task was cancelled or expired (typed, so credit and statistics can count them)."""

    ZERO_SUBMISSIONS = "zero_submissions"
    WINNER_UNRESPONSIVE = "winner_unresponsive"
    POSTER_REQUEST = "poster_request"
    FAILED_REVIEW = "failed_review"
    PAYMENT_FAILED = "payment_failed"
    SOLVER_DECLINED = "solver_declined"
    CONTRACT_CANCELLED = "contract_cancelled"  # a sub-task (分包) whose general contract (总包) was cancelled
    CONTRACT_DEADLINE_PASSED = "contract_deadline_passed"  # a sub-task still a draft at its contract's deadline
    NO_SUB_TASK_COMPLETED = "no_sub_task_completed"  # a general contract whose sub-tasks all ended undone


S = TaskState
M = TaskMode
_FUNDING = {
    S.DRAFT: {S.ESCROW_FUNDED, S.CANCELLED},
    S.ESCROW_FUNDED: {S.UNDER_REVIEW, S.OPEN, S.CANCELLED},
    S.UNDER_REVIEW: {S.OPEN, S.CANCELLED},
}
_COMPETITIVE = {
    **_FUNDING,
    S.OPEN: {S.IN_PROGRESS, S.EXPIRED, S.CANCELLED},
    S.IN_PROGRESS: {S.SUBMITTED, S.ACCEPTED},
    S.SUBMITTED: {S.ACCEPTED},
    S.ACCEPTED: {S.OPEN, S.COMPLETED},
    S.COMPLETED: {S.RATED},
}
_DELIVERY = {  # expired from work: the assignee abandoned it (abandonment escalated, winner unresponsive)
    S.IN_PROGRESS: {S.SUBMITTED, S.DISPUTED, S.EXPIRED},
    S.SUBMITTED: {S.ACCEPTED, S.REVISION_REQUESTED, S.DISPUTED},
    S.REVISION_REQUESTED: {S.SUBMITTED, S.DISPUTED, S.EXPIRED},
    S.ACCEPTED: {S.IN_PROGRESS, S.COMPLETED},
    S.DISPUTED: {S.COMPLETED},
    S.COMPLETED: {S.RATED},
}
_RAW: dict[TaskMode, dict[TaskState, set[TaskState]]] = {
    M.BOUNTY: _COMPETITIVE,
    M.CONTEST: _COMPETITIVE,
    M.PIECE_RATE: {
        **_FUNDING,
        S.OPEN: {S.IN_PROGRESS, S.EXPIRED, S.CANCELLED},
        S.IN_PROGRESS: {S.SUBMITTED, S.COMPLETED},
        S.SUBMITTED: {S.COMPLETED},
        S.COMPLETED: {S.RATED},
    },
    M.DIRECT_HIRE: {
        **_FUNDING,
        S.OPEN: {S.IN_PROGRESS, S.EXPIRED, S.CANCELLED},
        **_DELIVERY,
    },
    M.BID: {
        S.DRAFT: {S.UNDER_REVIEW, S.OPEN, S.CANCELLED},
        S.UNDER_REVIEW: {S.OPEN, S.CANCELLED},
        S.OPEN: {S.ESCROW_FUNDED, S.EXPIRED, S.CANCELLED},
        S.ESCROW_FUNDED: {S.IN_PROGRESS},
        **_DELIVERY,
    },
    M.GENERAL_CONTRACT: {  # expired: its sub-tasks all ended and none completed (no_sub_task_completed)
        S.DRAFT: {S.OPEN, S.CANCELLED},
        S.OPEN: {S.IN_PROGRESS, S.CANCELLED, S.EXPIRED},
        S.IN_PROGRESS: {S.COMPLETED, S.EXPIRED},
        S.COMPLETED: {S.RATED},
    },
}
TRANSITIONS: dict[TaskMode, dict[TaskState, frozenset[TaskState]]] = {
    mode: {state: frozenset(table.get(state, set())) for state in TaskState} for mode, table in _RAW.items()
}
FINAL = frozenset({S.RATED, S.CANCELLED, S.EXPIRED})
TERMINAL_NEEDS_REASON = frozenset({S.CANCELLED, S.EXPIRED})
COMPETITIVE_MODES = frozenset({M.BOUNTY, M.CONTEST})
ASSIGNED_MODES = frozenset({M.BID, M.DIRECT_HIRE})  # one solver delivers each milestone
ESCROW_UP_FRONT = frozenset({M.BOUNTY, M.CONTEST, M.PIECE_RATE, M.DIRECT_HIRE})
SUBMITTING_STATES = frozenset({S.OPEN, S.IN_PROGRESS, S.REVISION_REQUESTED})
REFUNDABLE_STATES = frozenset({S.CANCELLED, S.EXPIRED})


def allowed(mode: TaskMode | str, current: TaskState | str) -> frozenset[TaskState]:
    return TRANSITIONS[TaskMode(mode)][TaskState(current)]


def step(mode: TaskMode | str, current: TaskState | str, target: TaskState,
         reason: TerminalReason | None = None) -> TaskState:
    """The next state, or a 409 naming the current one. Cancelled and expired need a typed reason."""
    state, task_mode = TaskState(current), TaskMode(mode)
    options = TRANSITIONS[task_mode][state]
    if target not in options:
        listed = ", ".join(sorted(s.value for s in options)) or "none (final state)"
        raise DomainError(409, f"the {task_mode.value} task is in state {state.value!r}; it cannot become "
                               f"{target.value!r} (allowed: {listed})", current_state=state.value,
                          rule="illegal_transition")
    if target in TERMINAL_NEEDS_REASON and reason is None:
        raise ValueError(f"{target.value} needs a terminal reason")
    if target not in TERMINAL_NEEDS_REASON and reason is not None:
        raise ValueError("only cancelled and expired carry a terminal reason")
    return target


STARTED_STATES = frozenset({S.IN_PROGRESS, S.SUBMITTED, S.REVISION_REQUESTED, S.ACCEPTED, S.DISPUTED, S.COMPLETED,
                            S.RATED})
FINISHED_STATES = frozenset({S.COMPLETED, S.RATED, S.CANCELLED, S.EXPIRED})
DONE_STATES = frozenset({S.COMPLETED, S.RATED})


def contract_steps(contract: TaskState | str, sub_tasks: Iterable[TaskState | str],
                   deadline_passed: bool = False) -> list[TaskState]:
    """The steps a general contract (总包) takes, given the states of its sub-tasks (分包): it starts once a
    sub-task has started, and completes once every sub-task is finished and at least one of them completed.
    Once it has sub-tasks and every one ended without completing (cancelled, expired), nothing is left to wait
    for: it expires (`no_sub_task_completed`). Before its deadline a contract with no sub-task yet waits for its
    first; once the deadline has passed it waits no longer and expires the same way. A sub-task still under way
    at the deadline is waited for (it ends by its own deadline); drafts are not (`DROPPED_AT_CONTRACT_DEADLINE`)."""
    state, states = TaskState(contract), {TaskState(s) for s in sub_tasks}
    steps: list[TaskState] = []
    if state is S.OPEN and states & STARTED_STATES:
        state = step(M.GENERAL_CONTRACT, state, S.IN_PROGRESS)
        steps.append(state)
    if state in (S.OPEN, S.IN_PROGRESS) and (states or deadline_passed) and states <= FINISHED_STATES:
        target = S.COMPLETED if states & DONE_STATES else S.EXPIRED
        steps.append(step(M.GENERAL_CONTRACT, state, target, contract_end_reason(target)))
    return steps


# A sub-task never published by its contract's deadline was never offered to anyone: it is cancelled then
# (`contract_deadline_passed`), not waited for, and no sub-task is posted or published under a contract after it.
DROPPED_AT_CONTRACT_DEADLINE = frozenset({S.DRAFT})


def contract_on_time(deadline: datetime, completed_at: Iterable[datetime | None]) -> bool:
    """A completed general contract was on time when every sub-task that completed did so by the contract's
    deadline (those that ended undone delivered nothing late; their own events say why they ended)."""
    return all(at is not None and at <= deadline for at in completed_at)


def contract_end_reason(target: TaskState) -> TerminalReason | None:
    """The typed reason a general contract's roll-up step carries (only its expiry has one)."""
    return TerminalReason.NO_SUB_TASK_COMPLETED if target is S.EXPIRED else None


def needs_review(mode: TaskMode | str, budget_fen: int, poster_verified: bool, threshold_fen: int) -> bool:
    """Bounties (and contests) below the threshold, and every task of an unverified poster, are reviewed."""
    if not poster_verified:
        return True
    return TaskMode(mode) in COMPETITIVE_MODES and budget_fen < threshold_fen


# DOMAIN 众包: enterprises, agencies (政府购买服务), institutes; roles (shared.auth.Role), in the order tried below
PosterKind = Literal["enterprise", "agency", "institute"]
POSTER_KINDS: tuple[str, ...] = get_args(PosterKind)
ACTS_FOR_POSTERS = "admin"


def poster_kind(roles: frozenset[str], requested: str | None) -> str:
    """The kind of poster a task records: the poster role the caller holds (an admin may act for any kind).
    A caller holding several poster roles, or an admin, names the one it posts as."""
    held = [kind for kind in POSTER_KINDS if kind in roles]
    if requested is not None:
        if requested not in POSTER_KINDS:
            raise DomainError(422, f"a poster is one of {', '.join(POSTER_KINDS)}", field="poster_type")
        if requested not in held and ACTS_FOR_POSTERS not in roles:
            raise DomainError(403, f"posting as {requested!r} needs the {requested} role"
                              + (" (public-service purchase, 政府购买服务, is posted by an agency)"
                                 if requested == "agency" else ""), field="poster_type")
        return requested
    if len(held) == 1:
        return held[0]
    raise DomainError(422, "name the kind of poster you post as" + (f" (you hold {', '.join(held)})" if held else ""),
                      field="poster_type")


def may_be_public(involves_personal_data: bool) -> bool:
    """Tasks involving personal or secret data are never opened to the public (invited solvers only)."""
    return not involves_personal_data
