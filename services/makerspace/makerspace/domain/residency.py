"""Residency (入驻) state machine, pure: submitted -> screening -> interview -> accepted | rejected ->
resident -> graduated | exited. Illegal steps are a 409 naming the current state."""

from __future__ import annotations

from enum import StrEnum

from shared.problems import DomainError


class ApplicationState(StrEnum):
    SUBMITTED = "submitted"
    SCREENING = "screening"
    INTERVIEW = "interview"
    ACCEPTED = "accepted"
    REJECTED = "rejected"
    RESIDENT = "resident"
    GRADUATED = "graduated"
    EXITED = "exited"


A = ApplicationState
STEPS: dict[ApplicationState, frozenset[ApplicationState]] = {
    A.SUBMITTED: frozenset({A.SCREENING, A.REJECTED}),
    A.SCREENING: frozenset({A.INTERVIEW, A.REJECTED}),
    A.INTERVIEW: frozenset({A.ACCEPTED, A.REJECTED}),
    A.ACCEPTED: frozenset({A.RESIDENT, A.EXITED}),
    A.RESIDENT: frozenset({A.GRADUATED, A.EXITED}),
    A.REJECTED: frozenset(),
    A.GRADUATED: frozenset(),
    A.EXITED: frozenset(),
}
UNDER_REVIEW = frozenset({A.SUBMITTED, A.SCREENING, A.INTERVIEW})
"""States in which the application waits for the operator's decision: the review that a red-listed applicant
has fast-tracked (联合激励)."""
HOLDS_WORKSPACE = frozenset({A.ACCEPTED, A.RESIDENT})
"""States in which a start-up may hold a desk or an office."""


def step(current: str, target: ApplicationState) -> ApplicationState:
    state = ApplicationState(current)
    if target not in STEPS[state]:
        allowed = ", ".join(sorted(s.value for s in STEPS[state])) or "none (final state)"
        raise DomainError(409, f"the application is in state {state.value!r}; it cannot become "
                               f"{target.value!r} (allowed: {allowed})", field="to", current_state=state.value)
    return target
