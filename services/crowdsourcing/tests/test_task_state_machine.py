"""The task state machine, every mode: each legal step is allowed, every other step is a 409 naming the state;
a general contract's steps from its sub-tasks'; who posts as which kind. Plus the pure money rules: prizes,
commission and a red-listed solver's relief, dispute splits (integer fen, parts add up)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from fractions import Fraction
from itertools import pairwise, product

import pytest
from crowdsourcing.domain import dispute, notice
from crowdsourcing.domain.policy import DEFAULT_POLICY
from crowdsourcing.domain.settlement import check_ranks, dispute_split, pieces, prizes, ranked_prizes, release
from crowdsourcing.domain.task import (
    DROPPED_AT_CONTRACT_DEADLINE,
    POSTER_KINDS,
    TaskMode,
    TaskState,
    TerminalReason,
    allowed,
    contract_end_reason,
    contract_on_time,
    contract_steps,
    may_be_public,
    needs_review,
    poster_kind,
    step,
)

from shared.auth import ROLES
from shared.money import Money
from shared.problems import DomainError

S, M = TaskState, TaskMode
FUNDING = {
    (S.DRAFT, S.ESCROW_FUNDED), (S.DRAFT, S.CANCELLED),
    (S.ESCROW_FUNDED, S.UNDER_REVIEW), (S.ESCROW_FUNDED, S.OPEN), (S.ESCROW_FUNDED, S.CANCELLED),
    (S.UNDER_REVIEW, S.OPEN), (S.UNDER_REVIEW, S.CANCELLED),
}
DELIVERY = {
    (S.IN_PROGRESS, S.SUBMITTED), (S.IN_PROGRESS, S.DISPUTED),
    (S.SUBMITTED, S.ACCEPTED), (S.SUBMITTED, S.REVISION_REQUESTED), (S.SUBMITTED, S.DISPUTED),
    (S.REVISION_REQUESTED, S.SUBMITTED), (S.REVISION_REQUESTED, S.DISPUTED),
    (S.ACCEPTED, S.IN_PROGRESS), (S.ACCEPTED, S.COMPLETED),
    (S.DISPUTED, S.COMPLETED), (S.COMPLETED, S.RATED),
    (S.IN_PROGRESS, S.EXPIRED), (S.REVISION_REQUESTED, S.EXPIRED),  # the assignee abandoned it (escalated)
}
COMPETITIVE = FUNDING | {
    (S.OPEN, S.IN_PROGRESS), (S.OPEN, S.EXPIRED), (S.OPEN, S.CANCELLED),
    (S.IN_PROGRESS, S.SUBMITTED), (S.IN_PROGRESS, S.ACCEPTED), (S.SUBMITTED, S.ACCEPTED),
    (S.ACCEPTED, S.OPEN), (S.ACCEPTED, S.COMPLETED), (S.COMPLETED, S.RATED),
}
LEGAL: dict[TaskMode, set[tuple[TaskState, TaskState]]] = {
    M.BOUNTY: COMPETITIVE,
    M.CONTEST: COMPETITIVE,
    M.PIECE_RATE: FUNDING | {
        (S.OPEN, S.IN_PROGRESS), (S.OPEN, S.EXPIRED), (S.OPEN, S.CANCELLED),
        (S.IN_PROGRESS, S.SUBMITTED), (S.IN_PROGRESS, S.COMPLETED), (S.SUBMITTED, S.COMPLETED),
        (S.COMPLETED, S.RATED),
    },
    M.DIRECT_HIRE: FUNDING | DELIVERY | {(S.OPEN, S.IN_PROGRESS), (S.OPEN, S.EXPIRED), (S.OPEN, S.CANCELLED)},
    M.BID: DELIVERY | {
        (S.DRAFT, S.UNDER_REVIEW), (S.DRAFT, S.OPEN), (S.DRAFT, S.CANCELLED),
        (S.UNDER_REVIEW, S.OPEN), (S.UNDER_REVIEW, S.CANCELLED),
        (S.OPEN, S.ESCROW_FUNDED), (S.OPEN, S.EXPIRED), (S.OPEN, S.CANCELLED),
        (S.ESCROW_FUNDED, S.IN_PROGRESS),
    },
    M.GENERAL_CONTRACT: {
        (S.DRAFT, S.OPEN), (S.DRAFT, S.CANCELLED), (S.OPEN, S.IN_PROGRESS), (S.OPEN, S.CANCELLED),
        (S.OPEN, S.EXPIRED), (S.IN_PROGRESS, S.COMPLETED), (S.IN_PROGRESS, S.EXPIRED), (S.COMPLETED, S.RATED),
    },
}
HAPPY_PATHS = {
    M.BOUNTY: [S.DRAFT, S.ESCROW_FUNDED, S.UNDER_REVIEW, S.OPEN, S.IN_PROGRESS, S.ACCEPTED, S.OPEN, S.IN_PROGRESS,
               S.SUBMITTED, S.ACCEPTED, S.COMPLETED, S.RATED],
    M.CONTEST: [S.DRAFT, S.ESCROW_FUNDED, S.OPEN, S.IN_PROGRESS, S.SUBMITTED, S.ACCEPTED, S.COMPLETED, S.RATED],
    M.PIECE_RATE: [S.DRAFT, S.ESCROW_FUNDED, S.OPEN, S.IN_PROGRESS, S.SUBMITTED, S.COMPLETED, S.RATED],
    M.DIRECT_HIRE: [S.DRAFT, S.ESCROW_FUNDED, S.OPEN, S.IN_PROGRESS, S.SUBMITTED, S.REVISION_REQUESTED,
                    S.SUBMITTED, S.ACCEPTED, S.IN_PROGRESS, S.SUBMITTED, S.ACCEPTED, S.COMPLETED, S.RATED],
    M.BID: [S.DRAFT, S.UNDER_REVIEW, S.OPEN, S.ESCROW_FUNDED, S.IN_PROGRESS, S.SUBMITTED, S.DISPUTED, S.COMPLETED,
            S.RATED],
    M.GENERAL_CONTRACT: [S.DRAFT, S.OPEN, S.IN_PROGRESS, S.COMPLETED, S.RATED],
}
TERMINAL = {S.CANCELLED: TerminalReason.POSTER_REQUEST, S.EXPIRED: TerminalReason.ZERO_SUBMISSIONS}


@pytest.mark.parametrize("mode", list(TaskMode))
def test_every_step_of_every_mode_is_legal_exactly_when_the_table_says(mode: TaskMode) -> None:
    for current, target in product(TaskState, TaskState):
        reason = TERMINAL.get(target)
        if (current, target) in LEGAL[mode]:
            assert step(mode, current, target, reason) is target
            assert target in allowed(mode, current)
        else:
            with pytest.raises(DomainError) as refused:
                step(mode, current, target, reason)
            assert refused.value.status == 409
            assert refused.value.extra["current_state"] == current.value
            assert repr(current.value) in refused.value.detail


@pytest.mark.parametrize("mode", list(TaskMode))
def test_each_mode_walks_its_happy_path_and_final_states_are_final(mode: TaskMode) -> None:
    path = HAPPY_PATHS[mode]
    for current, target in pairwise(path):
        step(mode, current, target)
    for final in (S.RATED, S.CANCELLED, S.EXPIRED):
        assert allowed(mode, final) == frozenset()


def test_cancelled_and_expired_carry_a_typed_reason_and_nothing_else_does() -> None:
    with pytest.raises(ValueError, match="terminal reason"):
        step(M.BOUNTY, S.OPEN, S.EXPIRED)
    with pytest.raises(ValueError, match="only cancelled and expired"):
        step(M.BOUNTY, S.OPEN, S.IN_PROGRESS, TerminalReason.POSTER_REQUEST)
    assert {r.value for r in TerminalReason} >= {"zero_submissions", "winner_unresponsive", "poster_request",
                                                 "failed_review", "payment_failed"}
    assert step(M.DIRECT_HIRE, S.OPEN, S.EXPIRED, TerminalReason.WINNER_UNRESPONSIVE) is S.EXPIRED
    assert step(M.BID, S.OPEN, S.CANCELLED, TerminalReason.PAYMENT_FAILED) is S.CANCELLED


def test_review_rule_and_personal_data() -> None:
    threshold = DEFAULT_POLICY.review_threshold_fen
    assert threshold == 500_000
    assert needs_review(M.BOUNTY, threshold - 1, True, threshold)
    assert not needs_review(M.BOUNTY, threshold, True, threshold)
    assert not needs_review(M.BID, 100, True, threshold)  # the threshold is about bounties
    assert needs_review(M.BID, 10**9, False, threshold)  # unverified posters always
    assert not may_be_public(True) and may_be_public(False)


def test_policy_numbers() -> None:
    policy = DEFAULT_POLICY
    assert policy.version.startswith("crowdsourcing-")
    assert policy.commission == Fraction(1, 10)
    assert (policy.acceptance_window.days, policy.selection_window.days, policy.dispute_window.days,
            policy.rating_default_after.days) == (14, 3, 14, 12)


@pytest.mark.parametrize(("fen", "slots", "expected"), [
    (100_000, 2, [50_000, 50_000]), (100_001, 3, [33_334, 33_334, 33_333]), (1, 2, [1, 0]),
])
def test_prizes_add_up_to_the_escrow(fen: int, slots: int, expected: list[int]) -> None:
    parts = prizes(Money.cny(fen), slots)
    assert sum(p.minor for p in parts) == fen
    assert sorted(p.minor for p in parts) == sorted(expected)


def test_commission_and_dispute_split_in_integer_fen() -> None:
    paid = release(Money.cny(300_000), DEFAULT_POLICY.commission)
    assert (paid.net.minor, paid.commission.minor) == (270_000, 30_000)
    solver, poster = dispute_split(Money.cny(1_000_001), 60)
    assert (solver.minor, poster.minor) == (600_001, 400_000)
    paid = release(solver, DEFAULT_POLICY.commission)
    assert (paid.net.minor, paid.commission.minor) == (540_001, 60_000)  # 60,000.1 rounded half up
    assert dispute_split(Money.cny(100), 0) == (Money.cny(0), Money.cny(100))
    with pytest.raises(ValueError):
        dispute_split(Money.cny(100), 101)
    assert pieces(Money.cny(1_000), Money.cny(300), 3) == (Money.cny(900), Money.cny(100))
    with pytest.raises(ValueError):
        pieces(Money.cny(1_000), Money.cny(300), 4)


def test_a_red_listed_solvers_commission_is_relieved_in_its_favour() -> None:
    """联合激励: `relief_percent` of the policy's commission is waived, the odd fen not charged."""
    full = release(Money.cny(300_001), DEFAULT_POLICY.commission)
    assert (full.commission.minor, full.relief_percent) == (30_000, 0)
    half = release(Money.cny(300_001), DEFAULT_POLICY.commission, 50)
    assert (half.net.minor, half.commission.minor, half.relief_percent) == (285_001, 15_000, 50)
    odd = release(Money.cny(1_010), DEFAULT_POLICY.commission, 50)  # commission 101 fen, half is 50.5
    assert (odd.net.minor, odd.commission.minor) == (960, 50)
    assert release(Money.cny(1_000), DEFAULT_POLICY.commission, 100).commission.minor == 0
    for relief in (-1, 101):
        with pytest.raises(ValueError):
            release(Money.cny(1_000), DEFAULT_POLICY.commission, relief)


def test_dispute_stages() -> None:
    D = dispute.DisputeStage
    assert dispute.step(D.NEGOTIATION, D.PLATFORM_MEDIATION) is D.PLATFORM_MEDIATION
    assert dispute.step(D.PLATFORM_MEDIATION, D.THIRD_PARTY_MEDIATION) is D.THIRD_PARTY_MEDIATION
    for stage in (D.NEGOTIATION, D.PLATFORM_MEDIATION, D.THIRD_PARTY_MEDIATION):
        assert dispute.step(stage, D.RESOLVED) is D.RESOLVED
    for current, target in ((D.NEGOTIATION, D.THIRD_PARTY_MEDIATION), (D.RESOLVED, D.PLATFORM_MEDIATION),
                            (D.THIRD_PARTY_MEDIATION, D.NEGOTIATION)):
        with pytest.raises(DomainError) as refused:
            dispute.step(current, target)
        assert refused.value.status == 409 and refused.value.extra["current_state"] == current.value
    assert (dispute.lost_by(60), dispute.lost_by(40), dispute.lost_by(50)) == ("poster", "solver", None)


@pytest.mark.parametrize(("fen", "weights", "expected"), [
    (1_000_000, [50, 30, 20], [500_000, 300_000, 200_000]),
    (1_000_001, [50, 30, 20], [500_001, 300_000, 200_000]),  # the odd fen to the largest remainder
    (800_000, [400_000, 200_000], [533_333, 266_667]),
    (90, [1, 1, 1], [30, 30, 30]),
])
def test_ranked_prizes_add_up_to_the_escrow(fen: int, weights: list[int], expected: list[int]) -> None:
    table = ranked_prizes(Money("CNY", fen), weights)
    assert [p.minor for p in table] == expected and sum(expected) == fen


def test_ranked_prize_rules() -> None:
    assert check_ranks([50, 30, 20], "percent", [1_000_000]) is None
    assert check_ranks([400_000, 200_000], "fen", [600_000, 600_000]) is None
    assert check_ranks([30, 70], "percent", [1]) == "a lower rank never wins more than a higher one"
    assert check_ranks([60, 30], "percent", [1]) == "the shares of the ranks add up to 100"
    assert check_ranks([60, 0, 40], "percent", [1]) == "every rank's prize is positive"
    assert check_ranks([400_000, 200_000], "fen", [600_000, 500_000]) is not None
    with pytest.raises(ValueError):
        ranked_prizes(Money("CNY", 100), [])


def test_a_notice_takes_objections_while_it_runs_and_is_final_once_nothing_waits() -> None:
    ends = datetime(2026, 6, 6, tzinfo=UTC)
    notice.may_object("published", ends, ends)
    for state, at, rule in (("published", ends + timedelta(seconds=1), "notice_period_over"),
                            ("withdrawn", ends, "illegal_transition"), ("final", ends, "illegal_transition")):
        with pytest.raises(DomainError) as refused:
            notice.may_object(state, ends, at)
        assert refused.value.status == 409 and refused.value.extra["rule"] == rule
    after = ends + timedelta(seconds=1)
    assert notice.is_final("published", ends, 0, after)
    assert not notice.is_final("published", ends, 1, after)  # an objection waits for a reviewer
    assert not notice.is_final("published", ends, 0, ends)  # the period still runs
    assert not notice.is_final("withdrawn", ends, 0, after)


@pytest.mark.parametrize(("contract", "sub_tasks", "steps"), [
    (S.OPEN, [], []),
    (S.OPEN, [S.OPEN, S.UNDER_REVIEW], []),  # published sub-tasks have not started
    (S.OPEN, [S.OPEN, S.IN_PROGRESS], [S.IN_PROGRESS]),  # the first one started
    (S.OPEN, [S.SUBMITTED], [S.IN_PROGRESS]),
    (S.IN_PROGRESS, [S.COMPLETED, S.OPEN], []),  # one still open
    (S.IN_PROGRESS, [S.COMPLETED, S.DISPUTED], []),
    (S.IN_PROGRESS, [S.COMPLETED, S.CANCELLED], [S.COMPLETED]),  # all finished, one completed
    (S.IN_PROGRESS, [S.RATED, S.EXPIRED], [S.COMPLETED]),
    (S.IN_PROGRESS, [S.CANCELLED, S.EXPIRED], [S.EXPIRED]),  # all ended, none completed: nothing to wait for
    (S.IN_PROGRESS, [S.EXPIRED, S.OPEN], []),  # one still open
    (S.OPEN, [S.CANCELLED], [S.EXPIRED]),  # its only sub-task cancelled before it started
    (S.OPEN, [S.CANCELLED, S.DRAFT], []),  # a draft sub-task is still to come
    (S.OPEN, [S.EXPIRED, S.SUBMITTED], [S.IN_PROGRESS]),
    (S.OPEN, [S.COMPLETED, S.CANCELLED], [S.IN_PROGRESS, S.COMPLETED]),  # published after they finished
    (S.DRAFT, [S.COMPLETED], []),  # a draft does not move; its publication rolls up
    (S.COMPLETED, [S.COMPLETED], []),
    (S.CANCELLED, [S.IN_PROGRESS], []),
])
def test_a_general_contract_moves_with_its_sub_tasks(contract: TaskState, sub_tasks: list[TaskState],
                                                     steps: list[TaskState]) -> None:
    assert contract_steps(contract, sub_tasks) == steps
    for before, after in pairwise([contract, *steps]):
        assert step(M.GENERAL_CONTRACT, before, after, contract_end_reason(after)) is after


def test_a_general_contract_that_ends_without_a_completed_sub_task_says_why() -> None:
    assert contract_end_reason(S.EXPIRED) is TerminalReason.NO_SUB_TASK_COMPLETED
    assert contract_end_reason(S.COMPLETED) is None and contract_end_reason(S.IN_PROGRESS) is None


def test_the_poster_kind_is_a_poster_role_the_caller_holds() -> None:
    assert POSTER_KINDS == ("enterprise", "agency", "institute") and set(POSTER_KINDS) <= ROLES
    assert poster_kind(frozenset({"institute"}), None) == "institute"
    assert poster_kind(frozenset({"agency", "solver"}), None) == "agency"
    assert poster_kind(frozenset({"enterprise", "institute"}), "enterprise") == "enterprise"
    assert poster_kind(frozenset({"admin"}), "institute") == "institute"  # an admin acts for any poster
    for roles, requested, status in [({"enterprise"}, "agency", 403), ({"solver"}, "enterprise", 403),
                                     ({"enterprise", "agency"}, None, 422), ({"admin"}, None, 422),
                                     ({"solver"}, None, 422), ({"enterprise"}, "bank", 422)]:
        with pytest.raises(DomainError) as refused:
            poster_kind(frozenset(roles), requested)
        assert (refused.value.status, refused.value.field) == (status, "poster_type"), (roles, requested)


@pytest.mark.parametrize(("contract", "sub_tasks", "steps"), [
    (S.OPEN, [], [S.EXPIRED]),  # never split: past its deadline nothing is to come
    (S.OPEN, [S.CANCELLED], [S.EXPIRED]),  # its only sub-task, a draft, dropped at the deadline
    (S.IN_PROGRESS, [S.CANCELLED, S.EXPIRED], [S.EXPIRED]),
    (S.IN_PROGRESS, [S.COMPLETED, S.CANCELLED], [S.COMPLETED]),
    (S.OPEN, [S.OPEN], []),  # a published sub-task is under way: it ends by its own deadline
    (S.OPEN, [S.UNDER_REVIEW, S.CANCELLED], []),
    (S.IN_PROGRESS, [S.IN_PROGRESS, S.EXPIRED], []),
    (S.DRAFT, [], []),  # a draft contract does not move; its publication rolls up
    (S.EXPIRED, [], []),
    (S.COMPLETED, [S.COMPLETED], []),
])
def test_a_general_contract_past_its_deadline_waits_only_for_sub_tasks_under_way(
        contract: TaskState, sub_tasks: list[TaskState], steps: list[TaskState]) -> None:
    assert contract_steps(contract, sub_tasks, deadline_passed=True) == steps
    for before, after in pairwise([contract, *steps]):
        assert step(M.GENERAL_CONTRACT, before, after, contract_end_reason(after)) is after
    assert contract_steps(S.OPEN, [], deadline_passed=False) == []  # before it, a contract waits for its first
    assert DROPPED_AT_CONTRACT_DEADLINE == frozenset({S.DRAFT})  # drafts are not waited for, they are cancelled
    assert TerminalReason("contract_deadline_passed") is TerminalReason.CONTRACT_DEADLINE_PASSED


def test_a_general_contract_is_on_time_when_every_completed_sub_task_completed_by_its_deadline() -> None:
    deadline = datetime(2026, 3, 1, tzinfo=UTC)
    assert contract_on_time(deadline, [deadline - timedelta(days=3), deadline])
    assert not contract_on_time(deadline, [deadline - timedelta(days=3), deadline + timedelta(seconds=1)])
    assert not contract_on_time(deadline, [None])  # a completed sub-task always has its time; none is not on time
