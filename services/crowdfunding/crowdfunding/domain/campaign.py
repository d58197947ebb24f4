"""The one campaign state machine for reward and equity campaigns and the three funding modes (pure, no I/O).

    draft -> submitted -> needs_work | rejected | approved -> live -> (waiting_funds) -> successful | failed;
    successful -> fulfilling -> fulfilled; live | waiting_funds -> suspended (reviewer, regulator order)
    -> live (reinstated) | failed (terminated); cancelled by the founder before any pledge is captured.

Funding modes decide what happens at the deadline (`deadline_outcome`):
- all_or_nothing: successful only if the goal is reached, otherwise failed (everyone refunded);
- keep_it_all: successful if anything was raised;
- two_rounds: the minimum goal by the end of round 1 (40 days) or failed; then round 2 (40 more days)
  towards the optimum goal, and successful at its end.
Payments still pending at the deadline hold the campaign in waiting_funds until they resolve.
An illegal step is a 409 naming the current state.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from crowdfunding.domain.policy import CrowdfundingPolicy
from shared.problems import DomainError


class CampaignKind(StrEnum):
    REWARD = "reward"  # 实物众筹
    EQUITY = "equity"  # 股权众筹


class FundingMode(StrEnum):
    ALL_OR_NOTHING = "all_or_nothing"
    KEEP_IT_ALL = "keep_it_all"
    TWO_ROUNDS = "two_rounds"


class CampaignState(StrEnum):
    DRAFT = "draft"
    SUBMITTED = "submitted"
    NEEDS_WORK = "needs_work"
    REJECTED = "rejected"
    APPROVED = "approved"
    LIVE = "live"
    WAITING_FUNDS = "waiting_funds"
    SUCCESSFUL = "successful"
    FAILED = "failed"
    FULFILLING = "fulfilling"
    FULFILLED = "fulfilled"
    SUSPENDED = "suspended"
    CANCELLED = "cancelled"


S = CampaignState
TRANSITIONS: dict[CampaignState, frozenset[CampaignState]] = {
    S.DRAFT: frozenset({S.SUBMITTED, S.CANCELLED}),
    S.SUBMITTED: frozenset({S.NEEDS_WORK, S.REJECTED, S.APPROVED, S.CANCELLED}),
    S.NEEDS_WORK: frozenset({S.SUBMITTED, S.CANCELLED}),
    S.REJECTED: frozenset(),
    S.APPROVED: frozenset({S.LIVE, S.CANCELLED}),
    S.LIVE: frozenset({S.WAITING_FUNDS, S.SUCCESSFUL, S.FAILED, S.SUSPENDED, S.CANCELLED}),
    S.WAITING_FUNDS: frozenset({S.SUCCESSFUL, S.FAILED, S.SUSPENDED, S.LIVE}),  # live: round 2 opens
    S.SUCCESSFUL: frozenset({S.FULFILLING}),
    S.FAILED: frozenset(),
    S.FULFILLING: frozenset({S.FULFILLED}),
    S.FULFILLED: frozenset(),
    S.SUSPENDED: frozenset({S.LIVE, S.FAILED}),
    S.CANCELLED: frozenset(),
}
FINAL = frozenset(s for s, nxt in TRANSITIONS.items() if not nxt)
LIVE_STATES = frozenset({S.LIVE, S.WAITING_FUNDS})  # "any live state" may be suspended
EDITABLE = frozenset({S.DRAFT, S.NEEDS_WORK})
PUBLIC = frozenset({S.LIVE, S.WAITING_FUNDS, S.SUCCESSFUL, S.FAILED, S.FULFILLING, S.FULFILLED})


def allowed(current: CampaignState | str) -> frozenset[CampaignState]:
    return TRANSITIONS[CampaignState(current)]


def step(current: CampaignState | str, target: CampaignState) -> CampaignState:
    """The next state, or a 409 naming the current one and what it allows."""
    state = CampaignState(current)
    options = TRANSITIONS[state]
    if target not in options:
        listed = ", ".join(sorted(s.value for s in options)) or "none (final state)"
        raise DomainError(409, f"the campaign is in state {state.value!r}; it cannot become {target.value!r} "
                               f"(allowed: {listed})", current_state=state.value, rule="illegal_transition")
    return target


def check_duration(mode: FundingMode | str, days: int, policy: CrowdfundingPolicy) -> None:
    """1..60 days; two-round campaigns run their two fixed rounds of 40 days each."""
    if FundingMode(mode) is FundingMode.TWO_ROUNDS:
        return
    if not policy.min_duration <= timedelta(days=days) <= policy.max_duration:
        raise DomainError(422, f"a campaign runs {policy.min_duration.days}..{policy.max_duration.days} days",
                          field="duration_days")


def schedule(mode: FundingMode | str, launched_at: datetime, days: int,
             policy: CrowdfundingPolicy) -> tuple[datetime, datetime | None]:
    """(deadline, end of round 1 or None) for a campaign launched now."""
    if FundingMode(mode) is FundingMode.TWO_ROUNDS:
        first = launched_at + policy.round_length
        return first + policy.round_length, first
    return launched_at + timedelta(days=days), None


class Outcome(StrEnum):
    CONTINUE = "continue"  # not due yet
    NEXT_ROUND = "next_round"  # two rounds: the minimum was reached by the end of round 1
    WAIT = "wait"  # payments still pending: waiting_funds
    SUCCESSFUL = "successful"
    FAILED = "failed"


@dataclass(frozen=True)
class DeadlineDecision:
    outcome: Outcome
    rule: str
    raised_fen: int
    goal_fen: int


def deadline_outcome(mode: FundingMode | str, now: datetime, deadline: datetime, round_one_ends: datetime | None,
                     round_: int, raised_fen: int, pending_fen: int, goal_fen: int,
                     minimum_goal_fen: int | None) -> DeadlineDecision:
    """What the deadline job does with a live (or waiting_funds) campaign, from its figures and the clock."""
    mode = FundingMode(mode)
    if mode is FundingMode.TWO_ROUNDS and round_ == 1 and round_one_ends is not None:
        minimum = minimum_goal_fen if minimum_goal_fen is not None else goal_fen
        if now < round_one_ends:
            return DeadlineDecision(Outcome.CONTINUE, "round_one_open", raised_fen, minimum)
        if pending_fen and raised_fen < minimum:
            return DeadlineDecision(Outcome.WAIT, "payments_pending", raised_fen, minimum)
        if raised_fen >= minimum:
            return DeadlineDecision(Outcome.NEXT_ROUND, "minimum_goal_reached", raised_fen, minimum)
        return DeadlineDecision(Outcome.FAILED, "minimum_goal_missed", raised_fen, minimum)
    if now < deadline:
        return DeadlineDecision(Outcome.CONTINUE, "open", raised_fen, goal_fen)
    if pending_fen:
        return DeadlineDecision(Outcome.WAIT, "payments_pending", raised_fen, goal_fen)
    if mode is FundingMode.KEEP_IT_ALL:
        ok = raised_fen > 0
        return DeadlineDecision(Outcome.SUCCESSFUL if ok else Outcome.FAILED,
                                "keep_it_all_raised" if ok else "nothing_raised", raised_fen, goal_fen)
    if mode is FundingMode.TWO_ROUNDS:  # round 2 ends: the minimum was reached in round 1
        return DeadlineDecision(Outcome.SUCCESSFUL, "second_round_closed", raised_fen, goal_fen)
    ok = raised_fen >= goal_fen
    return DeadlineDecision(Outcome.SUCCESSFUL if ok else Outcome.FAILED,
                            "goal_reached" if ok else "goal_missed", raised_fen, goal_fen)


def progress_marks_reached(raised_fen: int, goal_fen: int, marks: tuple[int, ...], already: int) -> list[int]:
    """Progress marks (percent of goal) newly reached, each at most once (`already`: the highest emitted)."""
    if goal_fen <= 0:
        return []
    return [m for m in marks if m > already and raised_fen * 100 >= m * goal_fen]


def cancellable_by_backer(now: datetime, deadline: datetime, policy: CrowdfundingPolicy) -> str | None:
    """None if a backer may cancel now; otherwise the rule that refuses it."""
    if now >= deadline - policy.no_cancel_last:
        return "last_hour"
    if now > deadline - policy.cancel_until_before_deadline:
        return "within_48_hours_of_deadline"
    return None
