"""Voucher money on the double-entry ledger, inside the command's transaction.

Accounts (integer fen; + debit, - credit):
- `agency/<agency>/appropriation`: the public money an agency puts into a programme (credited at creation);
- `budget/programme/<programme>`: the programme's budget; its balance is budget - paid + clawed back;
- `payable/provider/<provider>`: owed to a provider after approval, until the payout is executed;
- `clawback/provider/<provider>`: owed back by a provider after fraud (negative while outstanding);
- `provider/clearing`: money at the payment provider.

Every transaction id and payment key is `shared.ledger.transaction_id("csv", <programme id>, ...)`: derived from
its cause, so a retried command moves money once, and under the programme's `trail`, so its money can be listed
(shared.ledger.money_trail).
The programme row's counters (`reserved_fen`, `spent_fen`) are the budget guard, taken with conditional
updates; the ledger is the record of money.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import update
from sqlmodel import col

from crowdsupport.models import Programme, Voucher, VoucherPayment
from shared.ids import new_id
from shared.ledger import CLEARING, post, trail_prefix, transaction_id, transfer
from shared.money import Money
from shared.problems import DomainError
from shared.uow import UnitOfWork

SCOPE = "csv"


def appropriation(agency_id: str) -> str:
    return f"agency/{agency_id}/appropriation"


def budget_account(programme_id: str) -> str:
    return f"budget/programme/{programme_id}"


def provider_payable(provider_id: str) -> str:
    return f"payable/provider/{provider_id}"


def provider_clawback(provider_id: str) -> str:
    return f"clawback/provider/{provider_id}"


def txn(programme_id: str, *parts: str) -> str:
    return transaction_id(SCOPE, programme_id, *parts)


def trail(programme_id: str) -> str:
    """The prefix of every transaction id and payment key of the programme."""
    return trail_prefix(SCOPE, programme_id)


async def fund(uow: UnitOfWork, programme: Programme) -> str:
    transaction = txn(programme.id, "budget")
    await post(uow.session, transaction, transfer(Money(programme.currency, programme.budget_fen),
                                                  appropriation(programme.agency_id), budget_account(programme.id)),
               kind="voucher.budget_funded", memo=f"programme {programme.name[:200]}")
    return transaction


async def _guarded(uow: UnitOfWork, programme_id: str, values: dict[str, object], *conditions: object) -> bool:
    result = await uow.session.execute(
        update(Programme).where(col(Programme.id) == programme_id, *conditions)  # type: ignore[arg-type]
        .values(**values).execution_options(synchronize_session=False))
    return bool(result.rowcount == 1)  # type: ignore[attr-defined]


async def reserve(uow: UnitOfWork, programme_id: str, amount: int) -> None:
    """Take `amount` from what is left of the budget, or refuse (409): the one guard against over-spending."""
    left = Programme.budget_fen - Programme.reserved_fen - Programme.spent_fen
    if not await _guarded(uow, programme_id, {"reserved_fen": Programme.reserved_fen + amount},
                          left >= amount, col(Programme.suspended).is_(False)):
        raise DomainError(409, "the programme's budget cannot cover this redemption", field="voucher_fen",
                          rule="budget")


async def release(uow: UnitOfWork, programme_id: str, amount: int) -> None:
    if amount and not await _guarded(uow, programme_id, {"reserved_fen": Programme.reserved_fen - amount},
                                     Programme.reserved_fen >= amount):
        raise DomainError(409, "the reservation is not held", field="voucher_id")


async def spend(uow: UnitOfWork, voucher: Voucher, now: datetime) -> tuple[VoucherPayment, str]:
    """Approved: reserved -> spent, budget -> the provider's payable, the payout owed (executed after)."""
    assert voucher.provider_id is not None
    if not await _guarded(uow, voucher.programme_id, {"reserved_fen": Programme.reserved_fen - voucher.voucher_fen,
                                                      "spent_fen": Programme.spent_fen + voucher.voucher_fen},
                          Programme.reserved_fen >= voucher.voucher_fen):
        raise DomainError(409, "the reservation is not held", field="voucher_id")
    transaction = txn(voucher.programme_id, "approve", voucher.id)
    amount = Money(voucher.currency, voucher.voucher_fen)
    await post(uow.session, transaction, transfer(amount, budget_account(voucher.programme_id),
                                                  provider_payable(voucher.provider_id)),
               kind="voucher.approved", memo=f"voucher {voucher.id} to {voucher.provider_id}")
    payment = VoucherPayment(id=new_id(), voucher_id=voucher.id, kind="payout", party_id=voucher.provider_id,
                             currency=voucher.currency, amount_fen=voucher.voucher_fen, status="pending",
                             idempotency_key=txn(voucher.programme_id, "payout", voucher.id), created_at=now)
    uow.session.add(payment)
    return payment, transaction


async def paid(uow: UnitOfWork, payment: VoucherPayment, programme_id: str, reference: str) -> str:
    """The provider executed the payout: payable -> clearing."""
    transaction = txn(programme_id, "paid", payment.voucher_id)
    await post(uow.session, transaction, transfer(Money(payment.currency, payment.amount_fen),
                                                  provider_payable(payment.party_id), CLEARING),
               kind="voucher.paid", memo=f"payout {reference}")
    return transaction


async def claw_back(uow: UnitOfWork, voucher: Voucher, now: datetime) -> VoucherPayment:
    """Fraud on a paid voucher: the budget is restored against a claim on the provider; the charge that
    recovers it is owed (executed after)."""
    assert voucher.provider_id is not None
    amount = Money(voucher.currency, voucher.paid_fen)
    if not await _guarded(uow, voucher.programme_id, {"spent_fen": Programme.spent_fen - amount.minor},
                          Programme.spent_fen >= amount.minor):
        raise DomainError(409, "the programme has not spent this amount", field="voucher_id")
    await post(uow.session, txn(voucher.programme_id, "void", voucher.id),
               transfer(amount, provider_clawback(voucher.provider_id), budget_account(voucher.programme_id)),
               kind="voucher.clawed_back", memo=f"voucher {voucher.id} voided for fraud")
    payment = VoucherPayment(id=new_id(), voucher_id=voucher.id, kind="clawback", party_id=voucher.provider_id,
                             currency=voucher.currency, amount_fen=amount.minor, status="pending",
                             idempotency_key=txn(voucher.programme_id, "clawback", voucher.id), created_at=now)
    uow.session.add(payment)
    return payment


async def recovered(uow: UnitOfWork, payment: VoucherPayment, programme_id: str, reference: str) -> str:
    """The claw-back charge succeeded: clearing -> the claim on the provider (settled to zero)."""
    transaction = txn(programme_id, "recovered", payment.voucher_id)
    await post(uow.session, transaction, transfer(Money(payment.currency, payment.amount_fen), CLEARING,
                                                  provider_clawback(payment.party_id)),
               kind="voucher.clawback_recovered", memo=f"claw-back {reference}")
    return transaction
