"""Abandonment: an assigned solver (bid, direct hire) holding a milestone past its due date without delivering
is warned; still nothing after the escalation period, and it is escalated. Escalation (policy) cancels the
solver's assignment: the task expires (`winner_unresponsive`) and every funded milestone is refunded to the
poster. The escalation event names the solver as its partition key, so credit scores a missed delivery."""

from __future__ import annotations

from datetime import datetime

from crowdsourcing import contracts as ev
from crowdsourcing import escrow
from crowdsourcing.domain.task import TerminalReason
from crowdsourcing.handlers.common import POLICY, SYSTEM, S, milestones_of, move, task_for_update
from crowdsourcing.handlers.funding import _close_bids, _refund_all
from shared.uow import UnitOfWork


async def check_abandonment(uow: UnitOfWork, task_id: str, now: datetime) -> int:
    """One step for one task (1 if it warned or escalated, else 0); idempotent."""
    task = await task_for_update(uow, task_id)
    if task.state not in (S.IN_PROGRESS, S.REVISION_REQUESTED) or task.assignee_id is None:
        return 0
    milestones = await milestones_of(uow, task.id)
    milestone = next(m for m in milestones if m.seq == task.current_seq)
    if now <= milestone.due_at + POLICY.abandonment_warning_after:
        return 0
    solver = task.assignee_id
    if milestone.warned_at is None:
        milestone.warned_at = now
        uow.publish(ev.AbandonmentWarned(task_id=task.id, milestone_id=milestone.id, solver_id=solver,
                                         due_at=milestone.due_at),
                    subject=task.id, actor=SYSTEM, partition_key=solver)
    elif milestone.escalated_at is None and now > milestone.warned_at + POLICY.abandonment_escalation_after:
        milestone.escalated_at = now
        cancels = POLICY.abandonment_escalation_cancels
        refunded = 0
        if cancels:
            refunded = sum([(await escrow.escrow_of(uow, task, m)).minor for m in milestones if m.state == "funded"])
        uow.publish(ev.AbandonmentEscalated(task_id=task.id, milestone_id=milestone.id, solver_id=solver,
                                            due_at=milestone.due_at, warned_at=milestone.warned_at,
                                            assignment_cancelled=cancels, refunded_fen=refunded,
                                            policy_version=task.policy_version),
                    subject=task.id, actor=SYSTEM, partition_key=solver)
        if cancels:
            await _refund_all(uow, task, milestones, TerminalReason.WINNER_UNRESPONSIVE.value, SYSTEM, now)
            await _close_bids(uow, task)
            await move(uow, task, S.EXPIRED, SYSTEM, now, TerminalReason.WINNER_UNRESPONSIVE)
    else:
        return 0
    await uow.commit()
    return 1
