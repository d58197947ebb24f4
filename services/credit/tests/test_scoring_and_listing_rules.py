"""The pure credit domain: the fact table, the fold (decay from event time, bounded dimensions, causes named,
order-independent so a replay from the sources' feeds is exact), the listing rules and lifecycle guards, and
working-day deadlines across a national holiday."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

import pytest
from credit.domain.facts import Fact, facts_of
from credit.domain.listings import ensure_may_object, ensure_may_repair
from credit.domain.policy import DEFAULT_POLICY as P
from credit.domain.scoring import apply, evaluate, fold, matching_rules, opening
from credit.synthetic import history

from shared.problems import DomainError
from shared.workdays import WorkingCalendar

T0 = datetime(2026, 3, 1, tzinfo=UTC)


def fact(kind: str, days: int = 0, subject: str = "s1", ref: str | None = None) -> Fact:
    at = T0 + timedelta(days=days)
    return Fact(subject, kind, ref or f"{kind}-{days}", f"ev-{kind}-{days}-{ref}", at)


def test_the_fact_table_reads_each_crowds_events() -> None:
    lost = facts_of("cn.sizhong.crowdsourcing.dispute.resolved.v1", "e1", T0, {
        "dispute_id": "d1", "task_id": "t", "milestone_id": "m", "poster_id": "p", "solver_id": "s",
        "stage": "resolved", "resolved_by": "x", "solver_share_percent": 20, "solver_gross_fen": 0,
        "solver_net_fen": 0, "commission_fen": 0, "poster_fen": 0, "lost_by": "solver", "policy_version": "v"})
    assert [(f.subject_id, f.kind) for f in lost] == [("s", "dispute_lost"), ("p", "dispute_won")]
    fraud = facts_of("cn.sizhong.crowdsupport.voucher.voided.v1", "e2", T0, {
        "voucher_id": "v", "programme_id": "p", "agency_id": "a", "enterprise_id": "ent", "provider_id": "prov",
        "reason": "fake invoice", "fraud": True, "fraud_by": ["ent", "prov"], "clawed_back_fen": 100,
        "currency": "CNY"})
    assert [(f.subject_id, f.kind) for f in fraud] == [("ent", "voucher_fraud"), ("prov", "voucher_fraud")]
    assert facts_of("cn.sizhong.crowdsourcing.task.rated.v1", "e3", T0, {}) == []


def test_every_kind_the_policy_scores_or_lists_on_is_one_the_fact_table_makes() -> None:
    """Points for a kind no event maps to are dead policy that reads as if it were enforced (`refund_defaulted`
    was one); a generated history of every crowd's scored events makes each kind at least once."""
    made = {f.kind for e in history(3000, subjects=60, seed=3) for f in facts_of(e.type, e.id, e.time, e.data)}
    assert made == set(P.points)
    for rule in P.rules:
        assert {kind for kind, _ in rule.at_least} | set(rule.none_of) <= made, rule.name


@pytest.mark.parametrize(("kind", "expected"), [("instrument", [("member", "no_show")]), ("mentor", [])])
def test_a_crowd_support_no_show_counts_for_instruments_only(kind: str, expected: list[tuple[str, str]]) -> None:
    """Mentor sessions are checked in by the mentor alone: a missing check-in may be the mentor's absence."""
    facts = facts_of("cn.sizhong.crowdsupport.booking.no_show_recorded.v1", "e4", T0, {
        "booking_id": "b1", "resource_id": "r", "kind": kind, "member_id": "member", "owner_id": "owner",
        "start": T0.isoformat(), "end": T0.isoformat(), "policy_version": "v",
        "check_in_closed_at": T0.isoformat()})
    assert [(f.subject_id, f.kind) for f in facts] == expected
    assert all(f.ref == "b1" for f in facts)


def test_decay_follows_event_time_and_dimensions_are_bounded() -> None:
    state, change = apply(opening("s1", P), fact("dispute_lost"), P)
    assert change is not None and (change.score_before, change.score_after) == (600, 520)
    assert change.cause_event_ids == ("ev-dispute_lost-0-None",)
    later, change = apply(state, fact("work_accepted", days=200), P)  # the dispute is now in the 50 % band
    assert later.score == 600 - 40 + 15
    assert change is not None and change.cause_event_ids[1] == "ev-dispute_lost-0-None"  # decay named as cause
    gone, _ = apply(later, fact("work_accepted", days=800), P)  # beyond 24 months: the dispute no longer counts
    assert all(f.kind != "dispute_lost" for f in gone.facts)
    floor = evaluate([fact("voucher_fraud", ref=str(n)) for n in range(5)], T0, P)
    assert dict(floor[1])["compliance"] == P.dimension_floor and floor[0] == 600 + P.dimension_floor


def test_the_fold_is_order_independent_so_replay_from_the_feeds_is_exact() -> None:
    events = history(3000, subjects=60, seed=3)
    facts = [f for e in events for f in facts_of(e.type, e.id, e.time, e.data)]
    live = fold(facts, P)
    by_source: dict[str, list[Fact]] = {}
    for e in events:  # each source's feed keeps its own order; the interleaving of the feeds differs
        by_source.setdefault(e.source, []).extend(facts_of(e.type, e.id, e.time, e.data))
    rnd, queues, replayed = random.Random(11), [list(q) for q in by_source.values()], []
    while any(queues):
        queue = rnd.choice([q for q in queues if q])
        replayed.append(queue.pop(0))
    again = fold(replayed, P)
    assert {k: (v.score, v.dimensions) for k, v in live.items()} == \
        {k: (v.score, v.dimensions) for k, v in again.items()}
    assert len({v.score for v in live.values()}) > 10  # a varied history, not all at the opening score


def test_two_disputes_lost_and_a_missed_delivery_propose_a_general_black_listing() -> None:
    state = opening("s1", P)
    for f in (fact("dispute_lost", 0), fact("dispute_lost", 10)):
        state, _ = apply(state, f, P)
    assert matching_rules(state, P) == []
    warned = fact("missed_delivery", 20, ref="task:m1")
    state, _ = apply(state, warned, P)
    rules = matching_rules(state, P)
    assert [(r.list_kind, r.tier) for r in rules] == [("black", "general")]
    far = opening("s2", P)
    for f in (fact("dispute_lost", 0, "s2"), fact("dispute_lost", 10, "s2"), fact("missed_delivery", 400, "s2")):
        far, _ = apply(far, f, P)
    assert matching_rules(far, P) == []  # the disputes fell out of the 12-month window


def test_objection_and_repair_guards() -> None:
    ensure_may_object("listed", open_objection=False)
    with pytest.raises(DomainError) as refused:
        ensure_may_object("removed", open_objection=False)
    assert refused.value.status == 409 and refused.value.extra["state"] == "removed"
    with pytest.raises(DomainError):
        ensure_may_object("listed", open_objection=True)
    with pytest.raises(DomainError) as early:
        ensure_may_repair("listed", "black", "general", T0, T0 + timedelta(days=30), P, open_request=False)
    assert "minimum period" in early.value.detail
    ensure_may_repair("listed", "black", "general", T0, T0 + timedelta(days=91), P, open_request=False)
    with pytest.raises(DomainError):
        ensure_may_repair("listed", "red", "general", T0, T0 + timedelta(days=400), P, open_request=False)


def test_the_objection_deadline_skips_the_national_day_holiday() -> None:
    calendar = WorkingCalendar.china()
    filed = datetime(2026, 9, 29, 2, 0, tzinfo=UTC)  # Tuesday 10:00 in Shanghai, before the 国庆 holiday
    due = calendar.add_working_days(filed, P.objection_working_days)
    # Sep 30 (1), Oct 1-7 holiday, Oct 8-9 (2, 3), Oct 10 make-up Saturday (4), Oct 12-16 (5-9), Oct 19 (10)
    assert due == datetime(2026, 10, 19, 15, 59, 59, 999999, tzinfo=UTC)  # end of that day in Shanghai
    assert due - filed > timedelta(days=20)  # ten working days span three calendar weeks here
