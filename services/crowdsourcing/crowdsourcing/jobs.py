"""Scheduled jobs (deadlines, auto-accept, default ratings, abandonment, payouts). Each decides from stored
state and the service clock, acts on each task in its own transaction and is idempotent: a second run, or a
run on another replica, finds nothing left to do. Run one at once with POST /testing/jobs/<name>/run."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from datetime import datetime

from fastapi import FastAPI
from sqlmodel import col, select

from crowdsourcing import flows, handlers
from crowdsourcing.domain.policy import DEFAULT_POLICY
from crowdsourcing.domain.task import ASSIGNED_MODES, COMPETITIVE_MODES, TaskMode, TaskState, TerminalReason
from crowdsourcing.models import AwardNotice, Bid, Milestone, Payout, Submission, Task
from shared.problems import DomainError
from shared.scheduler import Job
from shared.uow import UnitOfWork

log = logging.getLogger(__name__)
S = TaskState
POLICY = DEFAULT_POLICY


def crowdsourcing_jobs(app: FastAPI) -> list[Job]:
    def bound(run: Callable[[flows.Context], Awaitable[int]]) -> Callable[[], Awaitable[int]]:
        return lambda: run(flows.Context.of(app))

    return [
        Job("deadlines", bound(deadlines), every_seconds=60),
        Job("auto-accept", bound(auto_accept), every_seconds=60),
        Job("ratings", bound(rating_defaults), every_seconds=300),
        Job("abandonment", bound(abandonment), every_seconds=300),
        Job("payouts", bound(retry_payouts), every_seconds=30),
        Job("notices", bound(notices), every_seconds=60),
    ]


async def _each(ctx: flows.Context, ids: list[str], act: Callable[[UnitOfWork, str, datetime], Awaitable[int]],
                name: str) -> int:
    """Act on each task in its own transaction; a refusal (the state moved meanwhile) skips it, and any other
    failure is logged and skipped too, so one broken task never stops the job for the tasks after it."""
    acted = 0
    for task_id in ids:
        try:
            async with ctx.uow() as uow:
                acted += await act(uow, task_id, ctx.clock.now())
        except DomainError as exc:
            log.info("job skipped a task", extra={"job": name, "task": task_id, "why": exc.detail})
            continue
        except Exception:
            log.exception("job failed on a task; carrying on with the others", extra={"job": name, "task": task_id})
            continue
        await _settle(ctx, task_id, name)
    return acted


async def _settle(ctx: flows.Context, task_id: str, name: str) -> None:
    try:
        await flows.settle_task(ctx, task_id)
    except Exception:
        log.exception("settling a task's payouts failed; the payouts job retries them",
                      extra={"job": name, "task": task_id})


async def _task_ids(ctx: flows.Context, *states: TaskState, modes: frozenset[TaskMode] | None = None) -> list[str]:
    query = select(Task.id).where(col(Task.state).in_([s.value for s in states]))
    if modes is not None:
        query = query.where(col(Task.mode).in_([m.value for m in modes]))
    async with ctx.db.reading() as session:
        return list((await session.execute(query.order_by(col(Task.created_at)))).scalars())


# ---------------------------------------------------------------- deadlines


async def deadlines(ctx: flows.Context) -> int:
    """Rounds and bidding that close, offers that go unanswered, tasks that get no submissions, general
    contracts whose deadline passed."""
    ids = await _task_ids(ctx, S.OPEN, S.IN_PROGRESS, S.SUBMITTED,
                          modes=frozenset({*COMPETITIVE_MODES, TaskMode.PIECE_RATE, TaskMode.BID,
                                           TaskMode.DIRECT_HIRE}))
    return await _each(ctx, ids, _deadline_of, "deadlines") + await contract_deadlines(ctx)


async def contract_deadlines(ctx: flows.Context) -> int:
    """General contracts (总包) past their deadline: drafts dropped, and ended unless a sub-task is under way."""
    async with ctx.db.reading() as session:
        ids = list((await session.execute(select(Task.id).where(
            Task.mode == TaskMode.GENERAL_CONTRACT.value, col(Task.state).in_([S.OPEN.value, S.IN_PROGRESS.value]),
            col(Task.deadline) < ctx.clock.now()).order_by(col(Task.deadline), col(Task.id)))).scalars())
    acted = 0
    for contract_id in ids:
        try:
            acted += await flows.end_contract_at_deadline(ctx, contract_id)
        except DomainError as exc:  # e.g. a draft sub-task's charge still unanswered: the next run retries
            log.info("job skipped a contract", extra={"job": "deadlines", "task": contract_id, "why": exc.detail})
        except Exception:
            log.exception("job failed on a contract; carrying on", extra={"job": "deadlines", "task": contract_id})
    return acted


async def _deadline_of(uow: UnitOfWork, task_id: str, now: datetime) -> int:
    task = await handlers.task_for_update(uow, task_id)
    mode = TaskMode(task.mode)
    milestones = await handlers.milestones_of(uow, task.id)
    current = next(m for m in milestones if m.seq == task.current_seq)
    if mode is TaskMode.DIRECT_HIRE:
        if task.state == S.OPEN and now > task.state_since + POLICY.selection_window:
            await _expire(uow, task, milestones, TerminalReason.WINNER_UNRESPONSIVE, now)
            return 1
        return 0
    if mode is TaskMode.BID:
        if task.state == S.OPEN and task.chosen_bid_id is None and now > task.deadline:
            bids = (await uow.session.execute(select(Bid.id).where(Bid.task_id == task.id))).first()
            if bids is None:
                await _expire(uow, task, milestones, TerminalReason.ZERO_SUBMISSIONS, now)
                return 1
            if now > task.deadline + POLICY.selection_window:
                await _expire(uow, task, milestones, TerminalReason.WINNER_UNRESPONSIVE, now)
                return 1
        return 0
    closes = task.deadline if mode is TaskMode.PIECE_RATE else current.due_at
    if now <= closes:
        return 0
    if task.state == S.OPEN:
        if mode is TaskMode.PIECE_RATE or current.seq == 1:
            await _expire(uow, task, milestones, TerminalReason.ZERO_SUBMISSIONS, now)
        else:  # a later round that got nothing: the rest is refunded and the task completes
            await handlers.move(uow, task, S.IN_PROGRESS, handlers.SYSTEM, now, assignee_id=None)
            await handlers.move(uow, task, S.SUBMITTED, handlers.SYSTEM, now)
            await handlers.select_winners(uow, None, task.id, [], "refund", now)
            return 1
        await uow.commit()
        return 1
    if mode is TaskMode.PIECE_RATE:
        if task.state == S.IN_PROGRESS:
            await handlers.move(uow, task, S.SUBMITTED, handlers.SYSTEM, now)
        if await handlers.pieces_done(uow, task, current):
            await handlers._finish_pieces(uow, task, current, handlers.SYSTEM, now)
        await uow.commit()
        return 1
    # bounty / contest: the round closes, then the selection window runs; past it, the earliest distinct
    # original submissions win (the solvers are protected from a poster who never decides)
    if task.state == S.IN_PROGRESS:
        await handlers.move(uow, task, S.SUBMITTED, handlers.SYSTEM, now)
        await uow.commit()
        return 1
    if await handlers.published_notice(uow, current.id) is not None:
        return 0  # the winners are in public notice; the `notices` job makes the award final
    reopened = await handlers.withdrawn_at(uow, current.id)
    window_from = max(closes, reopened) if reopened is not None else closes
    if task.state == S.SUBMITTED and now > window_from + POLICY.selection_window:
        candidates = (await uow.session.execute(select(Submission).where(
            Submission.milestone_id == current.id, Submission.state == "submitted",
            col(Submission.duplicate_of).is_(None)).order_by(col(Submission.submitted_at), col(Submission.id))
        )).scalars().all()
        winners: list[str] = []
        solvers: set[str] = set()
        prizes_left = len(await handlers.round_prizes(uow, task, current))  # a settled dispute took a rank
        for submission in candidates:
            if submission.solver_id not in solvers and len(winners) < prizes_left:
                winners.append(submission.id)
                solvers.add(submission.solver_id)
        await handlers.select_winners(uow, None, task.id, winners, "refund", now)
        return 1
    return 0


async def _expire(uow: UnitOfWork, task: Task, milestones: list[Milestone], reason: TerminalReason,
                  now: datetime) -> None:
    await handlers._refund_all(uow, task, milestones, reason.value, handlers.SYSTEM, now)
    await handlers._close_bids(uow, task)
    await handlers.move(uow, task, S.EXPIRED, handlers.SYSTEM, now, reason)
    await uow.commit()


# ---------------------------------------------------------------- acceptance window


async def auto_accept(ctx: flows.Context) -> int:
    """Delivered work the poster has neither accepted nor answered within the acceptance window is accepted
    (the escrow is released), unless a dispute holds it."""
    cutoff = ctx.clock.now() - POLICY.acceptance_window
    async with ctx.db.reading() as session:
        rows = (await session.execute(
            select(Submission.id, Submission.task_id).join(Task, col(Task.id) == col(Submission.task_id))
            .where(Submission.state == "submitted", col(Submission.submitted_at) <= cutoff,
                   col(Submission.duplicate_of).is_(None),
                   col(Task.mode).in_([m.value for m in (*ASSIGNED_MODES, TaskMode.PIECE_RATE)]),
                   col(Task.state).in_([S.SUBMITTED.value, S.IN_PROGRESS.value]))
            .order_by(col(Submission.submitted_at)))).all()
    acted = 0
    for submission_id, task_id in rows:
        try:
            async with ctx.uow() as uow:
                await handlers.accept_submission(uow, None, submission_id, ctx.clock.now(), automatically=True)
            acted += 1
        except DomainError as exc:
            log.info("auto-accept skipped", extra={"submission": submission_id, "why": exc.detail})
        except Exception:
            log.exception("auto-accept failed on a submission; carrying on", extra={"submission": submission_id})
            continue
        await _settle(ctx, task_id, "auto-accept")
    return acted


# ---------------------------------------------------------------- ratings, abandonment, payouts


async def rating_defaults(ctx: flows.Context) -> int:
    return await _each(ctx, await _task_ids(ctx, S.COMPLETED), handlers.default_ratings, "ratings")


async def abandonment(ctx: flows.Context) -> int:
    """An assigned solver holding a milestone past its due date without delivering is warned; still nothing
    after the escalation period, and it is escalated (credit scores it as delivery missed): the assignment is
    cancelled and the escrow refunded (handlers/abandonment.py)."""
    ids = await _task_ids(ctx, S.IN_PROGRESS, S.REVISION_REQUESTED, modes=ASSIGNED_MODES)
    return await _each(ctx, ids, handlers.check_abandonment, "abandonment")


async def notices(ctx: flows.Context) -> int:
    """Public notices (任务公示) whose period has passed with no objection pending: the award becomes final and
    is paid."""
    async with ctx.db.reading() as session:
        rows = (await session.execute(select(AwardNotice.id, AwardNotice.task_id).where(
            AwardNotice.state == "published", col(AwardNotice.ends_at) < ctx.clock.now())
            .order_by(col(AwardNotice.ends_at)))).all()
    acted = 0
    for notice_id, task_id in rows:
        try:
            async with ctx.uow() as uow:
                acted += await handlers.finalise_notice(uow, notice_id, ctx.clock.now())
        except DomainError as exc:
            log.info("notice skipped", extra={"notice": notice_id, "why": exc.detail})
            continue
        except Exception:
            log.exception("finalising a notice failed; carrying on", extra={"notice": notice_id})
            continue
        await _settle(ctx, task_id, "notices")
    return acted


async def retry_payouts(ctx: flows.Context) -> int:
    async with ctx.db.reading() as session:
        ids = list((await session.execute(select(Payout.id).where(Payout.status == "pending")
                                          .order_by(col(Payout.created_at)).limit(500))).scalars())
    settled = 0
    for payout_id in ids:
        try:
            settled += await flows.settle_payout(ctx, payout_id)
        except Exception:
            log.exception("a payout failed to settle; carrying on with the others", extra={"payout": payout_id})
    return settled
