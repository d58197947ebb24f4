"""Re-issuing a declined payout or refund (pure rules): who may, and when a second reviewer must approve it.

The platform holds the money in custody for its owner (the founder for a payout, the backer for a refund). Sending it
again to the party the declined payout was owed to changes nothing about where it goes, so it is one person's act:
a reviewer, or the founder for the campaign's own payout. Sending it to another payment party redirects someone
else's money: it becomes a request that a second reviewer (not the requester) approves, and the owner is told.
An approved redirection of a founder's payout also becomes the campaign's payout account: the later payouts (the
held tranche) and re-issues of the founder's other declined payouts go there without another request.
"""

from __future__ import annotations

from collections.abc import Set

REVIEWER = "reviewer"
REQUEST_STATES = ("pending", "approved", "rejected", "expired")


def may_reissue(roles: Set[str], subject: str, kind: str, owner_id: str, founder_id: str) -> bool:
    """A reviewer re-issues any payout or refund; a founder only the campaign's payout to themselves (a backer's
    corrected instrument comes through support, so a refund is a reviewer's)."""
    if REVIEWER in roles:
        return True
    return kind == "payout" and subject == founder_id and owner_id == founder_id


def owed_to(kind: str, declined_party: str, payout_account: str) -> str:
    """Where a re-issue pays unless another party is asked for: a founder's payout to the campaign's payout account
    as it stands (the founder's own at creation, or one a second reviewer approved since); a refund to the
    instrument it was owed to."""
    return payout_account if kind == "payout" else declined_party


def becomes_payout_account(kind: str) -> bool:
    """An approved redirection of a founder's payout is where the founder is paid from then on (the campaign's
    payout account); a backer's refund is about one pledge and changes nothing else."""
    return kind == "payout"


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
