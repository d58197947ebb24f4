"""Acceptance: delivered work accepted and paid (bid, direct hire, piece-rate), winners chosen (bounty, contest),
and a task completed once its money is settled."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlmodel import select

from crowdsourcing import contracts as ev
from crowdsourcing import escrow
from crowdsourcing.domain.task import COMPETITIVE_MODES, TaskMode, step
from crowdsourcing.handlers.common import (
    POLICY,
    S,
    _actor,
    _current,
    _next,
    authorise_poster,
    disputes_on,
    milestones_of,
    move,
    open_disputes_on,
    prize_table,
    published_notice,
    solvers_paid,
    task_for_update,
)
from crowdsourcing.handlers.work import _pending, _submission_for_update
from crowdsourcing.models import AwardNotice, Milestone, Submission, Task
from shared.auth import Principal
from shared.ids import new_id
from shared.money import Money
from shared.problems import DomainError
from shared.uow import UnitOfWork


def _accepted_event(uow: UnitOfWork, task: Task, submission: Submission, actor: str, automatically: bool) -> None:
    uow.publish(ev.SubmissionAccepted(submission_id=submission.id, task_id=task.id,
                                      milestone_id=submission.milestone_id, solver_id=submission.solver_id,
                                      poster_id=task.poster_id, on_time=submission.on_time,
                                      automatically=automatically, policy_version=task.policy_version),
                subject=task.id, actor=actor, partition_key=submission.solver_id)


async def accept_submission(uow: UnitOfWork, principal: Principal | None, submission_id: str, now: datetime,
                            automatically: bool = False) -> Task:
    """Accept delivered work (bid, direct hire, piece-rate): the escrow is released to the solver, minus the
    commission. Bounties and contests choose winners instead. Accepting twice pays once: the second finds
    the submission decided (409)."""
    task, submission = await _submission_for_update(uow, submission_id)
    authorise_poster(principal, task)
    actor = _actor(principal)
    mode = TaskMode(task.mode)
    if mode in COMPETITIVE_MODES:
        raise DomainError(409, "bounties and contests choose their winners: POST /tasks/{id}/winners",
                          field="submission_id", current_state=task.state)
    _pending(submission)
    if submission.duplicate_of is not None:
        raise DomainError(409, "a duplicate of earlier work cannot be accepted", field="submission_id",
                          duplicate_of=submission.duplicate_of)
    milestones = await milestones_of(uow, task.id)
    milestone = next(m for m in milestones if m.id == submission.milestone_id)
    submission.state, submission.decided_at, submission.auto_accepted = "accepted", now, automatically
    if mode is TaskMode.PIECE_RATE:
        if task.state not in (S.IN_PROGRESS, S.SUBMITTED):
            step(mode, task.state, S.COMPLETED)
        if task.pieces_accepted + len(await disputes_on(uow, milestone.id)) >= (task.piece_quantity or 0):
            raise DomainError(409, "every piece of this task is paid or held by a dispute", field="submission_id",
                              current_state=task.state, rule="pieces_held")
        unit = Money(task.currency, task.piece_price_fen or 0)
        await escrow.release_to_solver(uow, task, milestone, submission.solver_id, unit, submission.id, actor, now,
                                       submission.id)
        task.pieces_accepted += 1
        _accepted_event(uow, task, submission, actor, automatically)
        await uow.session.flush()
        if await pieces_done(uow, task, milestone):
            await _finish_pieces(uow, task, milestone, actor, now)
    else:
        step(mode, task.state, S.ACCEPTED)
        gross = await escrow.escrow_of(uow, task, milestone)
        await escrow.release_to_solver(uow, task, milestone, submission.solver_id, gross, submission.id, actor, now,
                                       submission.id)
        milestone.state, milestone.settled_at = "settled", now
        _accepted_event(uow, task, submission, actor, automatically)
        await move(uow, task, S.ACCEPTED, actor, now, milestone_seq=milestone.seq)
        following = _next(milestones, milestone)
        if following is not None:
            task.current_seq = following.seq
            await move(uow, task, S.IN_PROGRESS, actor, now, assignee_id=task.assignee_id)
        else:
            await _complete(uow, task, actor, now)
    await uow.commit()
    return task


async def _has_pending(uow: UnitOfWork, task: Task) -> bool:
    return (await uow.session.execute(select(Submission.id).where(
        Submission.task_id == task.id, Submission.state == "submitted"))).first() is not None


async def pieces_done(uow: UnitOfWork, task: Task, milestone: Milestone) -> bool:
    """A piece-rate task is done when every piece is paid or settled by a dispute, or when its deadline has
    passed (submitted) and nothing waits: no undecided piece, no open dispute."""
    disputes = await disputes_on(uow, milestone.id)
    if any(d.stage != "resolved" for d in disputes):
        return False
    if task.pieces_accepted + len(disputes) >= (task.piece_quantity or 0):
        return True
    return task.state == S.SUBMITTED and not await _has_pending(uow, task)


async def _finish_pieces(uow: UnitOfWork, task: Task, milestone: Milestone, actor: str, now: datetime) -> None:
    """A piece-rate task ends: undecided pieces are not selected, what the escrow has left is refunded."""
    for other in (await uow.session.execute(select(Submission).where(
            Submission.task_id == task.id, Submission.state == "submitted"))).scalars():
        other.state, other.decided_at = "not_selected", now
        uow.publish(ev.SubmissionNotSelected(submission_id=other.id, task_id=task.id, solver_id=other.solver_id),
                    subject=task.id, actor=actor, partition_key=other.solver_id)
    await uow.session.flush()
    await escrow.refund_to_poster(uow, task, milestone, None, "leftover", actor, now)
    milestone.state, milestone.settled_at = "settled", now
    await _complete(uow, task, actor, now)


async def _complete(uow: UnitOfWork, task: Task, actor: str, now: datetime, settled_by_dispute: bool = False) -> None:
    await uow.session.flush()
    accepted = (await uow.session.execute(select(Submission).where(
        Submission.task_id == task.id, Submission.state == "accepted"))).scalars().all()
    solvers = await participants(uow, task)
    await move(uow, task, S.COMPLETED, actor, now, solver_ids=solvers, on_time=all(s.on_time for s in accepted),
               accepted_submissions=len(accepted), settled_by_dispute=settled_by_dispute)


async def participants(uow: UnitOfWork, task: Task) -> list[str]:
    """The solvers who were paid for this task (accepted work, or a dispute share)."""
    return await solvers_paid(uow, [task.id])


async def select_winners(uow: UnitOfWork, principal: Principal | None, task_id: str, submission_ids: Sequence[str],
                         leftover: str, now: datetime) -> Task:
    """A bounty's or contest's round: the escrow is divided into prizes (equal, or ranked: the first chosen takes
    the first prize); each chosen submission gets one (minus commission); unclaimed prizes are refunded, or roll
    forward into the next milestone. With a public notice (任务公示) the chosen winners are published first and
    the award is made when the notice period passes (`finalise_notice`)."""
    task = await task_for_update(uow, task_id)
    authorise_poster(principal, task)
    actor = _actor(principal)
    mode = TaskMode(task.mode)
    if mode not in COMPETITIVE_MODES:
        raise DomainError(409, f"a {mode.value} task accepts submissions one by one: POST /submissions/{{id}}/accept",
                          field="task_id", current_state=task.state)
    step(mode, task.state, S.ACCEPTED)
    milestones = await milestones_of(uow, task.id)
    milestone = _current(milestones, task)
    notice = await published_notice(uow, milestone.id)
    if notice is not None:
        raise DomainError(409, f"the winners of this round are in public notice until {notice.ends_at.isoformat()}",
                          field="task_id", current_state=task.state, rule="in_public_notice", notice_id=notice.id)
    if await open_disputes_on(uow, milestone.id):
        raise DomainError(409, "a dispute about a submission of this round holds it until it is resolved",
                          field="task_id", current_state=task.state, rule="round_disputed")
    slots = await round_prizes(uow, task, milestone)
    if len(set(submission_ids)) != len(submission_ids):
        raise DomainError(422, "a submission wins once", field="submission_ids")
    if len(submission_ids) > len(slots):
        raise DomainError(422, f"this round has {len(slots)} prize(s) left", field="submission_ids")
    if principal is not None and not submission_ids:
        raise DomainError(422, "choose at least one winner", field="submission_ids")
    chosen: list[Submission] = []
    for submission_id in submission_ids:
        submission = (await uow.session.execute(select(Submission).where(
            Submission.id == submission_id).with_for_update())).scalars().first()
        if submission is None or submission.task_id != task.id or submission.milestone_id != milestone.id:
            raise DomainError(422, f"submission {submission_id} is not in this task's current round",
                              field="submission_ids")
        if submission.state != "submitted":
            raise DomainError(409, f"submission {submission_id} is {submission.state!r}", field="submission_ids",
                              current_state=submission.state)
        if submission.duplicate_of is not None:
            raise DomainError(409, f"submission {submission_id} duplicates earlier work", field="submission_ids",
                              duplicate_of=submission.duplicate_of)
        if any(c.solver_id == submission.solver_id for c in chosen):
            raise DomainError(422, "one solver wins at most one prize per round", field="submission_ids")
        chosen.append(submission)
    if task.public_notice and chosen:
        _publish_notice(uow, task, milestone, chosen, slots, leftover, actor, now)
    else:
        await award(uow, task, milestones, milestone, chosen, slots, leftover, actor, now, principal is None)
    await uow.commit()
    return task


async def round_prizes(uow: UnitOfWork, task: Task, milestone: Milestone) -> list[Money]:
    """The prizes the round still offers, by rank. A dispute about one of its submissions took the lowest prize
    left as its stake (split by its outcome), so those ranks are gone; the escrow holds exactly the rest."""
    pot = await escrow.escrow_of(uow, task, milestone)
    settled = [d.stake_fen or 0 for d in await disputes_on(uow, milestone.id) if d.stage == "resolved"]
    table = prize_table(task, pot + Money(task.currency, sum(settled)))
    return table[:len(table) - len(settled)]


def _publish_notice(uow: UnitOfWork, task: Task, milestone: Milestone, chosen: list[Submission], slots: list[Money],
                    leftover: str, actor: str, now: datetime) -> None:
    notice = AwardNotice(id=new_id(), task_id=task.id, milestone_id=milestone.id,
                         submission_ids=",".join(s.id for s in chosen), leftover=leftover, published_by=actor,
                         published_at=now, ends_at=now + POLICY.public_notice_period)
    uow.session.add(notice)
    uow.publish(ev.NoticePublished(notice_id=notice.id, task_id=task.id, milestone_id=milestone.id,
                                   poster_id=task.poster_id, submission_ids=[s.id for s in chosen],
                                   solver_ids=[s.solver_id for s in chosen],
                                   prizes_fen=[p.minor for p in slots[:len(chosen)]], ends_at=notice.ends_at,
                                   policy_version=task.policy_version),
                subject=task.id, actor=actor, partition_key=task.organisation_id or task.poster_id)


async def award(uow: UnitOfWork, task: Task, milestones: Sequence[Milestone], milestone: Milestone,
                chosen: Sequence[Submission], slots: Sequence[Money], leftover: str, actor: str, now: datetime,
                automatically: bool) -> None:
    """Pay the round: each chosen submission its prize by rank, the others not selected, the unclaimed prizes
    refunded or rolled forward; then the next round opens or the task completes."""
    for submission, amount in zip(chosen, slots, strict=False):
        submission.state, submission.decided_at = "accepted", now
        submission.auto_accepted = automatically
        await escrow.release_to_solver(uow, task, milestone, submission.solver_id, amount, submission.id, actor, now,
                                       submission.id)
        _accepted_event(uow, task, submission, actor, automatically)
    for other in (await uow.session.execute(select(Submission).where(
            Submission.milestone_id == milestone.id, Submission.state == "submitted"))).scalars():
        if other not in chosen:
            other.state, other.decided_at = "not_selected", now
            uow.publish(ev.SubmissionNotSelected(submission_id=other.id, task_id=task.id, solver_id=other.solver_id),
                        subject=task.id, actor=actor, partition_key=other.solver_id)
    unclaimed = Money(task.currency, sum(p.minor for p in slots[len(chosen):]))
    following = _next(milestones, milestone)
    if leftover == "roll_forward" and following is not None:
        await escrow.roll_forward(uow, task, milestone, following, unclaimed, actor)
    else:
        await escrow.refund_to_poster(uow, task, milestone, unclaimed, "leftover", actor, now)
    milestone.state, milestone.settled_at = "settled", now
    await move(uow, task, S.ACCEPTED, actor, now, milestone_seq=milestone.seq)
    if following is not None:
        task.current_seq = following.seq
        await move(uow, task, S.OPEN, actor, now, milestone_seq=following.seq)
    else:
        await _complete(uow, task, actor, now)
