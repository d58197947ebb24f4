"""Shared by every command: loading and locking a task, ownership and visibility, and the task state
machine applied (`move`, with its event, rolling a sub-task's step up into its general contract)."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import func
from sqlmodel import col, select

from crowdsourcing import contracts as ev
from crowdsourcing.domain.notice import NoticeState
from crowdsourcing.domain.policy import DEFAULT_POLICY
from crowdsourcing.domain.settlement import prizes, ranked_prizes
from crowdsourcing.domain.task import (
    DONE_STATES,
    TaskState,
    TerminalReason,
    contract_end_reason,
    contract_on_time,
    contract_steps,
    step,
)
from crowdsourcing.models import AwardNotice, Dispute, Milestone, Submission, Task
from shared.auth import SERVICE_ROLE, Principal
from shared.money import Money
from shared.problems import DomainError
from shared.uow import UnitOfWork

S = TaskState
POLICY = DEFAULT_POLICY
SYSTEM = "system:crowdsourcing"
MANAGER_OVERRIDE = ("admin",)


def sha256(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


# ---------------------------------------------------------------- loading and ownership


async def task_for_update(uow: UnitOfWork, task_id: str, field: str = "task_id") -> Task:
    task = (await uow.session.execute(select(Task).where(Task.id == task_id).with_for_update())).scalars().first()
    if task is None:
        raise DomainError(404, f"task {task_id} not found", field=field)
    return task


async def milestones_of(uow: UnitOfWork, task_id: str) -> list[Milestone]:
    return list((await uow.session.execute(
        select(Milestone).where(Milestone.task_id == task_id).order_by(col(Milestone.seq)))).scalars().all())


def _current(milestones: Sequence[Milestone], task: Task) -> Milestone:
    return next(m for m in milestones if m.seq == task.current_seq)


def _next(milestones: Sequence[Milestone], milestone: Milestone) -> Milestone | None:
    return next((m for m in milestones if m.seq == milestone.seq + 1), None)


def authorise_poster(principal: Principal | None, task: Task) -> None:
    if principal is None:
        return  # the service itself (a scheduled job)
    if principal.subject != task.poster_id and not principal.has_any(*MANAGER_OVERRIDE):
        raise DomainError(403, "only the poster of this task may do this", field="task_id")


def may_take_part(subject: str, task: Task) -> bool:
    """A solver may bid on or submit to public tasks, and to non-public ones it is invited to or hired for."""
    return (task.visibility == "public" or subject in task.invited_ids or subject == task.direct_solver_id
            or subject == task.assignee_id)


def may_view(principal: Principal, task: Task) -> bool:
    """Supervisors, reviewers and the service see every task; the poster its own; anyone else a task once it is
    open (not a draft or one in review), if public, or invited to it, hired for it or assigned to it."""
    if principal.has_any("admin", "regulator", "reviewer", SERVICE_ROLE) or principal.subject == task.poster_id:
        return True
    if task.state in (S.DRAFT, S.ESCROW_FUNDED, S.UNDER_REVIEW):
        return False
    return may_take_part(principal.subject, task)


def _actor(principal: Principal | None) -> str:
    return principal.subject if principal is not None else SYSTEM


def _key(task: Task) -> str:
    return task.organisation_id or task.poster_id


# ---------------------------------------------------------------- the state machine, applied

TRANSITION_EVENTS: dict[TaskState, type[Any]] = {
    S.ESCROW_FUNDED: ev.TaskEscrowFunded, S.UNDER_REVIEW: ev.TaskSentToReview, S.OPEN: ev.TaskOpened,
    S.IN_PROGRESS: ev.TaskStarted, S.SUBMITTED: ev.TaskSubmitted, S.REVISION_REQUESTED: ev.TaskRevisionRequested,
    S.ACCEPTED: ev.TaskAccepted, S.DISPUTED: ev.TaskDisputed, S.COMPLETED: ev.TaskCompleted,
    S.RATED: ev.TaskRated, S.CANCELLED: ev.TaskCancelled, S.EXPIRED: ev.TaskExpired,
}


async def move(uow: UnitOfWork, task: Task, target: TaskState, actor: str, now: datetime,
               reason: TerminalReason | None = None, **facts: Any) -> None:
    """One step of the task state machine, with its event; a sub-task's step may move its general contract."""
    before = task.state
    step(task.mode, before, target, reason)
    task.state, task.state_since, task.updated_at = target.value, now, now
    if reason is not None:
        task.reason = reason.value
        facts["reason"] = reason.value
    if target is S.COMPLETED:
        task.completed_at = now
    uow.publish(TRANSITION_EVENTS[target](task_id=task.id, mode=task.mode, poster_id=task.poster_id,
                                          from_state=before, to_state=target.value,
                                          policy_version=task.policy_version, **facts),
                subject=task.id, actor=actor, partition_key=_key(task))
    if task.parent_id is not None:
        await _roll_up(uow, task, actor, now)


async def _roll_up(uow: UnitOfWork, task: Task, actor: str, now: datetime) -> None:
    """A sub-task's step may move its general contract (总包)."""
    parent = await task_for_update(uow, task.parent_id or "", field="parent_id")
    await roll_up_contract(uow, parent, actor, now)


async def roll_up_contract(uow: UnitOfWork, contract: Task, actor: str, now: datetime) -> None:
    """Move a general contract as its sub-tasks' states say (`contract_steps`): started once one started,
    completed once all are finished and one completed, expired once all ended and none completed (or, past its
    deadline, once none is left under way)."""
    await uow.session.flush()
    states = (await uow.session.execute(select(Task.state).where(Task.parent_id == contract.id))).scalars().all()
    for target in contract_steps(contract.state, states, deadline_passed=now > contract.deadline):
        if target is S.IN_PROGRESS:
            await move(uow, contract, target, actor, now, assignee_id=None)
        elif target is S.EXPIRED:  # it holds no money: nothing to refund
            await move(uow, contract, target, actor, now, contract_end_reason(target))
        else:
            await move(uow, contract, target, actor, now, **await _contract_completion(uow, contract))


async def _contract_completion(uow: UnitOfWork, contract: Task) -> dict[str, Any]:
    """What a general contract's `task.completed` says, from its sub-tasks: the solvers paid for them, on time
    if every completed sub-task completed by the contract's deadline, the work accepted, and whether a dispute's
    resolution settled one of them (assigned work: the resolution completes the sub-task)."""
    subs = (await uow.session.execute(select(Task.id, Task.state, Task.completed_at)
                                      .where(Task.parent_id == contract.id))).all()
    ids = [sub.id for sub in subs]
    accepted = (await uow.session.execute(select(func.count()).select_from(Submission).where(
        col(Submission.task_id).in_(ids), Submission.state == "accepted"))).scalar_one()
    settled = (await uow.session.execute(select(Dispute.id).where(
        col(Dispute.task_id).in_(ids), col(Dispute.submission_id).is_(None), Dispute.stage == "resolved"))).first()
    return {"solver_ids": await solvers_paid(uow, ids),
            "on_time": contract_on_time(contract.deadline, [s.completed_at for s in subs if s.state in DONE_STATES]),
            "accepted_submissions": int(accepted), "settled_by_dispute": settled is not None}


async def solvers_paid(uow: UnitOfWork, task_ids: Sequence[str]) -> list[str]:
    """The solvers who were paid for these tasks (accepted work, or a dispute share)."""
    solvers = set((await uow.session.execute(select(Submission.solver_id).where(
        col(Submission.task_id).in_(task_ids), Submission.state == "accepted"))).scalars())
    solvers |= set((await uow.session.execute(select(Dispute.solver_id).where(
        col(Dispute.task_id).in_(task_ids), col(Dispute.solver_share_percent) > 0))).scalars())
    return sorted(solvers)


def _allowed(task: Task) -> frozenset[TaskState]:
    from crowdsourcing.domain.task import allowed

    return allowed(task.mode, task.state)


# ---------------------------------------------------------------- a round's prizes, notice and disputes


def prize_table(task: Task, pot: Money) -> list[Money]:
    """The round's prizes by rank: equal, or in the stated ranked shares or amounts."""
    if task.prize_basis == "equal" or not task.prize_ranks:
        return prizes(pot, task.winners)
    return ranked_prizes(pot, [int(w) for w in task.prize_ranks.split(",")])


async def published_notice(uow: UnitOfWork, milestone_id: str) -> AwardNotice | None:
    """The round's winners in public notice, if any (the award is not final while it is published)."""
    return (await uow.session.execute(select(AwardNotice).where(
        AwardNotice.milestone_id == milestone_id, AwardNotice.state == NoticeState.PUBLISHED.value)
        .with_for_update())).scalars().first()


async def disputes_on(uow: UnitOfWork, milestone_id: str) -> list[Dispute]:
    """Disputes about single submissions of a round (bounty, contest, piece-rate), in the order opened."""
    return list((await uow.session.execute(select(Dispute).where(
        Dispute.milestone_id == milestone_id, col(Dispute.submission_id).is_not(None))
        .order_by(col(Dispute.opened_at), col(Dispute.id)))).scalars().all())


async def open_disputes_on(uow: UnitOfWork, milestone_id: str) -> list[Dispute]:
    return [d for d in await disputes_on(uow, milestone_id) if d.stage != "resolved"]
