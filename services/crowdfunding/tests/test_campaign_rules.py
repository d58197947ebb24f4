"""The campaign state machine, deadline outcomes per funding mode, cancellation windows, progress marks, review
checks and risk signals: pure tables, no I/O."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from crowdfunding.domain.campaign import (
    FINAL,
    TRANSITIONS,
    CampaignState,
    FundingMode,
    Outcome,
    cancellable_by_backer,
    check_duration,
    deadline_outcome,
    progress_marks_reached,
    schedule,
    step,
)
from crowdfunding.domain.policy import DEFAULT_POLICY
from crowdfunding.domain.review import CampaignText, review_findings
from crowdfunding.domain.risk import anomalies, self_dealing

from shared.problems import DomainError

S = CampaignState
T0 = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)
H = timedelta(hours=1)
LEGAL = [
    (S.DRAFT, S.SUBMITTED), (S.DRAFT, S.CANCELLED), (S.SUBMITTED, S.NEEDS_WORK), (S.SUBMITTED, S.REJECTED),
    (S.SUBMITTED, S.APPROVED), (S.NEEDS_WORK, S.SUBMITTED), (S.APPROVED, S.LIVE), (S.LIVE, S.WAITING_FUNDS),
    (S.LIVE, S.SUCCESSFUL), (S.LIVE, S.FAILED), (S.LIVE, S.SUSPENDED), (S.LIVE, S.CANCELLED),
    (S.WAITING_FUNDS, S.SUCCESSFUL), (S.WAITING_FUNDS, S.FAILED), (S.WAITING_FUNDS, S.SUSPENDED),
    (S.SUCCESSFUL, S.FULFILLING), (S.FULFILLING, S.FULFILLED), (S.SUSPENDED, S.LIVE), (S.SUSPENDED, S.FAILED),
]
ILLEGAL = [
    (S.DRAFT, S.LIVE), (S.DRAFT, S.APPROVED), (S.SUBMITTED, S.LIVE), (S.REJECTED, S.SUBMITTED),
    (S.APPROVED, S.SUCCESSFUL), (S.LIVE, S.FULFILLING), (S.SUCCESSFUL, S.CANCELLED), (S.FAILED, S.LIVE),
    (S.FULFILLED, S.FULFILLING), (S.CANCELLED, S.DRAFT), (S.SUSPENDED, S.SUCCESSFUL), (S.FULFILLING, S.SUSPENDED),
]


@pytest.mark.parametrize(("current", "target"), LEGAL)
def test_legal_transitions(current: CampaignState, target: CampaignState) -> None:
    assert step(current, target) is target


@pytest.mark.parametrize(("current", "target"), ILLEGAL)
def test_illegal_transitions_are_409_naming_the_current_state(current: CampaignState, target: CampaignState) -> None:
    with pytest.raises(DomainError) as refused:
        step(current, target)
    assert refused.value.status == 409
    assert refused.value.extra["current_state"] == current.value
    assert repr(current.value) in refused.value.detail


def test_final_states_lead_nowhere() -> None:
    assert FINAL == {S.REJECTED, S.FAILED, S.FULFILLED, S.CANCELLED}
    assert all(not TRANSITIONS[s] for s in FINAL)


@pytest.mark.parametrize(("days", "ok"), [(0, False), (1, True), (30, True), (60, True), (61, False)])
def test_duration_1_to_60_days(days: int, ok: bool) -> None:
    if ok:
        check_duration(FundingMode.ALL_OR_NOTHING, days, DEFAULT_POLICY)
    else:
        with pytest.raises(DomainError) as refused:
            check_duration(FundingMode.KEEP_IT_ALL, days, DEFAULT_POLICY)
        assert refused.value.field == "duration_days"


def test_two_rounds_are_40_plus_40_days() -> None:
    deadline, first = schedule(FundingMode.TWO_ROUNDS, T0, 0, DEFAULT_POLICY)
    assert first == T0 + timedelta(days=40)
    assert deadline == T0 + timedelta(days=80)
    assert schedule(FundingMode.ALL_OR_NOTHING, T0, 30, DEFAULT_POLICY) == (T0 + timedelta(days=30), None)


END = T0 + timedelta(days=30)
R1 = T0 + timedelta(days=40)


@pytest.mark.parametrize(("mode", "now", "round_", "raised", "pending", "expected"), [
    (FundingMode.ALL_OR_NOTHING, END - H, 1, 10_000, 0, Outcome.CONTINUE),
    (FundingMode.ALL_OR_NOTHING, END, 1, 10_000, 0, Outcome.SUCCESSFUL),
    (FundingMode.ALL_OR_NOTHING, END, 1, 9_999, 0, Outcome.FAILED),
    (FundingMode.ALL_OR_NOTHING, END, 1, 9_999, 500, Outcome.WAIT),
    (FundingMode.KEEP_IT_ALL, END, 1, 1, 0, Outcome.SUCCESSFUL),
    (FundingMode.KEEP_IT_ALL, END, 1, 0, 0, Outcome.FAILED),
    (FundingMode.TWO_ROUNDS, R1 - H, 1, 0, 0, Outcome.CONTINUE),
    (FundingMode.TWO_ROUNDS, R1, 1, 4_999, 0, Outcome.FAILED),
    (FundingMode.TWO_ROUNDS, R1, 1, 5_000, 0, Outcome.NEXT_ROUND),
    (FundingMode.TWO_ROUNDS, R1, 1, 4_000, 1_000, Outcome.WAIT),
    (FundingMode.TWO_ROUNDS, R1 + H, 2, 6_000, 0, Outcome.CONTINUE),
    (FundingMode.TWO_ROUNDS, R1 + timedelta(days=40), 2, 6_000, 0, Outcome.SUCCESSFUL),
])
def test_deadline_outcomes(mode: FundingMode, now: datetime, round_: int, raised: int, pending: int,
                           expected: Outcome) -> None:
    deadline = R1 + timedelta(days=40) if mode is FundingMode.TWO_ROUNDS else END
    first = R1 if mode is FundingMode.TWO_ROUNDS else None
    decision = deadline_outcome(mode, now, deadline, first, round_, raised, pending, 10_000,
                                5_000 if mode is FundingMode.TWO_ROUNDS else None)
    assert decision.outcome is expected, decision


@pytest.mark.parametrize(("before_deadline", "refused"), [
    (timedelta(hours=49), None), (timedelta(hours=48), None), (timedelta(hours=48) - timedelta(seconds=1),
                                                               "within_48_hours_of_deadline"),
    (timedelta(hours=2), "within_48_hours_of_deadline"), (timedelta(hours=1), "last_hour"),
    (timedelta(minutes=59), "last_hour"), (timedelta(0), "last_hour"),
])
def test_backer_cancellation_window(before_deadline: timedelta, refused: str | None) -> None:
    assert cancellable_by_backer(END - before_deadline, END, DEFAULT_POLICY) == refused


def test_progress_marks_once_each() -> None:
    assert progress_marks_reached(4_999, 10_000, (50, 100), 0) == []
    assert progress_marks_reached(5_000, 10_000, (50, 100), 0) == [50]
    assert progress_marks_reached(10_000, 10_000, (50, 100), 0) == [50, 100]
    assert progress_marks_reached(12_000, 10_000, (50, 100), 50) == [100]
    assert progress_marks_reached(12_000, 10_000, (50, 100), 100) == []


def _text(**overrides: object) -> CampaignText:
    base: dict[str, object] = dict(kind="reward", title="智能台灯", summary="护眼台灯", story="我们做了三年。",
                                   industry="hardware", goal_fen=1_000_000,
                                   tiers=[{"title": "早鸟", "description": "一台台灯"}])
    base.update(overrides)
    return CampaignText(**base)  # type: ignore[arg-type]


def test_a_clean_campaign_passes_review() -> None:
    assert review_findings(_text(), DEFAULT_POLICY, founder_verified=True) == []


@pytest.mark.parametrize(("overrides", "rule", "field", "phrase"), [
    ({"title": ""}, "required_field", "title", None),
    ({"story": "  "}, "required_field", "story", None),
    ({"tiers": []}, "required_field", "tiers", None),
    ({"industry": "p2p_lending"}, "negative_list", "industry", None),
    ({"industry": "gambling"}, "negative_list", "industry", None),
    ({"title": "保本台灯"}, "false_advertising", "title", "保本"),
    ({"story": "投资稳赚，回报丰厚"}, "false_advertising", "story", "稳赚"),
    ({"summary": "绝对无风险"}, "false_advertising", "summary", "无风险"),
    ({"tiers": [{"title": "零风险套餐", "description": "x"}]}, "false_advertising", "tiers[0].title", "零风险"),
    ({"tiers": [{"title": "A", "description": "Guaranteed Return of 20%"}]}, "false_advertising",
     "tiers[0].description", "guaranteed return"),
    ({"story": "a guaranteed yield"}, "false_advertising", "story", "guaranteed yield"),
])
def test_review_findings_name_rule_field_and_phrase(overrides: dict[str, object], rule: str, field: str,
                                                    phrase: str | None) -> None:
    findings = review_findings(_text(**overrides), DEFAULT_POLICY, founder_verified=True)
    assert any(f.rule == rule and f.field == field and f.phrase == phrase for f in findings), findings


def test_review_requires_a_verified_founder_and_equity_documents() -> None:
    findings = review_findings(_text(kind="equity", tiers=[]), DEFAULT_POLICY, founder_verified=False)
    rules = {(f.rule, f.field) for f in findings}
    assert ("founder_not_verified", "organisation_id") in rules
    assert ("required_field", "key_information_sheet") in rules
    assert ("required_field", "tiers") not in rules


def test_self_dealing_and_related_parties() -> None:
    assert self_dealing("f", "f", None, [], None, None).rule == "self_backing"  # type: ignore[union-attr]
    assert self_dealing("b", "f", "org1", ["org1"], None, None).rule == "related_party"  # type: ignore[union-attr]
    assert self_dealing("b", "f", "org1", ["org2"], "org2", "f").rule == "related_party"  # type: ignore[union-attr]
    assert self_dealing("b", "f", "org1", ["org2"], "org2", "b") is None
    assert self_dealing("b", "f", None, [], None, None) is None


def test_velocity_and_shared_instrument_are_flagged_not_refused() -> None:
    limit = DEFAULT_POLICY.velocity_limit  # 5 within 10 minutes pass; a 6th is flagged
    assert anomalies(limit - 1, 1, DEFAULT_POLICY) == []
    assert [s.rule for s in anomalies(limit, 1, DEFAULT_POLICY)] == ["pledge_velocity"]
    assert [s.rule for s in anomalies(0, 3, DEFAULT_POLICY)] == ["same_instrument"]
    assert anomalies(0, 2, DEFAULT_POLICY) == []
    assert not any(s.refuse for s in anomalies(limit, 3, DEFAULT_POLICY))
