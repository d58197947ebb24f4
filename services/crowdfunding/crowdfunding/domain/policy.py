"""Crowdfunding policy: the numbers of DOMAIN.md 众筹, versioned. Every decision records the version it used. Pure.

The equity investor-protection profiles (CN, US Reg CF, EU ECSP) have their own versioned policies in
`crowdfunding.domain.equity`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta
from fractions import Fraction

# 市场准入负面清单 (illustrative subset, configurable): industries a campaign may not raise for.
NEGATIVE_LIST = (
    "p2p_lending",  # the platform may not run P2P lending (网络借贷)
    "gambling",
    "lottery",
    "virtual_currency",
    "firearms",
    "tobacco",
    "pyramid_selling",
    "unlicensed_financial_services",
    "private_fund_raising",
)

# 虚假宣传: promised returns and "safe" claims; matched case-insensitively, each finding names phrase and field.
FORBIDDEN_PHRASES = (
    "保本", "稳赚", "无风险", "零风险", "保收益", "保证收益", "承诺收益", "固定收益", "稳赚不赔", "高额回报",
    "guaranteed return", "guaranteed yield", "guaranteed profit", "risk-free", "risk free", "no risk",
    "promised return",
)


@dataclass(frozen=True)
class CrowdfundingPolicy:
    version: str = "crowdfunding-2026.1"
    min_duration: timedelta = timedelta(days=1)
    max_duration: timedelta = timedelta(days=60)
    round_length: timedelta = timedelta(days=40)  # two rounds: 40 + 40 days
    cancel_until_before_deadline: timedelta = timedelta(hours=48)  # a backer may cancel until then ...
    no_cancel_last: timedelta = timedelta(hours=1)  # ... and never in the last hour (even where a profile allows)
    payment_expiry: timedelta = timedelta(minutes=30)  # a pledge still unpaid this long after placing releases
    refund_start_within: timedelta = timedelta(hours=1)  # failure -> refunds started within 1 hour of deadline
    refund_complete_working_days: int = 5
    reissue_request_working_days: int = 5  # a re-issue to another party not decided by a second reviewer lapses
    first_tranche: Fraction = Fraction(70, 100)  # released to the founder on success (within 3 days)
    first_tranche_within: timedelta = timedelta(days=3)
    confirmation_window: timedelta = timedelta(days=14)  # after delivery is recorded, silence confirms it
    progress_marks: tuple[int, ...] = (50, 100)  # percent of goal: one event each
    velocity_window: timedelta = timedelta(minutes=10)  # pledges by one backer in this window ...
    velocity_limit: int = 5  # ... above this are flagged for review
    same_instrument_backers: int = 3  # one payment instrument used by this many backers on a campaign: flagged
    max_tiers: int = 30
    max_pledge_fen: int = 10**10  # CNY 100,000,000
    negative_list: tuple[str, ...] = NEGATIVE_LIST
    forbidden_phrases: tuple[str, ...] = FORBIDDEN_PHRASES
    industries: tuple[str, ...] = field(default=(
        "hardware", "consumer_goods", "food_agriculture", "culture_creative", "software", "games", "publishing",
        "film_music", "education", "health", "environment", "manufacturing", "services", *NEGATIVE_LIST))


DEFAULT_POLICY = CrowdfundingPolicy()
