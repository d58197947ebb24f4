"""Disputes (维权) about one submission of a bounty, contest or piece-rate task. The poster or the submission's
solver opens one, with evidence, while the submission is undecided and within the dispute window after its
delivery. It holds a stake of the round's escrow: one prize (the lowest one not yet held) of a bounty's or
contest's round, whose selection waits for the outcome; one unit price of a piece-rate task. The outcome splits
the stake in the stated shares (commission on the solver's part only); the stake's prize rank is then gone
from the round. Negotiation, escalation and mediation are those of every dispute (disputes.py)."""

from __future__ import annotations

from datetime import datetime

from sqlmodel import select

from crowdsourcing import contracts as ev
from crowdsourcing import escrow
from crowdsourcing.domain import dispute as dispute_rules
from crowdsourcing.domain.settlement import dispute_split
from crowdsourcing.domain.task import COMPETITIVE_MODES, TaskMode
from crowdsourcing.handlers.acceptance import _finish_pieces, pieces_done, round_prizes
from crowdsourcing.handlers.common import (
    POLICY,
    _current,
    disputes_on,
    milestones_of,
    open_disputes_on,
    published_notice,
)
from crowdsourcing.models import Dispute, Milestone, Submission, Task
from shared.auth import Principal
from shared.ids import new_id
from shared.money import Money
from shared.problems import DomainError
from shared.uow import UnitOfWork


async def open_on_submission(uow: UnitOfWork, principal: Principal, task: Task, submission_id: str | None,
                             reason: str, now: datetime) -> Dispute:
    """Open the dispute (the caller adds the evidence and commits)."""
    if submission_id is None:
        raise DomainError(422, f"a dispute on a {task.mode} task names the submission it is about",
                          field="submission_id")
    submission = (await uow.session.execute(select(Submission).where(Submission.id == submission_id)
                                            .with_for_update())).scalars().first()
    if submission is None or submission.task_id != task.id:
        raise DomainError(422, "the submission is not one of this task's", field="submission_id")
    if principal.subject not in (task.poster_id, submission.solver_id):
        raise DomainError(403, "only the poster or the submission's solver may open a dispute about it",
                          field="submission_id")
    milestone = _current(await milestones_of(uow, task.id), task)
    if submission.state != "submitted" or submission.milestone_id != milestone.id or milestone.state != "funded":
        raise DomainError(409, f"the submission is {submission.state!r}; a dispute is about an undecided one",
                          field="submission_id", current_state=submission.state, rule="illegal_transition")
    if now > submission.submitted_at + POLICY.dispute_window:
        raise DomainError(409, f"the dispute window ({POLICY.dispute_window.days} days after delivery) has closed",
                          field="submission_id", current_state=submission.state)
    if await published_notice(uow, milestone.id) is not None:
        raise DomainError(409, "the round's winners are in public notice: object to the notice instead",
                          field="submission_id", current_state=task.state, rule="in_public_notice")
    stake = await _stake(uow, task, milestone)
    submission.state, submission.decided_at = "disputed", now
    dispute = Dispute(id=new_id(), task_id=task.id, milestone_id=milestone.id, submission_id=submission.id,
                      stake_fen=stake.minor, poster_id=task.poster_id, solver_id=submission.solver_id,
                      opened_by=principal.subject, reason=reason, stage=dispute_rules.DisputeStage.NEGOTIATION.value,
                      opened_at=now, updated_at=now)
    uow.session.add(dispute)
    await uow.session.flush()
    uow.publish(ev.DisputeOpened(dispute_id=dispute.id, task_id=task.id, milestone_id=milestone.id,
                                 poster_id=dispute.poster_id, solver_id=dispute.solver_id, opened_by=principal.subject,
                                 reason=reason, escrow_fen=stake.minor, submission_id=submission.id, mode=task.mode),
                subject=dispute.id, actor=principal.subject, partition_key=task.id)
    return dispute


async def _stake(uow: UnitOfWork, task: Task, milestone: Milestone) -> Money:
    if TaskMode(task.mode) in COMPETITIVE_MODES:
        slots = await round_prizes(uow, task, milestone)
        held = len(await open_disputes_on(uow, milestone.id))
        if held >= len(slots):
            raise DomainError(409, "every prize of this round is already held by a dispute", field="submission_id",
                              current_state=task.state, rule="prizes_held")
        return slots[len(slots) - 1 - held]
    held = len(await disputes_on(uow, milestone.id))
    if task.pieces_accepted + held >= (task.piece_quantity or 0):
        raise DomainError(409, "every piece of this task is paid or held by a dispute", field="submission_id",
                          current_state=task.state, rule="pieces_held")
    return Money(task.currency, task.piece_price_fen or 0)


async def resolve_on_submission(uow: UnitOfWork, dispute: Dispute, percent: int, basis: str, actor: str,
                                now: datetime) -> None:
    """Split the stake; a piece-rate task whose pieces are now all settled finishes."""
    dispute_rules.step(dispute.stage, dispute_rules.DisputeStage.RESOLVED)
    task = (await uow.session.execute(select(Task).where(Task.id == dispute.task_id).with_for_update())
            ).scalars().one()
    milestone = next(m for m in await milestones_of(uow, task.id) if m.id == dispute.milestone_id)
    solver_gross, poster_part = dispute_split(Money(task.currency, dispute.stake_fen or 0), percent)
    await settle_split(uow, task, milestone, dispute, solver_gross, poster_part, percent, basis, actor, now)
    await uow.session.flush()
    if task.mode == TaskMode.PIECE_RATE and await pieces_done(uow, task, milestone):
        await _finish_pieces(uow, task, milestone, actor, now)


async def settle_split(uow: UnitOfWork, task: Task, milestone: Milestone, dispute: Dispute, solver_gross: Money,
                       poster_part: Money, percent: int, basis: str, actor: str, now: datetime) -> None:
    """What every dispute's resolution shares (about a submission or about assigned work): the split paid out of
    escrow, the outcome kept on the dispute and `dispute.resolved` published with the solver's terms."""
    stage = dispute.stage
    paid = await escrow.split_for_dispute(uow, task, milestone, dispute.id, dispute.solver_id, solver_gross,
                                          poster_part, now)
    dispute.stage = dispute_rules.DisputeStage.RESOLVED.value
    dispute.solver_share_percent, dispute.basis = percent, basis
    dispute.resolved_at = dispute.updated_at = now
    uow.publish(ev.DisputeResolved(dispute_id=dispute.id, task_id=task.id, milestone_id=milestone.id,
                                   poster_id=dispute.poster_id, solver_id=dispute.solver_id, stage=stage,
                                   resolved_by=actor, solver_share_percent=percent,
                                   solver_gross_fen=paid.gross.minor, solver_net_fen=paid.net.minor,
                                   commission_fen=paid.commission.minor, poster_fen=poster_part.minor,
                                   lost_by=dispute_rules.lost_by(percent), policy_version=task.policy_version,
                                   commission_relief_percent=paid.relief_percent,
                                   submission_id=dispute.submission_id),
                subject=dispute.id, actor=actor, partition_key=task.id)
