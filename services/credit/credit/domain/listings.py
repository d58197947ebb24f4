"""Listing lifecycle rules (red and black lists): states, windows, who may object or repair, and when. Pure.

notified --(notice period over)--> listed --(objection upheld | repaired | expired)--> removed
notified --(objection upheld)--> withdrawn
Nothing is deleted: every way out is a compensating state reached by an event; the row stays.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from enum import StrEnum

from credit.domain.policy import CreditPolicy
from shared.problems import DomainError


class ListingState(StrEnum):
    NOTIFIED = "notified"
    LISTED = "listed"
    WITHDRAWN = "withdrawn"
    REMOVED = "removed"


ACTIVE = (ListingState.NOTIFIED.value, ListingState.LISTED.value)


def duration(list_kind: str, tier: str, policy: CreditPolicy) -> timedelta:
    """How long a listing lasts once listed (its publication window when the tier is published)."""
    if list_kind == "red":
        return timedelta(days=policy.red_publication_days)
    return timedelta(days=policy.tiers[tier].publication_days)


def published(list_kind: str, tier: str, policy: CreditPolicy) -> bool:
    return list_kind == "red" or policy.tiers[tier].published


def ensure_may_object(state: str, open_objection: bool) -> None:
    if state not in ACTIVE:
        raise DomainError(409, f"the listing is {state}; only a notified or listed entry can be objected to",
                          field="listing_id", state=state)
    if open_objection:
        raise DomainError(409, "an objection to this listing is already under review", field="listing_id",
                          state=state)


def ensure_may_repair(state: str, list_kind: str, tier: str, listed_at: datetime | None, now: datetime,
                      policy: CreditPolicy, open_request: bool) -> None:
    """Repair (信用修复) is for a black listing that has been listed for at least the tier's minimum period."""
    if list_kind != "black" or state != ListingState.LISTED.value or listed_at is None:
        raise DomainError(409, f"only a listed black-list entry can be repaired; this one is {state}",
                          field="listing_id", state=state)
    if open_request:
        raise DomainError(409, "a repair request for this listing is already being decided", field="listing_id",
                          state=state)
    earliest = listed_at + timedelta(days=policy.tiers[tier].repair_after_days)
    if now < earliest:
        raise DomainError(409, f"credit repair can be applied for from {earliest.isoformat()} (minimum period "
                               f"of the {tier} tier)", field="listing_id", state=state,
                          earliest=earliest.isoformat())


def overdue(due: datetime, now: datetime) -> bool:
    """An objection's feedback or a repair's decision is overdue once its deadline (the end of the last working
    day, stored when it was filed) has passed with it still undecided; at the deadline itself it is on time."""
    return now > due


def ensure_pending(kind: str, state: str) -> None:
    if state != "pending":
        raise DomainError(409, f"the {kind} has been decided already ({state})", state=state)
