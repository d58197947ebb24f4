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
from crowdsourcing.domain.task import DROPPED_AT_CONTRACT_DEADLINE
from crowdsourcing.models import Payout, Report, Task
from shared.auth import Principal
from shared.context import MoneyContext
from shared.money import Money
from shared.payments import PaymentKind, PaymentResult
from shared.problems import DomainError
from shared.uow import UnitOfWork

log = logging.getLogger(__name__)
T = TypeVar("T")


Context = MoneyContext  # flows and jobs take the shared money-moving service context


async def publish(ctx: Context, principal: Principal | None, task_id: str, now: datetime) -> Task:
    """Publish a draft (or resume funding a chosen bid): charge each unfunded milestone, then post it.

    Whatever the provider charged is posted, even when a later charge times out (503: publishing again resumes
    without charging twice, and cancelling refunds it). Returns the task as stored afterwards (the losing side
    of two concurrent publications gets the winner's result)."""
    async with ctx.uow() as uow:
        _, charges = await handlers.prepare_publication(uow, principal, task_id, now)
    if not charges:
        return await task_now(ctx, task_id)
    outcomes: list[tuple[handlers.Charge, PaymentResult]] = []
    timed_out: TimeoutError | None = None
    for charge in charges:
        try:
            result = await ctx.payments.execute(PaymentKind.CHARGE, charge.key, charge.amount, charge.party)
        except TimeoutError as exc:
            timed_out = exc
            break
        outcomes.append((charge, result))
        if not result.succeeded:
            break
    actor = principal.subject if principal is not None else handlers.SYSTEM
    async with ctx.uow() as uow:
        await handlers.finish_funding(uow, actor, task_id, outcomes, now)
    await settle_task(ctx, task_id)
    if timed_out is not None:
        raise DomainError(503, "the payment provider did not answer; publish again to resume (nothing is "
                               "charged twice)", field="task_id") from timed_out
    return await task_now(ctx, task_id)


async def task_now(ctx: Context, task_id: str) -> Task:
    async with ctx.db.reading() as session:
        task = await session.get(Task, task_id)
    if task is None:
        raise DomainError(404, f"task {task_id} not found", field="task_id")
    return task


async def resolve_charges(ctx: Context, task_id: str) -> int:
    """Ask the provider again, by the same key, about every charge of the task left without an answer (a
    timeout, or a publication still in flight), so that a cancellation can refund what was charged. A charge
    the provider never made is made now and refunded with the rest: nothing is held, the ledger balances."""
    async with ctx.db.reading() as session:
        attempts = await handlers.charge_attempts(session, task_id)
    resolved = 0
    for attempt in attempts:
        if attempt.status != "pending":
            continue
        try:
            await ctx.payments.execute(PaymentKind.CHARGE, attempt.key, Money(attempt.currency, attempt.amount_fen),
                                       attempt.party)
        except TimeoutError as exc:
            raise DomainError(503, "the payment provider has not confirmed an earlier charge of this task; try "
                                   "again", field="task_id") from exc
        resolved += 1
    return resolved


async def _authorised_task(ctx: Context, principal: Principal | None, task_id: str) -> Task:
    task = await task_now(ctx, task_id)
    handlers.authorise_poster(principal, task)
    return task


async def cancel(ctx: Context, principal: Principal | None, task_id: str, now: datetime) -> Task:
    """Cancel a task before work starts: unanswered charges are resolved first, then everything charged is
    refunded. A general contract's sub-tasks are cancelled with it (their charges resolved and refunds paid)."""
    await _authorised_task(ctx, principal, task_id)
    for part in await _with_sub_tasks(ctx, task_id):
        await resolve_charges(ctx, part)
    async with ctx.uow() as uow:
        await handlers.cancel_task(uow, principal, task_id, now)
    for part in await _with_sub_tasks(ctx, task_id):  # read again: a sub-task added meanwhile is paid too
        await settle_task(ctx, part)
    return await task_now(ctx, task_id)


async def end_contract_at_deadline(ctx: Context, contract_id: str) -> int:
    """A general contract past its deadline (the `deadlines` job, `handlers.end_contract_at_deadline`): the
    unanswered charges of its draft sub-tasks are resolved first, as for a cancellation, and their refunds paid
    after."""
    async with ctx.db.reading() as session:  # only the drafts are cancelled: only their charges are asked about
        drafts = list((await session.execute(select(Task.id).where(
            Task.parent_id == contract_id, col(Task.state).in_([s.value for s in DROPPED_AT_CONTRACT_DEADLINE]))
            .order_by(col(Task.id)))).scalars())
    for draft in drafts:
        await resolve_charges(ctx, draft)
    async with ctx.uow() as uow:
        acted = await handlers.end_contract_at_deadline(uow, contract_id, ctx.clock.now())
    for draft in drafts:
        await settle_task(ctx, draft)
    return acted


async def _with_sub_tasks(ctx: Context, task_id: str) -> list[str]:
    """The task and, for a general contract, its sub-tasks (分包)."""
    async with ctx.db.reading() as session:
        subs = (await session.execute(select(Task.id).where(Task.parent_id == task_id).order_by(col(Task.id))))
        return [task_id, *subs.scalars()]


async def decide_report(ctx: Context, principal: Principal, report_id: str, upheld: bool, note: str,
                        now: datetime) -> Report:
    """A reviewer decides a report; an upheld spam report may cancel the task (a general contract with its
    sub-tasks), so their unanswered charges are resolved first (as for a cancellation) and the refunds paid
    after."""
    async with ctx.db.reading() as session:
        found = await session.get(Report, report_id)
    if found is not None and upheld and found.reason == "spam" and found.state == "open":
        for part in await _with_sub_tasks(ctx, found.task_id):
            await resolve_charges(ctx, part)
    async with ctx.uow() as uow:
        report = await handlers.decide_report(uow, principal, report_id, upheld, note, now)
    for part in await _with_sub_tasks(ctx, report.task_id):
        await settle_task(ctx, part)
    return report


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


async def reissue_payout(ctx: Context, principal: Principal, payout_id: str, now: datetime) -> Payout:
    """An admin re-issues a declined payout or refund under a new key, and it is executed at once (a timeout
    leaves it pending for the payouts job)."""
    async with ctx.uow() as uow:
        payout = await handlers.reissue_payout(uow, principal, payout_id, now)
    new_id = payout.id
    await settle_payout(ctx, new_id)
    async with ctx.db.reading() as session:
        fresh = await session.get(Payout, new_id)
    assert fresh is not None
    return fresh


async def run(ctx: Context, command: Callable[[UnitOfWork], Awaitable[T]]) -> T:
    """Run one command in its own unit of work (flows then settle what it made owed)."""
    async with ctx.uow() as uow:
        return await command(uow)
