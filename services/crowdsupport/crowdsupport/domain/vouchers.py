"""Innovation-voucher rules, pure: the voucher's state machine, what a redemption may cover, and which
providers may redeem a programme's vouchers (whitelist, or cross-region recognition both ways)."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from fractions import Fraction

from shared.problems import DomainError


class VoucherState(StrEnum):
    ISSUED = "issued"  # held by the enterprise, not used yet
    REDEEMED = "redeemed"  # a provider submitted contract, invoice and payment proof; budget reserved
    APPROVED = "approved"  # the agency approved: the budget is spent, the payout to the provider is owed
    PAID = "paid"  # the provider was paid
    VOIDED = "voided"  # fraud or withdrawal; a paid amount is clawed back


TRANSITIONS: dict[VoucherState, frozenset[VoucherState]] = {
    VoucherState.ISSUED: frozenset({VoucherState.REDEEMED, VoucherState.VOIDED}),
    VoucherState.REDEEMED: frozenset({VoucherState.APPROVED, VoucherState.ISSUED, VoucherState.VOIDED}),
    VoucherState.APPROVED: frozenset({VoucherState.PAID, VoucherState.VOIDED}),
    VoucherState.PAID: frozenset({VoucherState.VOIDED}),
    VoucherState.VOIDED: frozenset(),
}


def step(current: str, target: VoucherState) -> VoucherState:
    """The next state, or a 409 naming the current one."""
    state = VoucherState(current)
    if target not in TRANSITIONS[state]:
        raise DomainError(409, f"the voucher is {state.value!r}; it cannot become {target.value!r}",
                          field="state", current_state=state.value)
    return target


@dataclass(frozen=True)
class Coverage:
    """How a contract is paid: the voucher's part (from the programme budget) and the enterprise's co-pay."""

    voucher_fen: int
    copay_fen: int


def coverage(contract_fen: int, face_fen: int, copay_ratio: Fraction) -> Coverage:
    """The voucher pays at most (1 - co-pay ratio) of the contract, rounded down to the fen, and never more
    than its face value; the enterprise pays the rest."""
    if contract_fen <= 0:
        raise DomainError(422, "the contract amount must be positive", field="contract_amount_fen")
    if not 0 <= copay_ratio < 1:
        raise ValueError("a co-pay ratio is in [0, 1)")
    share = 1 - copay_ratio
    covered = min(face_fen, contract_fen * share.numerator // share.denominator)
    return Coverage(voucher_fen=covered, copay_fen=contract_fen - covered)


@dataclass(frozen=True)
class ProgrammeView:
    programme_id: str
    region_code: str
    recognised_regions: frozenset[str]
    providers: frozenset[str]


def may_redeem(provider_id: str, issuing: ProgrammeView, others: list[ProgrammeView]) -> str | None:
    """How the provider may redeem a voucher of `issuing` ('whitelist' or 'recognition:<programme>'), or
    None. Cross-region (跨区域互通互认) needs both programmes to say so: the issuing programme recognises the
    other's region, the other recognises the issuing region, and the provider is whitelisted by the other."""
    if provider_id in issuing.providers:
        return "whitelist"
    for other in sorted(others, key=lambda p: p.programme_id):
        if (other.programme_id != issuing.programme_id and provider_id in other.providers
                and other.region_code != issuing.region_code
                and other.region_code in issuing.recognised_regions
                and issuing.region_code in other.recognised_regions):
            return f"recognition:{other.programme_id}"
    return None
