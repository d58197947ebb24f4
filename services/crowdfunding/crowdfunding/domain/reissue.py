"""Re-issuing a declined payout or refund (pure rules): who may, and when a second reviewer must approve it.

The platform holds the money in custody for its owner (the founder for a payout, the backer for a refund). Sending it
again to the party the declined payout was owed to changes nothing about where it goes, so it is one person's act:
a reviewer, or the founder for the campaign's own payout. Sending it to another payment party redirects someone
else's money: it becomes a request that a second reviewer (not the requester) approves, and the owner is told.
"""

from __future__ import annotations

from collections.abc import Set

REVIEWER = "reviewer"
REQUEST_STATES = ("pending", "approved", "rejected")


def may_reissue(roles: Set[str], subject: str, kind: str, owner_id: str, founder_id: str) -> bool:
    """A reviewer re-issues any payout or refund; a founder only the campaign's payout to themselves (a backer's
    corrected instrument comes through support, so a refund is a reviewer's)."""
    if REVIEWER in roles:
        return True
    return kind == "payout" and subject == founder_id and owner_id == founder_id


def redirected(owed_to: str, party: str | None) -> bool:
    """True when the re-issue would pay another party than the declined payout was owed to (four eyes)."""
    return party is not None and party != owed_to


def may_approve(roles: Set[str], subject: str, requested_by: str) -> bool:
    """A second reviewer: a reviewer who did not ask for the re-issue."""
    return REVIEWER in roles and subject != requested_by


def may_reject(roles: Set[str], subject: str, requested_by: str) -> bool:
    """Any reviewer, or the requester withdrawing their own request (nothing moves, so no second pair of eyes)."""
    return REVIEWER in roles or subject == requested_by


def mask_instrument(party: str) -> str:
    """A payment instrument as a notice shows it: its last four characters (`****1234`), the rest hidden."""
    if len(party) <= 4:
        return "*" * len(party)
    return "*" * (len(party) - 4) + party[-4:]
