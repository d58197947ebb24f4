"""Voucher rules, pure: coverage under the co-pay ratio, the state machine, cross-region recognition;
and the instrument subsidy arithmetic."""

from __future__ import annotations

from fractions import Fraction

import pytest
from crowdsupport.domain.usage import UsageLine, subsidy
from crowdsupport.domain.vouchers import ProgrammeView, VoucherState, coverage, may_redeem, step

from shared.problems import DomainError


@pytest.mark.parametrize("contract,face,ratio,voucher,copay", [
    (100_000, 1_000_000, Fraction(3, 10), 70_000, 30_000),  # the voucher pays 70%
    (100_000, 50_000, Fraction(3, 10), 50_000, 50_000),  # capped at its face value
    (99_999, 1_000_000, Fraction(3, 10), 69_999, 30_000),  # rounded down: the enterprise pays the odd fen
    (100, 1_000, Fraction(0), 100, 0),
])
def test_coverage(contract: int, face: int, ratio: Fraction, voucher: int, copay: int) -> None:
    result = coverage(contract, face, ratio)
    assert (result.voucher_fen, result.copay_fen) == (voucher, copay)
    assert result.copay_fen >= contract * ratio


def test_coverage_refuses_a_non_positive_contract() -> None:
    with pytest.raises(DomainError) as refused:
        coverage(0, 100, Fraction(3, 10))
    assert refused.value.field == "contract_amount_fen"


def test_state_machine_names_the_current_state() -> None:
    assert step("issued", VoucherState.REDEEMED) is VoucherState.REDEEMED
    assert step("paid", VoucherState.VOIDED) is VoucherState.VOIDED
    with pytest.raises(DomainError) as refused:
        step("voided", VoucherState.REDEEMED)
    assert refused.value.status == 409 and refused.value.extra["current_state"] == "voided"
    with pytest.raises(DomainError):
        step("issued", VoucherState.PAID)


BEIJING = ProgrammeView("p-bj", "110000", frozenset({"310000"}), frozenset({"prov-bj"}))
SHANGHAI = ProgrammeView("p-sh", "310000", frozenset({"110000"}), frozenset({"prov-sh"}))
SHANGHAI_ONE_WAY = ProgrammeView("p-sh2", "310000", frozenset(), frozenset({"prov-sh2"}))
TIANJIN = ProgrammeView("p-tj", "120000", frozenset({"110000"}), frozenset({"prov-tj"}))


def test_whitelist_and_recognition_both_ways() -> None:
    others = [SHANGHAI, SHANGHAI_ONE_WAY, TIANJIN]
    assert may_redeem("prov-bj", BEIJING, others) == "whitelist"
    assert may_redeem("prov-sh", BEIJING, others) == "recognition:p-sh"
    assert may_redeem("prov-sh2", BEIJING, others) is None  # Shanghai's second programme does not recognise Beijing
    assert may_redeem("prov-tj", BEIJING, others) is None  # Beijing does not recognise Tianjin
    assert may_redeem("stranger", BEIJING, others) is None


def test_subsidy_caps_actual_time_at_the_booked_time() -> None:
    lines = [UsageLine(booked_minutes=120, actual_minutes=90, hourly_rate_fen=20_000),  # 1.5 h -> 30,000
             UsageLine(booked_minutes=60, actual_minutes=75, hourly_rate_fen=20_000)]  # capped 1 h -> 20,000
    result = subsidy(lines, Fraction(1, 2))
    assert (result.booked_minutes, result.actual_minutes, result.billable_minutes) == (180, 165, 150)
    assert (result.fee_fen, result.subsidy_fen) == (50_000, 25_000)
