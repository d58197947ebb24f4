"""Credit policy: every number of scoring and listing lives here, versioned; each decision records the version.

Pure data. A new policy is a new version string; decisions made under the old one keep naming it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property

from shared.listings import OBJECTION_FEEDBACK_WORKING_DAYS

DIMENSIONS = ("delivery", "disputes", "payments", "compliance", "fulfilment")
TIERS = ("minor", "general", "serious")


@dataclass(frozen=True)
class DecayBand:
    """Facts younger than `max_days` (measured from the subject's latest event time) count `percent` %."""

    max_days: int
    percent: int


@dataclass(frozen=True)
class ListingRule:
    """Propose a listing when, inside `window_days`, every fact kind reaches its count (and the score bound)."""

    name: str
    list_kind: str  # black | red
    tier: str
    window_days: int
    at_least: tuple[tuple[str, int], ...]
    none_of: tuple[str, ...] = ()
    min_score: int | None = None
    basis: str = ""


@dataclass(frozen=True)
class TierTerms:
    """Publication window (also the listing's duration) and the minimum period before credit repair."""

    published: bool
    publication_days: int
    repair_after_days: int


@dataclass(frozen=True)
class CreditPolicy:
    version: str = "credit-2026.2"  # .2: the notice period counts working days (holiday calendar), not days
    minimum_score: int = 0
    maximum_score: int = 1000
    opening_score: int = 600
    # per dimension: the bounds of its contribution to the score
    dimension_floor: int = -400
    dimension_ceiling: int = 200
    # rolling windows (best of 6/12/24 months): full weight, then half, then a quarter, then nothing
    decay: tuple[DecayBand, ...] = (DecayBand(183, 100), DecayBand(365, 50), DecayBand(730, 25))
    # between the notice (with reasons, basis, rights) and the listing itself: to the end of the 5th working day
    notice_working_days: int = 5
    objection_working_days: int = OBJECTION_FEEDBACK_WORKING_DAYS  # one number with the crowd services' refusals
    repair_decision_working_days: int = 3
    tiers: dict[str, TierTerms] = field(default_factory=lambda: {
        "minor": TierTerms(published=False, publication_days=90, repair_after_days=0),
        "general": TierTerms(published=True, publication_days=365, repair_after_days=90),
        "serious": TierTerms(published=True, publication_days=3 * 365, repair_after_days=365),
    })
    # each kind of credit fact (credit.domain.facts makes them): the dimension it moves and by how many points at
    # full weight. No kind moves `payments` yet: refunds are paid from custody (众筹) and escrow (众包) by the
    # platform, so no subject defaults on one, and a declined claw-back from a provider is re-issued, not a default.
    points: dict[str, tuple[str, int]] = field(default_factory=lambda: {
        "work_accepted": ("delivery", 15),
        "late_delivery": ("delivery", -10),
        "missed_delivery": ("delivery", -60),
        "delivery_escalated": ("delivery", -40),
        "dispute_lost": ("disputes", -80),
        "dispute_won": ("disputes", 10),
        "voucher_fraud": ("compliance", -300),
        "campaign_successful": ("fulfilment", 20),
        "campaign_fulfilled": ("fulfilment", 40),
        "no_show": ("fulfilment", -15),
    })
    red_publication_days: int = 365
    red_commission_relief_percent: int = 50  # of the task's commission
    red_fast_track_review: bool = True
    rules: tuple[ListingRule, ...] = (
        ListingRule("fraud", "black", "serious", 730, (("voucher_fraud", 1),),
                    basis="《社会信用体系建设规划纲要》; 创新券管理办法: fraud on a public voucher"),
        ListingRule("disputes_and_missed_delivery", "black", "general", 365,
                    (("dispute_lost", 2), ("missed_delivery", 1)),
                    basis="平台信用管理办法 §5: two disputes lost and a missed delivery within 12 months"),
        ListingRule("repeated_no_shows", "black", "minor", 183, (("no_show", 3),),
                    basis="平台信用管理办法 §6: three no-shows within 6 months"),
        ListingRule("trustworthy", "red", "general", 730, (("work_accepted", 5),),
                    none_of=("dispute_lost", "missed_delivery", "voucher_fraud", "no_show"), min_score=750,
                    basis="平台信用管理办法 §8: five accepted deliveries, no breach in 24 months, score ≥ 750"),
    )

    def clamp(self, score: int) -> int:
        return max(self.minimum_score, min(self.maximum_score, score))

    def weight_percent(self, age_days: int) -> int:
        for band in self.decay:
            if age_days < band.max_days:
                return band.percent
        return 0

    @cached_property
    def horizon_days(self) -> int:
        """Facts older than this (to the subject's latest event) no longer count anywhere."""
        return max([self.decay[-1].max_days, *(rule.window_days for rule in self.rules)])


DEFAULT_POLICY = CreditPolicy()
