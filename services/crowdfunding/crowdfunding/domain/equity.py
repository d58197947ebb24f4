"""The investor-protection engine for equity offerings (pure), with selectable policy profiles:

- CN (default; 私募股权众筹融资管理办法, draft 2014): only real-name verified qualified investors see or invest;
  at most 200 investors per offering. Qualified = invests >= CNY 1,000,000 in this one project; or an entity
  with net assets >= CNY 10,000,000; or a person with financial assets >= CNY 3,000,000 or an average annual
  income >= CNY 500,000 over the last 3 years. The 2015 revision's thresholds are `CN_2015`.
- US Reg CF: non-accredited 12-month limit = if annual income or net worth < USD 124,000: the greater of
  USD 2,500 or 5% of the greater of the two; otherwise 10% of the greater, at most USD 124,000 (accredited: no
  limit). Issuer cap USD 5,000,000 per 12 months. Cancel until 48 hours before the deadline. Early close after
  >= 21 days open and >= 5 business days' notice. Material change: reconfirm within 5 business days or the
  commitment is cancelled. 1-year transfer lock.
- EU ECSP (2020/1503): a non-sophisticated investor needs a passed entry knowledge test (valid 2 years) and a
  loss simulation (yearly; ability to bear loss = 10% of net worth); above max(EUR 1,000, 5% of net worth) a
  shown risk warning and explicit consent; a 4-day reflection period to revoke; EUR 5,000,000 per project
  owner per 12 months; a key investment information sheet per offer.

Amounts are integer minor units of the profile's currency. Percent limits are rounded down (a limit is never
exceeded by rounding). Every decision returns its outcome, the rule, the figures it used and the policy version.

The 12-month totals (an investor's investments, an issuer's raises) count every equity offering, whatever its
profile: amounts in another currency are converted at the policy's reference rates (`REFERENCE_RATES`, versioned),
each converted sum rounded up, so a limit is never exceeded by conversion; the decision's figures show the
totals per currency and the rates' version.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import date, datetime, timedelta
from enum import StrEnum
from fractions import Fraction
from typing import Any, Literal

Outcome = Literal["allowed", "limited", "refused"]


class Profile(StrEnum):
    CN = "cn"
    US_REG_CF = "us_reg_cf"
    EU_ECSP = "eu_ecsp"


@dataclass(frozen=True)
class CNPolicy:
    version: str = "cn-2014-draft.1"
    currency: str = "CNY"
    single_project_minimum: int = 100_000_000  # CNY 1,000,000 in this one project
    entity_net_assets: int = 1_000_000_000  # CNY 10,000,000
    person_financial_assets: int = 300_000_000  # CNY 3,000,000
    person_average_income: int = 50_000_000  # CNY 500,000 a year, averaged over `income_years`
    income_years: int = 3
    max_investors: int = 200
    cancel_until_before_deadline: timedelta = timedelta(hours=48)
    reconfirm_business_days: int = 5


CN_2014 = CNPolicy()
CN_2015 = CNPolicy(version="cn-2015-revision.1", single_project_minimum=10_000_000,
                   person_financial_assets=100_000_000, person_average_income=30_000_000)


@dataclass(frozen=True)
class USRegCFPolicy:
    version: str = "us-regcf-2021.1"
    currency: str = "USD"
    tier_threshold: int = 12_400_000  # USD 124,000
    floor: int = 250_000  # USD 2,500
    lower_rate: Fraction = Fraction(5, 100)
    upper_rate: Fraction = Fraction(10, 100)
    max_limit: int = 12_400_000  # USD 124,000
    issuer_cap: int = 500_000_000  # USD 5,000,000 per 12 months
    window: timedelta = timedelta(days=365)
    cancel_until_before_deadline: timedelta = timedelta(hours=48)
    early_close_min_open: timedelta = timedelta(days=21)
    early_close_notice_business_days: int = 5
    reconfirm_business_days: int = 5
    transfer_lock: timedelta = timedelta(days=365)
    max_investors: int | None = None


@dataclass(frozen=True)
class EUECSPPolicy:
    version: str = "eu-ecsp-2020.1"
    currency: str = "EUR"
    knowledge_test_valid: timedelta = timedelta(days=730)  # 2 years
    loss_simulation_valid: timedelta = timedelta(days=365)  # yearly
    loss_bearing_rate: Fraction = Fraction(10, 100)  # ability to bear loss = 10% of net worth
    warning_floor: int = 100_000  # EUR 1,000
    warning_rate: Fraction = Fraction(5, 100)  # 5% of net worth
    reflection_period: timedelta = timedelta(days=4)
    issuer_cap: int = 500_000_000  # EUR 5,000,000 per project owner per 12 months
    window: timedelta = timedelta(days=365)
    cancel_until_before_deadline: timedelta = timedelta(hours=48)
    reconfirm_business_days: int = 5
    max_investors: int | None = None


@dataclass(frozen=True)
class ReferenceRates:
    """The value of one major unit of each currency in USD: a policy figure for counting 12-month totals across
    offerings in different currencies, not a market feed (review it with the policy)."""

    version: str = "fx-reference-2026.1"
    usd_value: Mapping[str, Fraction] = field(default_factory=lambda: {
        "USD": Fraction(1), "CNY": Fraction(14, 100), "EUR": Fraction(108, 100)})


REFERENCE_RATES = ReferenceRates()


@dataclass(frozen=True)
class Total:
    amount: int  # in the target currency's minor units
    figures: dict[str, Any]


def twelve_month_total(currency: str, by_currency: Mapping[str, int], rates: ReferenceRates = REFERENCE_RATES) -> Total:
    """A 12-month total across offerings in several currencies, in `currency`: each other currency's sum converted
    at the reference rate and rounded up (never in the investor's or issuer's favour)."""
    total = 0
    for code, amount in by_currency.items():
        if code == currency:
            total += amount
            continue
        rate = rates.usd_value[code] / rates.usd_value[currency]
        total += -(-amount * rate.numerator // rate.denominator)  # ceiling
    return Total(total, {"by_currency": dict(sorted(by_currency.items())), "in": currency, "total": total,
                         "rates_version": rates.version})


PolicyOf = CNPolicy | USRegCFPolicy | EUECSPPolicy
POLICIES: dict[Profile, PolicyOf] = {Profile.CN: CN_2014, Profile.US_REG_CF: USRegCFPolicy(),
                                     Profile.EU_ECSP: EUECSPPolicy()}


@dataclass(frozen=True)
class InvestorFacts:
    """An investor profile as the engine sees it (amounts in the profile currency's minor units)."""

    kind: Literal["person", "entity"] = "person"
    verified: bool = False
    currency: str = "CNY"
    annual_income: int = 0  # CN: the average over the last 3 years; US: the last year
    net_worth: int = 0
    financial_assets: int = 0
    entity_net_assets: int = 0
    accredited: bool = False  # US accredited investor
    sophisticated: bool = False  # EU sophisticated investor
    knowledge_test_passed_at: datetime | None = None
    loss_simulation_at: datetime | None = None
    blacklisted: bool = False


@dataclass(frozen=True)
class InvestmentContext:
    amount: int
    now: datetime
    invested_last_12_months: int = 0  # this investor, every equity offering (any profile), not cancelled
    issuer_raised_last_12_months: int = 0  # the issuer (project owner), every equity offering, not cancelled
    offering_investors: int = 0  # distinct investors already in this offering
    already_invested_here: bool = False
    consent_given: bool = False  # the risk warning was shown and explicitly accepted
    totals: Mapping[str, Any] = field(default_factory=dict)  # how the 12-month totals were counted (figures)


@dataclass(frozen=True)
class Decision:
    outcome: Outcome
    rule: str
    profile: str
    policy_version: str
    message: str
    figures: dict[str, Any] = field(default_factory=dict)
    max_amount: int | None = None  # limited: the most that may be invested now
    requires: tuple[str, ...] = ()  # what the investor must still do (e.g. risk_warning_consent)

    @property
    def allowed(self) -> bool:
        return self.outcome == "allowed"

    def as_dict(self) -> dict[str, Any]:
        return {"outcome": self.outcome, "rule": self.rule, "profile": self.profile,
                "policy_version": self.policy_version, "message": self.message, "figures": self.figures,
                "max_amount": self.max_amount, "requires": list(self.requires)}


def _floor(amount: int, rate: Fraction) -> int:
    return amount * rate.numerator // rate.denominator


def _d(profile: Profile, policy: PolicyOf, outcome: Outcome, rule: str, message: str, **figures: Any) -> Decision:
    max_amount = figures.pop("max_amount", None)
    requires = figures.pop("requires", ())
    return Decision(outcome, rule, profile.value, policy.version, message, figures, max_amount, requires)


def _common(profile: Profile, policy: PolicyOf, investor: InvestorFacts) -> Decision | None:
    if investor.blacklisted:
        return _d(profile, policy, "refused", "blacklisted", "the investor is on the blacklist")
    if investor.currency != policy.currency:
        return _d(profile, policy, "refused", "profile_currency",
                  f"the investor profile is in {investor.currency}; this offering's profile uses {policy.currency}",
                  investor_currency=investor.currency, policy_currency=policy.currency)
    return None


# ------------------------------------------------------------------------------------------- CN


def cn_qualification(policy: CNPolicy, investor: InvestorFacts, amount: int | None) -> Decision:
    """Qualified investor (合格投资者) by any one of the four tests; `amount` None: status only (visibility)."""
    p, figures = Profile.CN, {
        "single_project_minimum": policy.single_project_minimum, "entity_net_assets_minimum": policy.entity_net_assets,
        "person_financial_assets_minimum": policy.person_financial_assets,
        "person_average_income_minimum": policy.person_average_income, "income_years": policy.income_years,
        "amount": amount, "kind": investor.kind, "entity_net_assets": investor.entity_net_assets,
        "financial_assets": investor.financial_assets, "average_annual_income": investor.annual_income}
    if not investor.verified:
        return _d(p, policy, "refused", "cn.real_name", "only real-name verified investors", **figures)
    if amount is not None and amount >= policy.single_project_minimum:
        return _d(p, policy, "allowed", "cn.qualified.single_project_investment",
                  "qualified: invests at least the single-project minimum", **figures)
    if investor.kind == "entity":
        if investor.entity_net_assets >= policy.entity_net_assets:
            return _d(p, policy, "allowed", "cn.qualified.entity_net_assets", "qualified entity", **figures)
    else:
        if investor.financial_assets >= policy.person_financial_assets:
            return _d(p, policy, "allowed", "cn.qualified.financial_assets", "qualified person (assets)", **figures)
        if investor.annual_income >= policy.person_average_income:
            return _d(p, policy, "allowed", "cn.qualified.average_income", "qualified person (income)", **figures)
    return _d(p, policy, "refused", "cn.not_qualified", "not a qualified investor (合格投资者)", **figures)


def _cn_invest(policy: CNPolicy, investor: InvestorFacts, ctx: InvestmentContext) -> Decision:
    if not ctx.already_invested_here and ctx.offering_investors >= policy.max_investors:
        return _d(Profile.CN, policy, "refused", "cn.investor_cap", "the offering has its maximum number of investors",
                  offering_investors=ctx.offering_investors, max_investors=policy.max_investors)
    return cn_qualification(policy, investor, ctx.amount)


# ------------------------------------------------------------------------------------------- US Reg CF


def us_limit(policy: USRegCFPolicy, annual_income: int, net_worth: int) -> tuple[int, str]:
    greater = max(annual_income, net_worth)
    if annual_income < policy.tier_threshold or net_worth < policy.tier_threshold:
        return max(policy.floor, _floor(greater, policy.lower_rate)), "us.limit.lower_tier"
    return min(_floor(greater, policy.upper_rate), policy.max_limit), "us.limit.upper_tier"


def _issuer_cap(profile: Profile, policy: USRegCFPolicy | EUECSPPolicy, ctx: InvestmentContext) -> Decision | None:
    room = policy.issuer_cap - ctx.issuer_raised_last_12_months
    if ctx.amount <= room:
        return None
    rule = "us.issuer_cap" if profile is Profile.US_REG_CF else "eu.issuer_cap"
    figures = {"issuer_cap": policy.issuer_cap, "issuer_raised_last_12_months": ctx.issuer_raised_last_12_months,
               "amount": ctx.amount}
    if room > 0:
        return _d(profile, policy, "limited", rule, "the issuer's 12-month cap leaves less than this amount",
                  max_amount=room, **figures)
    return _d(profile, policy, "refused", rule, "the issuer has reached its 12-month cap", **figures)


def _us_invest(policy: USRegCFPolicy, investor: InvestorFacts, ctx: InvestmentContext) -> Decision:
    p = Profile.US_REG_CF
    if not investor.verified:
        return _d(p, policy, "refused", "us.identity", "the investor's identity is not verified")
    capped = _issuer_cap(p, policy, ctx)
    if capped is not None:
        return capped
    if investor.accredited:
        return _d(p, policy, "allowed", "us.accredited", "accredited investor: no investment limit",
                  amount=ctx.amount)
    limit, tier = us_limit(policy, investor.annual_income, investor.net_worth)
    figures = {"annual_income": investor.annual_income, "net_worth": investor.net_worth,
               "tier_threshold": policy.tier_threshold, "limit": limit, "tier": tier,
               "invested_last_12_months": ctx.invested_last_12_months, "amount": ctx.amount}
    room = limit - ctx.invested_last_12_months
    if ctx.amount <= room:
        return _d(p, policy, "allowed", tier, "within the 12-month investment limit", **figures)
    if room > 0:
        return _d(p, policy, "limited", tier, "over the 12-month investment limit", max_amount=room, **figures)
    return _d(p, policy, "refused", tier, "the 12-month investment limit is used up", **figures)


# ------------------------------------------------------------------------------------------- EU ECSP


def eu_warning_threshold(policy: EUECSPPolicy, net_worth: int) -> int:
    return max(policy.warning_floor, _floor(net_worth, policy.warning_rate))


def _eu_invest(policy: EUECSPPolicy, investor: InvestorFacts, ctx: InvestmentContext) -> Decision:
    p = Profile.EU_ECSP
    if not investor.verified:
        return _d(p, policy, "refused", "eu.identity", "the investor's identity is not verified")
    capped = _issuer_cap(p, policy, ctx)
    if capped is not None:
        return capped
    if investor.sophisticated:
        return _d(p, policy, "allowed", "eu.sophisticated", "sophisticated investor", amount=ctx.amount)
    passed = investor.knowledge_test_passed_at
    figures: dict[str, Any] = {"knowledge_test_passed_at": passed.isoformat() if passed else None,
                               "knowledge_test_valid_days": policy.knowledge_test_valid.days}
    if passed is None or ctx.now > passed + policy.knowledge_test_valid:
        return _d(p, policy, "refused", "eu.knowledge_test", "the entry knowledge test is missing or older than "
                  "2 years", requires=("knowledge_test",), **figures)
    simulated = investor.loss_simulation_at
    ability = _floor(investor.net_worth, policy.loss_bearing_rate)
    figures.update(loss_simulation_at=simulated.isoformat() if simulated else None,
                   loss_simulation_valid_days=policy.loss_simulation_valid.days, net_worth=investor.net_worth,
                   ability_to_bear_loss=ability)
    if simulated is None or ctx.now > simulated + policy.loss_simulation_valid:
        return _d(p, policy, "refused", "eu.loss_simulation", "the yearly loss simulation is missing or out of date",
                  requires=("loss_simulation",), **figures)
    threshold = eu_warning_threshold(policy, investor.net_worth)
    figures.update(warning_threshold=threshold, amount=ctx.amount, consent_given=ctx.consent_given)
    if ctx.amount > threshold and not ctx.consent_given:
        return _d(p, policy, "refused", "eu.risk_warning", "above max(EUR 1,000, 5% of net worth): the risk "
                  "warning must be shown and explicitly accepted", requires=("risk_warning_consent",), **figures)
    rule = "eu.risk_warning_accepted" if ctx.amount > threshold else "eu.within_warning_threshold"
    return _d(p, policy, "allowed", rule, "allowed; revocable within the 4-day reflection period", **figures)


# ------------------------------------------------------------------------------------------- decisions


def decide_investment(profile: Profile, investor: InvestorFacts, ctx: InvestmentContext,
                      policy: PolicyOf | None = None) -> Decision:
    policy = policy or POLICIES[profile]
    refused = _common(profile, policy, investor)
    if refused is not None:
        return refused
    if ctx.amount <= 0:
        return _d(profile, policy, "refused", "amount", "an investment is a positive amount", amount=ctx.amount)
    if isinstance(policy, CNPolicy):
        decision = _cn_invest(policy, investor, ctx)
    elif isinstance(policy, USRegCFPolicy):
        decision = _us_invest(policy, investor, ctx)
    else:
        decision = _eu_invest(policy, investor, ctx)
    if ctx.totals:
        decision = replace(decision, figures={**decision.figures, "twelve_month_totals": dict(ctx.totals)})
    return decision


def decide_visibility(profile: Profile, investor: InvestorFacts, policy: PolicyOf | None = None,
                      intended_amount: int | None = None) -> Decision:
    """Who may see an equity offering: CN only real-name verified qualified investors (no public promotion), where
    an investor who intends to invest at least the single-project minimum (`intended_amount`) qualifies by that;
    US and EU: verified investors (the investment decision applies the limits)."""
    policy = policy or POLICIES[profile]
    refused = _common(profile, policy, investor)
    if refused is not None:
        return refused
    if isinstance(policy, CNPolicy):
        return cn_qualification(policy, investor, intended_amount)
    if not investor.verified:
        return _d(profile, policy, "refused", f"{profile.value.split('_')[0]}.identity", "identity not verified")
    return _d(profile, policy, "allowed", "verified_investor", "a verified investor may see the offering")


def decide_cancellation(profile: Profile, now: datetime, deadline: datetime, invested_at: datetime,
                        sophisticated: bool = False, policy: PolicyOf | None = None) -> Decision:
    """Revoking a commitment: EU non-sophisticated within the 4-day reflection period without reason;
    otherwise until 48 hours before the deadline."""
    policy = policy or POLICIES[profile]
    figures = {"deadline": deadline.isoformat(), "invested_at": invested_at.isoformat(), "now": now.isoformat()}
    if isinstance(policy, EUECSPPolicy) and not sophisticated and now <= invested_at + policy.reflection_period:
        return _d(profile, policy, "allowed", "eu.reflection_period", "revoked within the reflection period",
                  reflection_days=policy.reflection_period.days, **figures)
    cutoff = deadline - policy.cancel_until_before_deadline
    if now <= cutoff:
        return _d(profile, policy, "allowed", "cancel_before_cutoff", "cancelled before the cutoff",
                  cutoff=cutoff.isoformat(), **figures)
    return _d(profile, policy, "refused", "cancel_cutoff_passed", "commitments may be cancelled only until 48 hours "
              "before the deadline", cutoff=cutoff.isoformat(), **figures)


def add_business_days(start: datetime, days: int, holidays: frozenset[date] = frozenset()) -> datetime:
    """`days` working days after `start` (weekends and `holidays` skipped), at the same time of day."""
    moment, left = start, days
    while left > 0:
        moment += timedelta(days=1)
        if moment.weekday() < 5 and moment.date() not in holidays:
            left -= 1
    return moment


def reconfirmation_deadline(profile: Profile, changed_at: datetime, holidays: frozenset[date] = frozenset(),
                            policy: PolicyOf | None = None) -> datetime:
    """After a material change, investors reconfirm by this moment or their commitment is cancelled."""
    policy = policy or POLICIES[profile]
    return add_business_days(changed_at, policy.reconfirm_business_days, holidays)


def decide_early_close(profile: Profile, opened_at: datetime, now: datetime, new_deadline: datetime, goal_reached: bool,
                       holidays: frozenset[date] = frozenset(), policy: PolicyOf | None = None) -> Decision:
    """Closing before the deadline: the goal must be reached; US Reg CF also needs >= 21 days open and the new
    deadline at least 5 business days after the notice (now)."""
    policy = policy or POLICIES[profile]
    figures: dict[str, Any] = {"opened_at": opened_at.isoformat(), "notice_at": now.isoformat(),
                               "new_deadline": new_deadline.isoformat(), "goal_reached": goal_reached}
    if not goal_reached:
        return _d(profile, policy, "refused", "early_close.goal", "only an offering that reached its goal closes "
                  "early", **figures)
    if isinstance(policy, USRegCFPolicy):
        earliest = max(opened_at + policy.early_close_min_open,
                       add_business_days(now, policy.early_close_notice_business_days, holidays))
        figures.update(min_open_days=policy.early_close_min_open.days,
                       notice_business_days=policy.early_close_notice_business_days, earliest=earliest.isoformat())
        if new_deadline < earliest:
            return _d(profile, policy, "refused", "us.early_close", "Reg CF: open at least 21 days and 5 business "
                      "days' notice", **figures)
        return _d(profile, policy, "allowed", "us.early_close", "early close allowed", **figures)
    return _d(profile, policy, "allowed", "early_close.goal", "early close allowed", **figures)


def decide_transfer(profile: Profile, invested_at: datetime, now: datetime, policy: PolicyOf | None = None) -> Decision:
    policy = policy or POLICIES[profile]
    if isinstance(policy, USRegCFPolicy) and now < invested_at + policy.transfer_lock:
        return _d(profile, policy, "refused", "us.transfer_lock", "Reg CF securities are locked for 1 year",
                  invested_at=invested_at.isoformat(), unlocks_at=(invested_at + policy.transfer_lock).isoformat())
    return _d(profile, policy, "allowed", "transfer", "transfer allowed", invested_at=invested_at.isoformat())
