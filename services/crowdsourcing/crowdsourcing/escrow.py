"""Escrow on the double-entry ledger, inside the command's transaction.

Accounts (integer fen; + debit, - credit):
- `provider/clearing`: money at the payment provider; charges come in from it, payouts and refunds go out to it;
- `escrow/task/<task>/milestone/<milestone>`: one escrow account per milestone;
- `payable/solver/<id>` and `payable/poster/<id>`: owed to a solver (net of commission) or back to a poster,
  until the provider has executed the payout or refund;
- `revenue/commission`: the platform's commission.

Every ledger transaction id starts with `cs:<task id>:`, so a task's postings can be listed, and is derived from
its cause (the milestone, the submission, the dispute, the payout), so a retried command cannot move money twice.
A payable is paid through a `Payout` row created in the same transaction as the posting that made it owed;
its idempotency key is derived from that posting, so the provider executes it once.
"""

from __future__ import annotations

from datetime import datetime

from crowdsourcing import contracts as ev
from crowdsourcing.domain.policy import DEFAULT_POLICY
from crowdsourcing.domain.settlement import Release, release
from crowdsourcing.models import Milestone, Payout, Task
from shared.ids import new_id
from shared.ledger import Posting, balance, post, transfer
from shared.listings import red_list_benefits
from shared.money import Money
from shared.uow import UnitOfWork

CLEARING = "provider/clearing"
COMMISSION = "revenue/commission"


def escrow_account(milestone: Milestone) -> str:
    return f"escrow/task/{milestone.task_id}/milestone/{milestone.id}"


def solver_payable(solver_id: str) -> str:
    return f"payable/solver/{solver_id}"


def poster_payable(poster_id: str) -> str:
    return f"payable/poster/{poster_id}"


def txn(task_id: str, *parts: str) -> str:
    return ":".join(("cs", task_id, *parts))


def charge_key(milestone: Milestone) -> str:
    return txn(milestone.task_id, "fund", milestone.id)


async def escrow_of(uow: UnitOfWork, task: Task, milestone: Milestone) -> Money:
    return await balance(uow.session, escrow_account(milestone), task.currency)


async def record_funding(uow: UnitOfWork, task: Task, milestone: Milestone, reference: str, actor: str,
                         now: datetime) -> bool:
    """The charge succeeded at the provider: clearing -> the milestone's escrow (once)."""
    amount = Money(task.currency, milestone.amount_fen)
    transaction = charge_key(milestone)
    if not await post(uow.session, transaction, transfer(amount, CLEARING, escrow_account(milestone)),
                      kind="escrow.funded", memo=f"task {task.id} milestone {milestone.seq}"):
        return False
    milestone.state, milestone.funded_at = "funded", now
    uow.publish(ev.MilestoneFunded(task_id=task.id, milestone_id=milestone.id, seq=milestone.seq,
                                   poster_id=task.poster_id, currency=task.currency, amount_fen=amount.minor,
                                   payment_reference=reference, ledger_transaction=transaction),
                subject=task.id, actor=actor, partition_key=_key(task))
    return True


def _key(task: Task) -> str:
    return task.organisation_id or task.poster_id


def _payout(uow: UnitOfWork, task: Task, kind: str, party: str, account: str, amount: Money, cause: str,
            now: datetime) -> None:
    if amount.minor <= 0:
        return
    uow.session.add(Payout(id=new_id(), task_id=task.id, kind=kind, party_id=party, account=account,
                           currency=amount.currency, amount_fen=amount.minor, idempotency_key=f"{cause}/{kind}",
                           cause=cause, created_at=now))


async def solver_terms(uow: UnitOfWork, solver_id: str, gross: Money) -> Release:
    """What a solver receives of `gross` and what the platform keeps: the policy's commission, relieved by the
    percentage credit's policy sets when the solver is red-listed (联合激励, from the local listing replica).
    Every payout to a solver (acceptance, prize, dispute split) is computed here, so none escapes the relief."""
    benefits = await red_list_benefits(uow.session, solver_id)
    return release(gross, DEFAULT_POLICY.commission, benefits.commission_relief_percent)


async def release_to_solver(uow: UnitOfWork, task: Task, milestone: Milestone, solver_id: str, gross: Money,
                            cause_id: str, actor: str, now: datetime, submission_id: str | None) -> Release | None:
    """Escrow -> the solver's payable (net) and commission (`solver_terms`); a payout is queued. None if done
    before."""
    split = await solver_terms(uow, solver_id, gross)
    transaction = txn(task.id, "release", cause_id)
    postings = [Posting(escrow_account(milestone), -gross), Posting(solver_payable(solver_id), split.net),
                Posting(COMMISSION, split.commission)]
    if not await post(uow.session, transaction, postings, kind="escrow.released",
                      memo=f"task {task.id} milestone {milestone.seq} to {solver_id}"):
        return None
    _payout(uow, task, "payout", solver_id, solver_payable(solver_id), split.net, transaction, now)
    uow.publish(ev.EscrowReleased(task_id=task.id, milestone_id=milestone.id, solver_id=solver_id,
                                  currency=gross.currency, gross_fen=gross.minor, net_fen=split.net.minor,
                                  commission_fen=split.commission.minor, ledger_transaction=transaction,
                                  policy_version=DEFAULT_POLICY.version, submission_id=submission_id,
                                  commission_relief_percent=split.relief_percent),
                subject=task.id, actor=actor, partition_key=solver_id)
    return split


async def refund_to_poster(uow: UnitOfWork, task: Task, milestone: Milestone, amount: Money | None, why: str,
                           actor: str, now: datetime) -> Money:
    """Escrow (all that is left, or `amount`) -> the poster's payable; a refund is queued."""
    left = await escrow_of(uow, task, milestone)
    amount = left if amount is None else amount
    if amount.minor <= 0:
        return Money(task.currency, 0)
    transaction = txn(task.id, "refund", milestone.id, why)
    if not await post(uow.session, transaction,
                      transfer(amount, escrow_account(milestone), poster_payable(task.poster_id)),
                      kind="escrow.refunded", memo=f"task {task.id} milestone {milestone.seq}: {why}"):
        return Money(task.currency, 0)
    _payout(uow, task, "refund", task.poster_id, poster_payable(task.poster_id), amount, transaction, now)
    uow.publish(ev.EscrowRefunded(task_id=task.id, milestone_id=milestone.id, poster_id=task.poster_id,
                                  currency=amount.currency, amount_fen=amount.minor, why=why,
                                  ledger_transaction=transaction),
                subject=task.id, actor=actor, partition_key=_key(task))
    return amount


async def roll_forward(uow: UnitOfWork, task: Task, source: Milestone, target: Milestone, amount: Money,
                       actor: str) -> None:
    if amount.minor <= 0:
        return
    transaction = txn(task.id, "roll", source.id)
    if await post(uow.session, transaction, transfer(amount, escrow_account(source), escrow_account(target)),
                  kind="escrow.rolled_forward", memo=f"task {task.id}: milestone {source.seq} -> {target.seq}"):
        uow.publish(ev.EscrowRolledForward(task_id=task.id, from_milestone_id=source.id, to_milestone_id=target.id,
                                           currency=amount.currency, amount_fen=amount.minor,
                                           ledger_transaction=transaction),
                    subject=task.id, actor=actor, partition_key=_key(task))


async def split_for_dispute(uow: UnitOfWork, task: Task, milestone: Milestone, dispute_id: str, solver_id: str,
                            solver_gross: Money, poster_part: Money, now: datetime) -> Release:
    """One transaction: escrow -> solver payable (net, `solver_terms`) + commission + poster payable; payouts
    queued. Returns the solver's terms (posting them again changes nothing)."""
    split = await solver_terms(uow, solver_id, solver_gross)
    transaction = txn(task.id, "dispute", dispute_id)
    escrow = solver_gross + poster_part
    postings = [Posting(escrow_account(milestone), -escrow), Posting(solver_payable(solver_id), split.net),
                Posting(COMMISSION, split.commission), Posting(poster_payable(task.poster_id), poster_part)]
    if await post(uow.session, transaction, postings, kind="escrow.dispute_split",
                  memo=f"task {task.id} milestone {milestone.seq}: dispute {dispute_id}"):
        _payout(uow, task, "payout", solver_id, solver_payable(solver_id), split.net, transaction, now)
        _payout(uow, task, "refund", task.poster_id, poster_payable(task.poster_id), poster_part, transaction, now)
    return split


async def record_payout_executed(uow: UnitOfWork, payout: Payout, reference: str) -> str:
    """The provider executed it: payable -> clearing (money has left the platform)."""
    transaction = txn(payout.task_id, "paid", payout.id)
    await post(uow.session, transaction,
               transfer(Money(payout.currency, payout.amount_fen), payout.account, CLEARING),
               kind=f"{payout.kind}.executed", memo=f"{payout.kind} to {payout.party_id} ({reference})")
    return transaction
