"""The investor-protection engine, profile by profile: every threshold of DOMAIN.md on both sides of its
boundary; each decision carries its rule, figures and policy version."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from crowdfunding.domain.equity import (
    CN_2014,
    CN_2015,
    InvestmentContext,
    InvestorFacts,
    Profile,
    add_business_days,
    decide_cancellation,
    decide_early_close,
    decide_investment,
    decide_transfer,
    decide_visibility,
    reconfirmation_deadline,
    twelve_month_total,
    us_limit,
)
from crowdfunding.domain.equity import USRegCFPolicy as US

NOW = datetime(2026, 3, 4, 10, 0, tzinfo=UTC)  # a Wednesday
CNY = 100  # fen per yuan
USD = EUR = 100  # cents


def cn(**facts: Any) -> InvestorFacts:
    return InvestorFacts(**{"verified": True, "currency": "CNY", **facts})


def us(**facts: Any) -> InvestorFacts:
    return InvestorFacts(**{"verified": True, "currency": "USD", **facts})


def eu(**facts: Any) -> InvestorFacts:
    base = {"verified": True, "currency": "EUR", "net_worth": 100_000 * EUR,
            "knowledge_test_passed_at": NOW - timedelta(days=10), "loss_simulation_at": NOW - timedelta(days=10)}
    return InvestorFacts(**{**base, **facts})


def ctx(amount: int, **extra: Any) -> InvestmentContext:
    return InvestmentContext(amount=amount, now=NOW, **extra)


CN_CASES = [
    # (facts, amount, outcome, rule)
    (cn(), 1_000_000 * CNY, "allowed", "cn.qualified.single_project_investment"),
    (cn(), 1_000_000 * CNY - 1, "refused", "cn.not_qualified"),
    (cn(kind="entity", entity_net_assets=10_000_000 * CNY), 10_000 * CNY, "allowed", "cn.qualified.entity_net_assets"),
    (cn(kind="entity", entity_net_assets=10_000_000 * CNY - 1), 10_000 * CNY, "refused", "cn.not_qualified"),
    (cn(financial_assets=3_000_000 * CNY), 10_000 * CNY, "allowed", "cn.qualified.financial_assets"),
    (cn(financial_assets=3_000_000 * CNY - 1), 10_000 * CNY, "refused", "cn.not_qualified"),
    (cn(annual_income=500_000 * CNY), 10_000 * CNY, "allowed", "cn.qualified.average_income"),
    (cn(annual_income=500_000 * CNY - 1), 10_000 * CNY, "refused", "cn.not_qualified"),
    (cn(kind="entity", financial_assets=9_000_000 * CNY), 10_000 * CNY, "refused", "cn.not_qualified"),
    (cn(verified=False, financial_assets=9_000_000 * CNY), 10_000 * CNY, "refused", "cn.real_name"),
    (cn(blacklisted=True, financial_assets=9_000_000 * CNY), 10_000 * CNY, "refused", "blacklisted"),
    (InvestorFacts(verified=True, currency="USD"), 10_000, "refused", "profile_currency"),
]


@pytest.mark.parametrize(("facts", "amount", "outcome", "rule"), CN_CASES)
def test_cn_qualified_investor(facts: InvestorFacts, amount: int, outcome: str, rule: str) -> None:
    decision = decide_investment(Profile.CN, facts, ctx(amount))
    assert (decision.outcome, decision.rule) == (outcome, rule), decision
    assert decision.policy_version == "cn-2014-draft.1"
    assert decision.profile == "cn"


@pytest.mark.parametrize(("investors", "already", "outcome"), [(199, False, "allowed"), (200, False, "refused"),
                                                               (200, True, "allowed")])
def test_cn_200_investor_cap(investors: int, already: bool, outcome: str) -> None:
    decision = decide_investment(Profile.CN, cn(financial_assets=5_000_000 * CNY),
                                 ctx(10_000 * CNY, offering_investors=investors, already_invested_here=already))
    assert decision.outcome == outcome
    if outcome == "refused":
        assert decision.rule == "cn.investor_cap"
        assert decision.figures == {"offering_investors": 200, "max_investors": 200}


@pytest.mark.parametrize(("facts", "amount", "outcome"), [
    (cn(), 100_000 * CNY, "allowed"), (cn(), 100_000 * CNY - 1, "refused"),
    (cn(financial_assets=1_000_000 * CNY), 1, "allowed"), (cn(financial_assets=1_000_000 * CNY - 1), 1, "refused"),
    (cn(annual_income=300_000 * CNY), 1, "allowed"), (cn(annual_income=300_000 * CNY - 1), 1, "refused"),
])
def test_cn_2015_revision_thresholds_are_policy(facts: InvestorFacts, amount: int, outcome: str) -> None:
    decision = decide_investment(Profile.CN, facts, ctx(amount), CN_2015)
    assert decision.outcome == outcome
    assert decision.policy_version == "cn-2015-revision.1"


def test_cn_visibility_only_for_verified_qualified() -> None:
    assert decide_visibility(Profile.CN, cn(financial_assets=3_000_000 * CNY)).allowed
    assert not decide_visibility(Profile.CN, cn(financial_assets=3_000_000 * CNY - 1)).allowed
    assert decide_visibility(Profile.CN, cn(verified=False, financial_assets=9 * 10**8)).rule == "cn.real_name"
    assert not decide_visibility(Profile.US_REG_CF, us(verified=False)).allowed
    assert decide_visibility(Profile.EU_ECSP, eu()).allowed


@pytest.mark.parametrize(("policy", "facts", "intended", "outcome", "rule"), [
    # an investor who intends to invest at least the single-project minimum sees the offering (and qualifies by it)
    (None, cn(), 1_000_000 * CNY, "allowed", "cn.qualified.single_project_investment"),
    (None, cn(), 1_000_000 * CNY - 1, "refused", "cn.not_qualified"),
    (None, cn(), None, "refused", "cn.not_qualified"),
    (CN_2015, cn(), 100_000 * CNY, "allowed", "cn.qualified.single_project_investment"),
    (CN_2015, cn(), 100_000 * CNY - 1, "refused", "cn.not_qualified"),
    (None, cn(verified=False), 10_000_000 * CNY, "refused", "cn.real_name"),
    (None, cn(blacklisted=True), 10_000_000 * CNY, "refused", "blacklisted"),
    # the other tests qualify whatever the intended amount
    (None, cn(kind="entity", entity_net_assets=10_000_000 * CNY), None, "allowed", "cn.qualified.entity_net_assets"),
    (None, cn(kind="entity", entity_net_assets=10_000_000 * CNY - 1), 1, "refused", "cn.not_qualified"),
    (None, cn(financial_assets=3_000_000 * CNY), None, "allowed", "cn.qualified.financial_assets"),
    (None, cn(financial_assets=3_000_000 * CNY - 1), 1, "refused", "cn.not_qualified"),
    (None, cn(annual_income=500_000 * CNY), None, "allowed", "cn.qualified.average_income"),
    (None, cn(annual_income=500_000 * CNY - 1), 1, "refused", "cn.not_qualified"),
])
def test_cn_visibility_by_intended_investment(policy: Any, facts: InvestorFacts, intended: int | None, outcome: str,
                                              rule: str) -> None:
    decision = decide_visibility(Profile.CN, facts, policy, intended_amount=intended)
    assert (decision.outcome, decision.rule) == (outcome, rule), decision
    assert decision.policy_version == (policy or CN_2014).version
    if rule.startswith("cn.qualified") or rule == "cn.not_qualified":
        assert decision.figures["amount"] == intended


@pytest.mark.parametrize(("currency", "by_currency", "total"), [
    ("USD", {"USD": 123}, 123),
    ("USD", {}, 0),
    ("USD", {"EUR": 100_000}, 108_000),  # EUR 1,000 at 1.08
    ("USD", {"CNY": 50}, 7),  # 0.50 yuan = 7 cents exactly
    ("USD", {"CNY": 51}, 8),  # 7.14 cents: rounded up, never in the investor's favour
    ("USD", {"CNY": 1}, 1),
    ("CNY", {"USD": 14}, 100),  # USD 0.14 = 1 yuan exactly
    ("CNY", {"USD": 15}, 108),  # 107.14 fen, rounded up
    ("USD", {"USD": 1_000, "EUR": 1_000, "CNY": 1_000}, 1_000 + 1_080 + 140),
])
def test_twelve_month_totals_count_every_currency(currency: str, by_currency: dict[str, int], total: int) -> None:
    counted = twelve_month_total(currency, by_currency)
    assert counted.amount == total
    assert counted.figures["rates_version"] and counted.figures["by_currency"] == by_currency


@pytest.mark.parametrize(("amount", "outcome", "max_amount"), [(920 * USD, "allowed", None),
                                                              (920 * USD + 1, "limited", 920 * USD)])
def test_us_limit_counts_investments_in_offerings_of_other_profiles(amount: int, outcome: str,
                                                                    max_amount: int | None) -> None:
    """USD 1,000 in a US offering and EUR 1,000 (USD 1,080) in an EU one leave USD 920 of a USD 3,000 limit."""
    invested = twelve_month_total("USD", {"USD": 1_000 * USD, "EUR": 1_000 * EUR})
    decision = decide_investment(Profile.US_REG_CF, us(annual_income=60_000 * USD, net_worth=20_000 * USD),
                                 ctx(amount, invested_last_12_months=invested.amount,
                                     totals={"investor": invested.figures}))
    assert (decision.outcome, decision.max_amount) == (outcome, max_amount), decision
    assert decision.figures["invested_last_12_months"] == 2_080 * USD
    assert decision.figures["twelve_month_totals"]["investor"]["by_currency"] == {"EUR": 1_000 * EUR,
                                                                                  "USD": 1_000 * USD}


@pytest.mark.parametrize(("amount", "outcome"), [(10, "allowed"), (11, "limited")])
def test_issuer_cap_counts_raises_under_other_profiles(amount: int, outcome: str) -> None:
    """CNY 35,714,285 raised under the CN profile is USD 4,999,999.90: 10 cents are left of the Reg CF cap."""
    raised = twelve_month_total("USD", {"CNY": 3_571_428_500})
    assert raised.amount == 5_000_000 * USD - 10
    decision = decide_investment(Profile.US_REG_CF, us(accredited=True),
                                 ctx(amount, issuer_raised_last_12_months=raised.amount))
    assert decision.outcome == outcome


@pytest.mark.parametrize(("income", "worth", "limit", "tier"), [
    (0, 0, 2_500 * USD, "us.limit.lower_tier"),
    (50_000 * USD, 20_000 * USD, 2_500 * USD, "us.limit.lower_tier"),  # 5% of 50,000 = 2,500 (the floor wins ties)
    (60_000 * USD, 20_000 * USD, 3_000 * USD, "us.limit.lower_tier"),  # 5% of 60,000
    (123_999 * USD, 500_000 * USD, 25_000 * USD, "us.limit.lower_tier"),  # income below: 5% of the greater
    (124_000 * USD, 123_999 * USD, 6_200 * USD, "us.limit.lower_tier"),  # net worth below
    (124_000 * USD, 124_000 * USD, 12_400 * USD, "us.limit.upper_tier"),  # both at the threshold: 10%
    (200_000 * USD, 150_000 * USD, 20_000 * USD, "us.limit.upper_tier"),
    (1_240_000 * USD, 200_000 * USD, 124_000 * USD, "us.limit.upper_tier"),  # 10% = the cap
    (1_240_010 * USD, 200_000 * USD, 124_000 * USD, "us.limit.upper_tier"),  # capped at 124,000
])
def test_us_reg_cf_limit(income: int, worth: int, limit: int, tier: str) -> None:
    assert us_limit(US(), income, worth) == (limit, tier)


@pytest.mark.parametrize(("prior", "amount", "outcome", "max_amount"), [
    (0, 3_000 * USD, "allowed", None),
    (0, 3_000 * USD + 1, "limited", 3_000 * USD),
    (2_000 * USD, 1_000 * USD, "allowed", None),
    (2_000 * USD, 1_500 * USD, "limited", 1_000 * USD),
    (3_000 * USD, 1, "refused", None),
])
def test_us_reg_cf_rolling_12_months(prior: int, amount: int, outcome: str, max_amount: int | None) -> None:
    decision = decide_investment(Profile.US_REG_CF, us(annual_income=60_000 * USD, net_worth=20_000 * USD),
                                 ctx(amount, invested_last_12_months=prior))
    assert (decision.outcome, decision.max_amount) == (outcome, max_amount), decision
    assert decision.figures["limit"] == 3_000 * USD
    assert decision.figures["invested_last_12_months"] == prior
    assert decision.policy_version == "us-regcf-2021.1"


def test_us_accredited_has_no_limit_but_the_issuer_cap_applies() -> None:
    rich = us(accredited=True)
    assert decide_investment(Profile.US_REG_CF, rich, ctx(1_000_000 * USD)).rule == "us.accredited"
    at_cap = decide_investment(Profile.US_REG_CF, rich, ctx(1, issuer_raised_last_12_months=5_000_000 * USD))
    assert (at_cap.outcome, at_cap.rule) == ("refused", "us.issuer_cap")
    below = decide_investment(Profile.US_REG_CF, rich, ctx(100 * USD, issuer_raised_last_12_months=5_000_000 * USD
                                                            - 100 * USD))
    assert below.outcome == "allowed"
    over = decide_investment(Profile.US_REG_CF, rich, ctx(101 * USD, issuer_raised_last_12_months=5_000_000 * USD
                                                           - 100 * USD))
    assert (over.outcome, over.max_amount) == ("limited", 100 * USD)


@pytest.mark.parametrize(("opened_days_ago", "notice_to_close", "outcome"), [
    (21, timedelta(days=7), "allowed"),  # Wed + 7 days = Wed: 5 business days
    (14, timedelta(days=6), "refused"),  # 20 days open at the new deadline
    (25, timedelta(days=6), "refused"),  # Wed -> Tue: 4 business days
    (25, timedelta(days=7), "allowed"),
])
def test_us_early_close(opened_days_ago: int, notice_to_close: timedelta, outcome: str) -> None:
    opened = NOW - timedelta(days=opened_days_ago)
    new_deadline = NOW + notice_to_close
    decision = decide_early_close(Profile.US_REG_CF, opened, NOW, new_deadline, goal_reached=True)
    assert (decision.outcome, decision.rule) == (outcome, "us.early_close")


def test_early_close_needs_the_goal_and_the_21_days() -> None:
    opened = NOW - timedelta(days=30)
    no_goal = decide_early_close(Profile.US_REG_CF, opened, NOW, NOW + timedelta(days=10), False)
    assert no_goal.rule == "early_close.goal"
    young = NOW - timedelta(days=1)
    refused = decide_early_close(Profile.US_REG_CF, young, NOW, young + timedelta(days=21) - timedelta(seconds=1), True)
    assert refused.outcome == "refused"
    assert decide_early_close(Profile.US_REG_CF, young, NOW, young + timedelta(days=21), True).allowed
    assert decide_early_close(Profile.CN, young, NOW, NOW + timedelta(hours=1), True).allowed


def test_business_days_skip_weekends_and_holidays() -> None:
    friday = datetime(2026, 3, 6, 9, 0, tzinfo=UTC)
    assert add_business_days(friday, 1) == friday + timedelta(days=3)
    assert add_business_days(friday, 5) == friday + timedelta(days=7)
    holiday = (friday + timedelta(days=3)).date()
    assert add_business_days(friday, 1, frozenset({holiday})) == friday + timedelta(days=4)
    assert reconfirmation_deadline(Profile.US_REG_CF, friday) == friday + timedelta(days=7)


@pytest.mark.parametrize(("before_deadline", "outcome"), [(timedelta(hours=48), "allowed"),
                                                          (timedelta(hours=48) - timedelta(seconds=1), "refused")])
def test_us_and_cn_cancel_until_48_hours(before_deadline: timedelta, outcome: str) -> None:
    deadline = NOW + before_deadline
    for profile in (Profile.US_REG_CF, Profile.CN):
        assert decide_cancellation(profile, NOW, deadline, NOW - timedelta(days=10)).outcome == outcome


def test_us_transfer_lock_one_year() -> None:
    assert decide_transfer(Profile.US_REG_CF, NOW - timedelta(days=364), NOW).rule == "us.transfer_lock"
    assert decide_transfer(Profile.US_REG_CF, NOW - timedelta(days=365), NOW).allowed
    assert decide_transfer(Profile.CN, NOW - timedelta(days=1), NOW).allowed


EU_CASES = [
    # knowledge test valid 2 years
    (eu(knowledge_test_passed_at=NOW - timedelta(days=730)), 500 * EUR, False, "allowed",
     "eu.within_warning_threshold"),
    (eu(knowledge_test_passed_at=NOW - timedelta(days=730, seconds=1)), 500 * EUR, False, "refused",
     "eu.knowledge_test"),
    (eu(knowledge_test_passed_at=None), 500 * EUR, False, "refused", "eu.knowledge_test"),
    # loss simulation yearly
    (eu(loss_simulation_at=NOW - timedelta(days=365)), 500 * EUR, False, "allowed", "eu.within_warning_threshold"),
    (eu(loss_simulation_at=NOW - timedelta(days=365, seconds=1)), 500 * EUR, False, "refused", "eu.loss_simulation"),
    # warning threshold: max(EUR 1,000, 5% of net worth): net worth 100,000 -> 5,000
    (eu(), 5_000 * EUR, False, "allowed", "eu.within_warning_threshold"),
    (eu(), 5_000 * EUR + 1, False, "refused", "eu.risk_warning"),
    (eu(), 5_000 * EUR + 1, True, "allowed", "eu.risk_warning_accepted"),
    # the EUR 1,000 floor: net worth 10,000 -> 5% = 500 < 1,000
    (eu(net_worth=10_000 * EUR), 1_000 * EUR, False, "allowed", "eu.within_warning_threshold"),
    (eu(net_worth=10_000 * EUR), 1_000 * EUR + 1, False, "refused", "eu.risk_warning"),
    # sophisticated investors skip the test, simulation and warning
    (eu(sophisticated=True, knowledge_test_passed_at=None, loss_simulation_at=None), 10**8, False, "allowed",
     "eu.sophisticated"),
    (eu(verified=False), 1, False, "refused", "eu.identity"),
]


@pytest.mark.parametrize(("facts", "amount", "consent", "outcome", "rule"), EU_CASES)
def test_eu_ecsp(facts: InvestorFacts, amount: int, consent: bool, outcome: str, rule: str) -> None:
    decision = decide_investment(Profile.EU_ECSP, facts, ctx(amount, consent_given=consent))
    assert (decision.outcome, decision.rule) == (outcome, rule), decision
    assert decision.policy_version == "eu-ecsp-2020.1"
    if rule.startswith("eu.risk") or rule == "eu.within_warning_threshold":
        assert decision.figures["ability_to_bear_loss"] == facts.net_worth // 10
        assert decision.figures["warning_threshold"] == max(1_000 * EUR, facts.net_worth * 5 // 100)
    if rule == "eu.risk_warning":
        assert decision.requires == ("risk_warning_consent",)


def test_eu_issuer_cap_per_project_owner() -> None:
    decision = decide_investment(Profile.EU_ECSP, eu(sophisticated=True),
                                 ctx(2, issuer_raised_last_12_months=5_000_000 * EUR - 1))
    assert (decision.outcome, decision.rule, decision.max_amount) == ("limited", "eu.issuer_cap", 1)


@pytest.mark.parametrize(("since_investing", "sophisticated", "rule"), [
    (timedelta(days=4), False, "eu.reflection_period"),
    (timedelta(days=4, seconds=1), False, "cancel_cutoff_passed"),
    (timedelta(days=1), True, "cancel_cutoff_passed"),
])
def test_eu_reflection_period(since_investing: timedelta, sophisticated: bool, rule: str) -> None:
    deadline = NOW + timedelta(hours=10)  # past the 48-hour cutoff: only the reflection period helps
    decision = decide_cancellation(Profile.EU_ECSP, NOW, deadline, NOW - since_investing, sophisticated)
    assert decision.rule == rule
    assert decision.policy_version == "eu-ecsp-2020.1"


def test_every_decision_serialises_rule_figures_and_version() -> None:
    decision = decide_investment(Profile.US_REG_CF, us(annual_income=60_000 * USD), ctx(10 * USD))
    body = decision.as_dict()
    assert set(body) == {"outcome", "rule", "profile", "policy_version", "message", "figures", "max_amount",
                         "requires"}
    assert body["figures"]["limit"] == 3_000 * USD
