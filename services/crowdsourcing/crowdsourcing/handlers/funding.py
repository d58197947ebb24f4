"""Publication and escrow: charges made outside any transaction, posted into escrow here; review; cancelling
with every funded milestone refunded."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col, select

from crowdsourcing import contracts as ev
from crowdsourcing import escrow
from crowdsourcing.domain.task import (
    DROPPED_AT_CONTRACT_DEADLINE,
    ESCROW_UP_FRONT,
    FINISHED_STATES,
    TaskMode,
    TerminalReason,
    allowed,
    needs_review,
    step,
)
from crowdsourcing.handlers.common import (
    POLICY,
    SYSTEM,
    S,
    _actor,
    _key,
    authorise_poster,
    milestones_of,
    move,
    roll_up_contract,
    task_for_update,
)
from crowdsourcing.handlers.posting import ensure_before_contract_deadline, ensure_may_post
from crowdsourcing.models import Bid, Milestone, Task
from shared.auth import Principal
from shared.listings import fast_track, fast_track_first, fast_tracked
from shared.money import Money
from shared.payments import PaymentResult
from shared.problems import DomainError
from shared.uow import UnitOfWork


@dataclass(frozen=True)
class Charge:
    milestone_id: str
    key: str
    amount: Money
    party: str


async def prepare_publication(uow: UnitOfWork, principal: Principal | None, task_id: str,
                              now: datetime) -> tuple[Task, list[Charge]]:
    """Publish a draft. Modes without escrow up front move now (and commit); the others return the charges to
    make (outside any transaction) before `finish_funding`. A bid task whose chosen bid is not yet funded
    returns its charges too, so publishing again resumes an interrupted funding."""
    task = await task_for_update(uow, task_id)
    authorise_poster(principal, task)
    actor = _actor(principal)
    mode = TaskMode(task.mode)
    if task.state == S.DRAFT:  # a draft posted before its poster (or organisation) was black-listed stays one
        await ensure_may_post(uow, task.poster_id, task.organisation_id, action="publishing a task")
        await ensure_before_contract_deadline(uow, task.parent_id, now, field="task_id")
    if task.state == S.DRAFT and mode not in ESCROW_UP_FRONT:
        if mode is not TaskMode.GENERAL_CONTRACT and needs_review(mode, task.budget_fen, task.poster_verified,
                                                                    POLICY.review_threshold_fen):
            await move(uow, task, S.UNDER_REVIEW, actor, now, **await _review_facts(uow, task))
        else:
            await move(uow, task, S.OPEN, actor, now, milestone_seq=task.current_seq)
        if mode is TaskMode.GENERAL_CONTRACT:  # its sub-tasks may have started (or finished) while it was a draft
            await roll_up_contract(uow, task, actor, now)
        await uow.commit()
        return task, []
    funding_bid = mode is TaskMode.BID and task.state == S.OPEN and task.chosen_bid_id is not None
    if not funding_bid:
        if task.state != S.DRAFT:
            # only a draft is published; an open bid task is funded by choosing a bid, never by publishing it
            raise DomainError(409, f"the {mode.value} task is in state {task.state!r}; only a draft is published"
                                   + (" (choose a bid to fund it)" if mode is TaskMode.BID else ""),
                              field="task_id", current_state=task.state, rule="illegal_transition")
        step(mode, task.state, S.ESCROW_FUNDED)
    charges = [Charge(m.id, escrow.charge_key(m), Money(task.currency, m.amount_fen), task.poster_id)
               for m in await milestones_of(uow, task.id) if m.state == "pending"]
    return task, charges


async def _review_facts(uow: UnitOfWork, task: Task) -> dict[str, Any]:
    """Why the task is reviewed, and whether it is fast-tracked (a red-listed poster, 联合激励)."""
    why = "unverified_poster" if not task.poster_verified else f"bounty_below_{POLICY.review_threshold_fen}_fen"
    return {"why": why, "fast_track": await fast_tracked(uow.session, task.poster_id, task.organisation_id)}


async def review_queue(session: AsyncSession, limit: int, offset: int) -> list[Task]:
    """Tasks awaiting review: red-listed posters' first (fast-track review, 联合激励), then oldest first."""
    query = (select(Task).where(Task.state == S.UNDER_REVIEW.value)
             .order_by(fast_track_first(fast_track(Task.poster_id, Task.organisation_id)),
                       col(Task.updated_at), col(Task.id)))
    return list((await session.execute(query.limit(limit).offset(offset))).scalars().all())


async def finish_funding(uow: UnitOfWork, actor: str, task_id: str, outcomes: Sequence[tuple[Charge, PaymentResult]],
                         now: datetime) -> Task:
    """Post what the provider charged into escrow; then the task moves on (once every milestone is funded), or
    is cancelled (payment failed) with whatever was charged refunded. Outcomes may be partial (the provider
    timed out on a later charge): what succeeded is posted all the same, so publishing again resumes and
    cancelling refunds it. If the task moved on meanwhile (cancelled, or funded by a concurrent publication),
    a successful charge nobody has posted yet goes into escrow and straight back to the poster. Idempotent:
    a second run after the first changes nothing."""
    task = await task_for_update(uow, task_id)
    mode = TaskMode(task.mode)
    milestones = await milestones_of(uow, task.id)
    by_id = {m.id: m for m in milestones}
    funding = (task.state == S.OPEN and task.chosen_bid_id is not None) if mode is TaskMode.BID else (
        task.state == S.DRAFT)
    if not funding:
        for charge, result in outcomes:
            milestone = by_id[charge.milestone_id]
            if result.succeeded and await escrow.record_funding(uow, task, milestone, result.reference, actor, now):
                await uow.session.flush()
                await escrow.refund_to_poster(uow, task, milestone, None, "interrupted", actor, now)
                milestone.state, milestone.settled_at = "settled", now
        await uow.commit()
        return task
    for charge, result in outcomes:
        if result.succeeded:
            await escrow.record_funding(uow, task, by_id[charge.milestone_id], result.reference, actor, now)
    if any(not result.succeeded for _, result in outcomes):
        await _cancel_with_refunds(uow, task, milestones, TerminalReason.PAYMENT_FAILED, actor, now)
    elif all(m.state == "funded" for m in milestones):
        await move(uow, task, S.ESCROW_FUNDED, actor, now, escrow_fen=sum(m.amount_fen for m in milestones))
        if mode is TaskMode.BID:
            await move(uow, task, S.IN_PROGRESS, actor, now, assignee_id=task.assignee_id)
        elif needs_review(mode, task.budget_fen, task.poster_verified, POLICY.review_threshold_fen):
            await move(uow, task, S.UNDER_REVIEW, actor, now, **await _review_facts(uow, task))
        else:
            await move(uow, task, S.OPEN, actor, now, milestone_seq=task.current_seq)
    await uow.commit()
    return task


@dataclass(frozen=True)
class ChargeAttempt:
    """A charge of a task's milestone as the payments module recorded it (by its idempotency key)."""

    key: str
    party: str
    currency: str
    amount_fen: int
    status: str  # pending (no answer yet, or a timeout) | succeeded | failed
    reference: str | None


async def charge_attempts(session: AsyncSession, task_id: str) -> list[ChargeAttempt]:
    prefix = escrow.txn(task_id, "fund", "")
    rows = (await session.execute(text(
        "SELECT idempotency_key, party, currency, amount, status, reference FROM payment_attempts "
        "WHERE kind = 'charge' AND idempotency_key LIKE :prefix ORDER BY created_at, idempotency_key"),
        {"prefix": prefix + "%"})).all()
    return [ChargeAttempt(r.idempotency_key, r.party, r.currency, int(r.amount), r.status, r.reference)
            for r in rows if r.idempotency_key.startswith(prefix)]


async def _post_charges_made(uow: UnitOfWork, task: Task, milestones: Sequence[Milestone], actor: str,
                             now: datetime) -> None:
    """Every charge the provider made that is not in escrow yet (its funding was interrupted) is posted now."""
    by_key = {escrow.charge_key(m): m for m in milestones if m.state == "pending"}
    if not by_key:
        return
    for attempt in await charge_attempts(uow.session, task.id):
        milestone = by_key.get(attempt.key)
        if milestone is not None and attempt.status == "succeeded":
            await escrow.record_funding(uow, task, milestone, attempt.reference or "", actor, now)


async def _cancel_with_refunds(uow: UnitOfWork, task: Task, milestones: Sequence[Milestone],
                               reason: TerminalReason, actor: str, now: datetime) -> None:
    """Cancel a task that has not started: charges made but not yet posted are posted first (found by their
    keys in the payment attempts), then every funded milestone is refunded and the bids are closed."""
    await _post_charges_made(uow, task, milestones, actor, now)
    await uow.session.flush()
    await _refund_all(uow, task, milestones, reason.value, actor, now)
    await _close_bids(uow, task)
    await move(uow, task, S.CANCELLED, actor, now, reason)


async def _refund_all(uow: UnitOfWork, task: Task, milestones: Sequence[Milestone], why: str, actor: str,
                      now: datetime) -> None:
    for milestone in milestones:
        if milestone.state == "funded":
            await escrow.refund_to_poster(uow, task, milestone, None, why, actor, now)
            milestone.state, milestone.settled_at = "settled", now


async def _close_bids(uow: UnitOfWork, task: Task) -> None:
    for bid in (await uow.session.execute(select(Bid).where(Bid.task_id == task.id))).scalars():
        if bid.state in ("placed", "chosen"):
            bid.state = "not_chosen"


async def cancel_task(uow: UnitOfWork, principal: Principal | None, task_id: str, now: datetime,
                      reason: TerminalReason = TerminalReason.POSTER_REQUEST) -> Task:
    """Cancel before work has started; every funded milestone is refunded. A general contract is cancelled with
    every sub-task not yet finished (each `contract_cancelled`, its escrow refunded), in this one transaction."""
    await lock_sub_tasks(uow, task_id)  # sub-tasks before their contract, the order a sub-task's step takes
    task = await task_for_update(uow, task_id)
    authorise_poster(principal, task)
    step(task.mode, task.state, S.CANCELLED, reason)
    if task.mode == TaskMode.BID and task.chosen_bid_id is not None:
        raise DomainError(409, "a bid has been chosen and is being funded; it can no longer be cancelled",
                          current_state=task.state)
    actor = _actor(principal)
    sub_tasks = await lock_sub_tasks(uow, task.id)  # complete now: a locked contract takes no new sub-task
    blocker = contract_cancellation_blocker(task, sub_tasks, while_funding=False)
    if blocker is not None:
        raise blocker
    await cancel_with_sub_tasks(uow, task, sub_tasks, reason, actor, now)
    await uow.commit()
    return task


async def lock_sub_tasks(uow: UnitOfWork, contract_id: str) -> list[Task]:
    """A general contract's sub-tasks (分包), locked in id order (none for any other task)."""
    return list((await uow.session.execute(select(Task).where(Task.parent_id == contract_id)
                                           .order_by(col(Task.id)).with_for_update())).scalars().all())


def contract_cancellation_blocker(contract: Task, sub_tasks: Sequence[Task], *,
                                  while_funding: bool) -> DomainError | None:
    """Why the contract cannot be cancelled with its sub-tasks (a 409), or None. A general contract is
    cancelled, like every task, before work starts: no unfinished sub-task may have started (a draft contract
    does not move with its sub-tasks, so one may have). A bid sub-task whose chosen bid is being funded blocks
    it too, unless `while_funding` (an upheld spam report: the charge in flight is refunded when it returns)."""
    for sub in sub_tasks:
        if sub.state in FINISHED_STATES:
            continue
        funding = sub.mode == TaskMode.BID and sub.chosen_bid_id is not None and not while_funding
        if S.CANCELLED not in allowed(sub.mode, sub.state) or funding:
            return DomainError(
                409, f"sub-task {sub.id} is {sub.state}" + (" and its chosen bid is being funded" if funding else "")
                + "; a general contract is cancelled only before its sub-tasks' work starts",
                field="task_id", current_state=contract.state, rule="sub_task_started", sub_task_id=sub.id,
                sub_task_state=sub.state)
    return None


async def cancel_with_sub_tasks(uow: UnitOfWork, task: Task, sub_tasks: Sequence[Task], reason: TerminalReason,
                                actor: str, now: datetime) -> None:
    """Cancel a task that has not started, refunding what it holds; a general contract first (so no sub-task's
    step rolls it up meanwhile), then each unfinished sub-task, `contract_cancelled`, with its escrow refunded."""
    await _cancel_with_refunds(uow, task, await milestones_of(uow, task.id), reason, actor, now)
    for sub in sub_tasks:
        if sub.state not in FINISHED_STATES:
            await _cancel_with_refunds(uow, sub, await milestones_of(uow, sub.id), TerminalReason.CONTRACT_CANCELLED,
                                       actor, now)


async def end_contract_at_deadline(uow: UnitOfWork, contract_id: str, now: datetime) -> int:
    """A general contract past its deadline (the `deadlines` job): its sub-tasks still drafts are cancelled
    (`contract_deadline_passed`), refunding whatever an interrupted funding charged (resolved beforehand), and a
    contract left with no sub-task under way ends: completed if one completed, else expired
    (`no_sub_task_completed`), a contract that never had a sub-task included. One with sub-tasks under way waits
    for them: each ends by its own deadline. Returns 1 if anything moved."""
    sub_tasks = await lock_sub_tasks(uow, contract_id)  # sub-tasks before their contract, as everywhere
    contract = await task_for_update(uow, contract_id)
    if contract.mode != TaskMode.GENERAL_CONTRACT or contract.state not in (S.OPEN, S.IN_PROGRESS) \
            or now <= contract.deadline:
        return 0
    before = contract.state
    dropped = [sub for sub in sub_tasks if sub.state in DROPPED_AT_CONTRACT_DEADLINE]
    for sub in dropped:
        await _cancel_with_refunds(uow, sub, await milestones_of(uow, sub.id),
                                   TerminalReason.CONTRACT_DEADLINE_PASSED, SYSTEM, now)
    await roll_up_contract(uow, contract, SYSTEM, now)
    await uow.commit()
    return int(bool(dropped) or contract.state != before)


async def review_task(uow: UnitOfWork, principal: Principal, task_id: str, approve: bool, note: str,
                      now: datetime) -> Task:
    task = await task_for_update(uow, task_id)
    if task.poster_id == principal.subject:
        raise DomainError(403, "nobody reviews their own task", field="task_id")
    if task.state != S.UNDER_REVIEW:
        step(task.mode, task.state, S.OPEN)  # 409 naming the state
    uow.publish(ev.TaskReviewed(task_id=task.id, reviewer_id=principal.subject, approved=approve, note=note,
                                policy_version=task.policy_version),
                subject=task.id, actor=principal.subject, partition_key=_key(task))
    if approve:
        await move(uow, task, S.OPEN, principal.subject, now, milestone_seq=task.current_seq)
    else:
        await _refund_all(uow, task, await milestones_of(uow, task.id), "failed_review", principal.subject, now)
        await move(uow, task, S.CANCELLED, principal.subject, now, TerminalReason.FAILED_REVIEW)
    await uow.commit()
    return task
