"""Crowd-support policy: the numbers, versioned. Every decision that uses one records `version`. Pure."""

from __future__ import annotations

from dataclasses import dataclass, field
from fractions import Fraction


@dataclass(frozen=True)
class CrowdsupportPolicy:
    version: str = "crowdsupport-2026.1"
    # innovation vouchers (创新券/创业券)
    default_copay_ratio: Fraction = Fraction(3, 10)  # the enterprise pays at least 30% of a contract itself
    default_per_enterprise_year_cap_fen: int = 20_000_000  # CNY 200,000 per enterprise per programme per year
    voucher_validity_days: int = 365
    # shared instruments (先用后补): the share of the metered fee subsidised after use
    instrument_subsidy_ratio: Fraction = Fraction(1, 2)
    instrument_daily_quota_minutes: int = 12 * 60  # per user per owner per day, through the booking engine
    mentor_daily_quota_minutes: int = 4 * 60
    open_access_days: int = 366  # open access granted, and renewed, for this long from each booking
    # mentor matching
    skill_weight: Fraction = Fraction(7, 10)  # availability weighs the rest (3/10)
    # one-stop services: deadline in working days per request kind
    request_deadline_working_days: dict[str, int] = field(default_factory=lambda: {
        "registration_advice": 3, "training": 10, "policy_interpretation": 5, "subsidy_application": 15})


DEFAULT_POLICY = CrowdsupportPolicy()
