"""Dispute (维权) stages, pure: negotiation -> platform_mediation -> third_party_mediation; resolved from any
open stage. The outcome splits the milestone's escrow in stated shares."""

from __future__ import annotations

from enum import StrEnum

from shared.problems import DomainError


class DisputeStage(StrEnum):
    NEGOTIATION = "negotiation"
    PLATFORM_MEDIATION = "platform_mediation"  # 平台调解, by an assigned platform mediator
    THIRD_PARTY_MEDIATION = "third_party_mediation"  # 第三方调解, recorded by the assigned mediator
    RESOLVED = "resolved"


D = DisputeStage
STEPS: dict[DisputeStage, frozenset[DisputeStage]] = {
    D.NEGOTIATION: frozenset({D.PLATFORM_MEDIATION, D.RESOLVED}),
    D.PLATFORM_MEDIATION: frozenset({D.THIRD_PARTY_MEDIATION, D.RESOLVED}),
    D.THIRD_PARTY_MEDIATION: frozenset({D.RESOLVED}),
    D.RESOLVED: frozenset(),
}


def step(current: str, target: DisputeStage) -> DisputeStage:
    stage = DisputeStage(current)
    if target not in STEPS[stage]:
        listed = ", ".join(sorted(s.value for s in STEPS[stage])) or "none (final stage)"
        raise DomainError(409, f"the dispute is at stage {stage.value!r}; it cannot move to {target.value!r} "
                               f"(allowed: {listed})", current_state=stage.value, rule="illegal_transition")
    return target


def lost_by(solver_percent: int) -> str | None:
    """Who lost the dispute, for credit: the side that received less than half (None at 50/50)."""
    if solver_percent > 50:
        return "poster"
    if solver_percent < 50:
        return "solver"
    return None
