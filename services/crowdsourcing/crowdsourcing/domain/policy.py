"""Crowdsourcing policy: the numbers of DOMAIN.md 众包, versioned. Every decision records the version it used. Pure."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from fractions import Fraction


@dataclass(frozen=True)
class CrowdsourcingPolicy:
    version: str = "crowdsourcing-2026.1"
    commission: Fraction = Fraction(10, 100)  # taken from what a solver is paid, never from refunds
    review_threshold_fen: int = 500_000  # bounties below CNY 5,000 (and unverified posters) are reviewed first
    acceptance_window: timedelta = timedelta(days=14)  # silence after delivery accepts it (auto-accept)
    selection_window: timedelta = timedelta(days=3)  # bounty/contest winners, bids, a direct hire's answer
    dispute_window: timedelta = timedelta(days=14)  # after delivery
    rating_default_after: timedelta = timedelta(days=12)  # then a missing rating is positive by default
    abandonment_warning_after: timedelta = timedelta(0)  # a solver past the due date is warned at once ...
    abandonment_escalation_after: timedelta = timedelta(days=3)  # ... and escalated this long after the warning
    abandonment_escalation_cancels: bool = True  # escalation ends the assignment and refunds the escrow
    public_notice_period: timedelta = timedelta(days=5)  # 任务公示: chosen winners published before the award is final
    max_revisions: int = 3  # revision requests per milestone; then accept or dispute
    max_milestones: int = 20
    max_winners: int = 20
    default_rating: int = 5  # the positive default


DEFAULT_POLICY = CrowdsourcingPolicy()
