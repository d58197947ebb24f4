"""Commands that call the payment provider: the provider is called between transactions, never inside one
(on SQLite there is one writer, and the payments module takes its own short transactions).

- Funding: the charges are made first (idempotency key per milestone), then one transaction posts them into
  escrow and moves the task; a declined charge cancels the task (payment failed) and refunds what was charged.
- Payouts and refunds: commands record what is owed (`Payout` rows, in the same transaction as the ledger
  posting); `settle_task` executes them afterwards by their idempotency keys, and the `payouts` job retries any
  left pending (a provider timeout), so each is paid exactly once.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import TypeVar

from sqlmodel import col, select

from crowdsourcing import contracts as ev
from crowdsourcing import escrow, handlers
from crowdsourcing.models import Payout, Task
from shared.auth import Principal
from shared.context import ServiceContext
from shared.money import Money
from shared.payments import PaymentKind, PaymentResult
from shared.problems import DomainError
from shared.uow import UnitOfWork

log = logging.getLogger(__name__)
T = TypeVar("T")


Context = ServiceContext  # flows and jobs take the shared service context


async def publish(ctx: Context, principal: Principal | None, task_id: str, now: datetime) -> Task:
    """Publish a draft (or resume funding a chosen bid): charge each unfunded milestone, then post it."""
    async with ctx.uow() as uow:
        task, charges = await handlers.prepare_publication(uow, principal, task_id, now)
    if not charges:
        return task
    outcomes: list[tuple[handlers.Charge, PaymentResult]] = []
    for charge in charges:
        try:
            result = await ctx.payments.execute(PaymentKind.CHARGE, charge.key, charge.amount, charge.party)
        except TimeoutError as exc:
            raise DomainError(503, "the payment provider did not answer; publish again to resume (nothing is "
                                   "charged twice)", field="task_id") from exc
        outcomes.append((charge, result))
        if not result.succeeded:
            break
    actor = principal.subject if principal is not None else handlers.SYSTEM
    async with ctx.uow() as uow:
        task = await handlers.finish_funding(uow, actor, task_id, outcomes, now)
    await settle_task(ctx, task_id)
    return task


async def settle_task(ctx: Context, task_id: str) -> int:
    """Execute every payout and refund the task still owes; returns how many were settled now."""
    async with ctx.db.reading() as session:
        ids = list((await session.execute(select(Payout.id).where(
            Payout.task_id == task_id, Payout.status == "pending").order_by(col(Payout.created_at)))).scalars())
    settled = 0
    for payout_id in ids:
        settled += await settle_payout(ctx, payout_id)
    return settled


async def settle_payout(ctx: Context, payout_id: str) -> int:
    async with ctx.db.reading() as session:
        payout = await session.get(Payout, payout_id)
    if payout is None or payout.status != "pending":
        return 0
    kind = PaymentKind.PAYOUT if payout.kind == "payout" else PaymentKind.REFUND
    try:
        result = await ctx.payments.execute(kind, payout.idempotency_key, Money(payout.currency, payout.amount_fen),
                                            payout.party_id)
    except TimeoutError:
        log.warning("payout timed out; the payouts job retries it with the same key", extra={"payout": payout_id})
        return 0
    async with ctx.uow() as uow:
        row = (await uow.session.execute(
            select(Payout).where(Payout.id == payout_id).with_for_update())).scalars().one()
        if row.status != "pending":
            return 0
        row.settled_at = ctx.clock.now()
        facts = dict(payout_id=row.id, task_id=row.task_id, kind=row.kind, party_id=row.party_id,
                     currency=row.currency, amount_fen=row.amount_fen, idempotency_key=row.idempotency_key)
        if result.succeeded:
            row.status, row.reference = "paid", result.reference
            transaction = await escrow.record_payout_executed(uow, row, result.reference)
            uow.publish(ev.PayoutCompleted(**facts, reference=result.reference, ledger_transaction=transaction),
                        subject=row.task_id, actor=handlers.SYSTEM, partition_key=row.party_id)
        else:
            row.status, row.failure = "failed", (result.failure or "failed")[:300]
            uow.publish(ev.PayoutFailed(**facts, failure=row.failure),
                        subject=row.task_id, actor=handlers.SYSTEM, partition_key=row.party_id)
        await uow.commit()
    return 1


async def run(ctx: Context, command: Callable[[UnitOfWork], Awaitable[T]]) -> T:
    """Run one command in its own unit of work (flows then settle what it made owed)."""
    async with ctx.uow() as uow:
        return await command(uow)
