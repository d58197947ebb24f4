"""Voucher commands that call the payment provider, between transactions, never inside one (on SQLite there is
one writer, and shared.payments takes its own short transactions around the provider call).

Approval and voiding record what is owed (`VoucherPayment` rows, in the transaction of the ledger posting
that made it owed); `settle` executes them afterwards by their idempotency keys, and the `voucher_payments`
job retries any left pending (a provider timeout), so each is executed exactly once.
"""

from __future__ import annotations

import logging
from datetime import datetime

from sqlmodel import col, select

from crowdsupport import budget
from crowdsupport import contracts as ev
from crowdsupport.domain.vouchers import VoucherState
from crowdsupport.handlers import vouchers
from crowdsupport.handlers.common import SYSTEM, publish_voucher_event
from crowdsupport.models import Voucher, VoucherPayment
from shared.auth import Principal
from shared.context import MoneyContext
from shared.ledger import balance
from shared.money import Money
from shared.payments import PaymentKind
from shared.problems import DomainError
from shared.uow import UnitOfWork

log = logging.getLogger(__name__)


async def approve(ctx: MoneyContext, principal: Principal, voucher_id: str, now: datetime) -> Voucher:
    """The agency approves and pays the provider (payout by idempotency key)."""
    async with ctx.uow() as uow:
        payment = await vouchers.approve(uow, principal, voucher_id, now)
    await settle(ctx, payment.id)
    return await voucher_now(ctx, voucher_id)


async def void(ctx: MoneyContext, principal: Principal, voucher_id: str, data: vouchers.Voiding,
               now: datetime) -> Voucher:
    """Void a voucher; a paid amount is charged back from the provider (claw-back by idempotency key)."""
    async with ctx.uow() as uow:
        payment = await vouchers.void(uow, principal, voucher_id, data, now)
    if payment is not None:
        await settle(ctx, payment.id)
    return await voucher_now(ctx, voucher_id)


async def reissue(ctx: MoneyContext, principal: Principal, payment_id: str, now: datetime) -> VoucherPayment:
    """The programme's agency (or an admin) re-issues a declined payment; it is executed at once (a timeout leaves
    it for the job)."""
    async with ctx.uow() as uow:
        payment = await vouchers.reissue_payment(uow, principal, payment_id, now)
    await settle(ctx, payment.id)
    async with ctx.db.reading() as session:
        fresh = await session.get(VoucherPayment, payment.id)
    assert fresh is not None
    return fresh


async def voucher_now(ctx: MoneyContext, voucher_id: str) -> Voucher:
    async with ctx.db.reading() as session:
        voucher = await session.get(Voucher, voucher_id)
    if voucher is None:
        raise DomainError(404, f"voucher {voucher_id} not found", field="voucher_id")
    return voucher


async def settle_pending(ctx: MoneyContext) -> int:
    """Every payment still owed (the job's sweep after a provider timeout)."""
    async with ctx.db.reading() as session:
        ids = list((await session.execute(select(VoucherPayment.id).where(VoucherPayment.status == "pending")
                                          .order_by(col(VoucherPayment.created_at)).limit(500))).scalars())
    return sum([await settle(ctx, payment_id) for payment_id in ids])


async def settle(ctx: MoneyContext, payment_id: str) -> int:
    """Execute one owed payment by its key and record the outcome; 0 if it was settled already or timed out."""
    async with ctx.db.reading() as session:
        payment = await session.get(VoucherPayment, payment_id)
    if payment is None or payment.status != "pending":
        return 0
    kind = PaymentKind.PAYOUT if payment.kind == "payout" else PaymentKind.CHARGE
    try:
        result = await ctx.payments.execute(kind, payment.idempotency_key,
                                            Money(payment.currency, payment.amount_fen), payment.party_id)
    except TimeoutError:
        log.warning("voucher payment timed out; the job retries it with the same key", extra={"payment": payment_id})
        return 0
    async with ctx.uow() as uow:
        row = (await uow.session.execute(
            select(VoucherPayment).where(VoucherPayment.id == payment_id).with_for_update())).scalars().one()
        if row.status != "pending":
            return 0
        voucher = (await uow.session.execute(
            select(Voucher).where(Voucher.id == row.voucher_id).with_for_update())).scalars().one()
        row.settled_at = ctx.clock.now()
        row.status = "done" if result.succeeded else "failed"
        row.reference, row.failure = result.reference, (result.failure or None)
        if row.kind == "payout":
            await _payout_settled(uow, row, voucher, result.succeeded, result.reference)
        else:
            if result.succeeded:
                await budget.recovered(uow, row, voucher.programme_id, result.reference)
            publish_voucher_event(uow, voucher, SYSTEM, ev.ClawbackSettled(
                voucher_id=voucher.id, programme_id=voucher.programme_id, provider_id=row.party_id,
                currency=row.currency, amount_fen=row.amount_fen, status=row.status,
                idempotency_key=row.idempotency_key, reference=result.reference if result.succeeded else None))
        await uow.commit()
    return 1


async def _payout_settled(uow: UnitOfWork, row: VoucherPayment, voucher: Voucher, succeeded: bool,
                          reference: str) -> None:
    if not succeeded:  # nothing paid: the voucher stays approved, the amount stays in the provider's payable
        payable = budget.provider_payable(row.party_id)
        owed = await balance(uow.session, payable, row.currency)
        publish_voucher_event(uow, voucher, SYSTEM, ev.VoucherPayoutDeclined(
            voucher_id=voucher.id, programme_id=voucher.programme_id, agency_id=voucher.agency_id,
            provider_id=row.party_id, payment_id=row.id, currency=row.currency, amount_fen=row.amount_fen,
            payable_account=payable, payable_fen=owed.minor, idempotency_key=row.idempotency_key, failure=row.failure))
        return
    transaction = await budget.paid(uow, row, voucher.programme_id, reference)
    voucher.state, voucher.paid_fen = VoucherState.PAID.value, row.amount_fen
    publish_voucher_event(uow, voucher, SYSTEM, ev.VoucherPaid(
        voucher_id=voucher.id, programme_id=voucher.programme_id, agency_id=voucher.agency_id,
        enterprise_id=voucher.enterprise_id, provider_id=row.party_id, currency=row.currency, amount_fen=row.amount_fen,
        idempotency_key=row.idempotency_key, reference=reference, ledger_transaction=transaction))
