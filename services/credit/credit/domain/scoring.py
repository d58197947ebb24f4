"""The score as a pure, deterministic fold: (state, fact) -> (state, score change naming its causes).

A subject's score is a function of the set of its facts and `as_of`, the latest event time seen for it
(never the wall clock): each fact counts its policy points times the decay band of its age at `as_of`, each
dimension is bounded, and the total is clamped. Because `as_of` only moves forward and the score depends on
the set, folding the same facts in any order ends at the same score, so a replay is exact.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from credit.domain.facts import Fact
from credit.domain.policy import DIMENSIONS, CreditPolicy, ListingRule


@dataclass(frozen=True)
class SubjectState:
    subject_id: str
    facts: tuple[Fact, ...]  # those still inside the policy horizon of `as_of`
    as_of: datetime | None
    score: int
    dimensions: tuple[tuple[str, int], ...]
    # a cache, not part of the result: weighted sums per dimension and the earliest `as_of` at which any kept
    # fact changes weight; until then a new fact is added incrementally (None: recompute from the facts)
    raw: tuple[int, ...] | None = None
    boundary: datetime | None = None


@dataclass(frozen=True)
class ScoreChange:
    subject_id: str
    score_before: int
    score_after: int
    dimensions: tuple[tuple[str, int], ...]
    cause_event_ids: tuple[str, ...]  # the new fact's event first, then facts whose weight decayed
    as_of: datetime
    policy_version: str


def opening(subject_id: str, policy: CreditPolicy) -> SubjectState:
    return SubjectState(subject_id, (), None, policy.opening_score, tuple((d, 0) for d in DIMENSIONS),
                        tuple(0 for _ in DIMENSIONS), None)


def _age_days(fact: Fact, as_of: datetime) -> int:
    return (as_of - fact.at).days  # whole days, floored


INDEX = {d: n for n, d in enumerate(DIMENSIONS)}


def _weigh(fact: Fact, as_of: datetime, policy: CreditPolicy) -> tuple[int, int, datetime]:
    """(dimension index, weighted points, the as_of at which this fact's weight next changes)."""
    dimension, points = policy.points[fact.kind]
    age = (as_of - fact.at).days
    for band in policy.decay:
        if age < band.max_days:
            return INDEX[dimension], points * band.percent, fact.at + timedelta(days=band.max_days)
    return INDEX[dimension], 0, fact.at + timedelta(days=policy.horizon_days)


def _result(raw: tuple[int, ...], policy: CreditPolicy) -> tuple[int, tuple[tuple[str, int], ...]]:
    dims = tuple((d, max(policy.dimension_floor, min(policy.dimension_ceiling, raw[n] // 100)))
                 for n, d in enumerate(DIMENSIONS))
    return policy.clamp(policy.opening_score + sum(v for _, v in dims)), dims


def _weigh_all(facts: Iterable[Fact], as_of: datetime,
               policy: CreditPolicy) -> tuple[tuple[int, ...], datetime | None]:
    sums = [0] * len(DIMENSIONS)
    boundary: datetime | None = None
    for fact in facts:
        n, weighted, changes = _weigh(fact, as_of, policy)
        sums[n] += weighted
        boundary = changes if boundary is None or changes < boundary else boundary
    return tuple(sums), boundary


def evaluate(facts: Iterable[Fact], as_of: datetime, policy: CreditPolicy) -> tuple[int, tuple[tuple[str, int], ...]]:
    """Score and dimensions of a set of facts seen at `as_of` (integer arithmetic: exact on every run)."""
    return _result(_weigh_all(facts, as_of, policy)[0], policy)


def apply(state: SubjectState, fact: Fact, policy: CreditPolicy) -> tuple[SubjectState, ScoreChange | None]:
    """Fold one fact in; the change is None when the score and every dimension stayed the same."""
    as_of = fact.at if state.as_of is None or fact.at > state.as_of else state.as_of
    horizon = policy.horizon_days
    if (as_of - fact.at).days >= horizon:  # a late fact already beyond the horizon counts for nothing
        if as_of == state.as_of:
            return state, None
        incoming: tuple[Fact, ...] = ()
    else:
        incoming = (fact,)
    decayed: tuple[str, ...] = ()
    if state.raw is not None and (state.boundary is None or as_of < state.boundary):
        kept, raw, boundary = (*state.facts, *incoming), list(state.raw), state.boundary
        for new_fact in incoming:  # no kept fact changes weight before `boundary`: add the new one only
            n, weighted, changes = _weigh(new_fact, as_of, policy)
            raw[n] += weighted
            boundary = changes if boundary is None or changes < boundary else boundary
        sums = tuple(raw)
    else:
        kept = tuple(f for f in (*state.facts, *incoming) if (as_of - f.at).days < horizon)
        sums, boundary = _weigh_all(kept, as_of, policy)
        if state.as_of is not None:
            decayed = tuple(f.event_id for f in state.facts if policy.weight_percent(_age_days(f, state.as_of))
                            != policy.weight_percent(_age_days(f, as_of)))
    score, dims = _result(sums, policy)
    new = SubjectState(state.subject_id, kept, as_of, score, dims, sums, boundary)
    if score == state.score and dims == state.dimensions:
        return new, None
    return new, ScoreChange(state.subject_id, state.score, score, dims, (fact.event_id, *decayed), as_of,
                            policy.version)


def fold(facts: Iterable[Fact], policy: CreditPolicy) -> dict[str, SubjectState]:
    """Every subject's state from its facts, as a rebuild computes it."""
    states: dict[str, SubjectState] = {}
    for fact in facts:
        state = states.get(fact.subject_id) or opening(fact.subject_id, policy)
        states[fact.subject_id], _ = apply(state, fact, policy)
    return states


def matching_rules(state: SubjectState, policy: CreditPolicy) -> list[ListingRule]:
    """The listing rules the subject's facts now meet (a rule counts distinct refs per kind in its window)."""
    if state.as_of is None:
        return []
    met = []
    for rule in policy.rules:
        recent = [f for f in state.facts if _age_days(f, state.as_of) < rule.window_days]
        refs: dict[str, set[str]] = {}
        for f in recent:
            refs.setdefault(f.kind, set()).add(f.ref)
        if any(len(refs.get(kind, ())) < count for kind, count in rule.at_least):
            continue
        if any(kind in refs for kind in rule.none_of):
            continue
        if rule.min_score is not None and state.score < rule.min_score:
            continue
        met.append(rule)
    return met


def reasons_for(state: SubjectState, rule: ListingRule) -> tuple[list[str], list[str]]:
    """Human-readable reasons and the event ids behind them, for the notice."""
    assert state.as_of is not None
    kinds = {kind for kind, _ in rule.at_least}
    facts = [f for f in state.facts if f.kind in kinds and _age_days(f, state.as_of) < rule.window_days]
    counts = {kind: len({f.ref for f in facts if f.kind == kind}) for kind in sorted(kinds)}
    reasons = [f"{kind}: {n} within {rule.window_days} days (rule needs {dict(rule.at_least)[kind]})"
               for kind, n in counts.items()]
    return reasons, sorted({f.event_id for f in facts})
