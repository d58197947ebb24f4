"""Taking part: bids and their choice, direct-hire answers, deliveries (with their hash evidence) and revision
requests."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import or_, update
from sqlalchemy.exc import IntegrityError
from sqlmodel import col, select

from crowdsourcing import contracts as ev
from crowdsourcing import escrow
from crowdsourcing.domain.task import ASSIGNED_MODES, COMPETITIVE_MODES, TaskMode, TerminalReason, step
from crowdsourcing.handlers.common import (
    POLICY,
    S,
    _current,
    authorise_poster,
    may_take_part,
    milestones_of,
    move,
    published_notice,
    sha256,
    task_for_update,
)
from crowdsourcing.handlers.funding import _refund_all, charge_attempts
from crowdsourcing.models import Bid, Milestone, Submission, Task
from crowdsourcing.supervision import task_may_take_part
from shared.auth import Principal
from shared.ids import new_id
from shared.listings import ensure_not_blacklisted
from shared.money import Money
from shared.problems import DomainError
from shared.uow import UnitOfWork


async def place_bid(uow: UnitOfWork, principal: Principal, task_id: str, price_fen: int, days: int, plan: str,
                    now: datetime) -> Bid:
    await ensure_not_blacklisted(uow.session, principal.subject, "bidding")
    task = await task_for_update(uow, task_id)
    await task_may_take_part(uow, task.id, principal.subject)
    if task.mode != TaskMode.BID:
        raise DomainError(409, f"a {task.mode} task takes no bids", field="task_id", current_state=task.state)
    if not may_take_part(principal.subject, task) or principal.subject == task.poster_id:
        raise DomainError(403, "this task is not open to you", field="task_id")
    if task.state != S.OPEN or task.chosen_bid_id is not None or now > task.deadline:
        raise DomainError(409, f"the task takes no bids now (state {task.state!r}, bidding closes "
                               f"{task.deadline.isoformat()})", current_state=task.state)
    taken = await uow.session.execute(
        update(Task).where(col(Task.id) == task.id, or_(col(Task.max_bids).is_(None),
                                                        col(Task.bids_placed) < col(Task.max_bids)))
        .values(bids_placed=col(Task.bids_placed) + 1).execution_options(synchronize_session=False))
    if taken.rowcount != 1:  # type: ignore[attr-defined]
        raise DomainError(409, f"the task takes at most {task.max_bids} bids and has them", field="task_id",
                          current_state=task.state, rule="bids_full")
    bid = Bid(id=new_id(), task_id=task.id, solver_id=principal.subject, price_fen=price_fen, days=days, plan=plan,
              placed_at=now)
    uow.session.add(bid)
    uow.publish(ev.BidPlaced(bid_id=bid.id, task_id=task.id, solver_id=bid.solver_id, price_fen=price_fen, days=days),
                subject=task.id, actor=principal.subject, partition_key=bid.solver_id)
    try:
        await uow.commit()
    except IntegrityError as exc:
        raise DomainError(409, "you have already bid on this task", field="task_id") from exc
    return bid


async def choose_bid(uow: UnitOfWork, principal: Principal, bid_id: str, now: datetime) -> Task:
    """The poster chooses a bid: its solver becomes the assignee and the milestones are scaled to its price
    (exactly, in fen); the escrow is charged next (flows.publish)."""
    bid = await uow.session.get(Bid, bid_id)
    if bid is None:
        raise DomainError(404, f"bid {bid_id} not found", field="bid_id")
    task = await task_for_update(uow, bid.task_id)
    authorise_poster(principal, task)
    if task.state != S.OPEN or task.chosen_bid_id is not None:
        raise DomainError(409, f"the task is in state {task.state!r}"
                               + (" and a bid has already been chosen" if task.chosen_bid_id else ""),
                          current_state=task.state, rule="illegal_transition")
    milestones = await milestones_of(uow, task.id)
    charged = {a.key for a in await charge_attempts(uow.session, task.id)}
    if any(m.state != "pending" or escrow.charge_key(m) in charged for m in milestones):
        # a milestone's amount is fixed once a charge was attempted for it (its key names that amount)
        raise DomainError(409, "a milestone of this task has already been charged; its amounts cannot be rescaled",
                          field="bid_id", current_state=task.state, rule="illegal_transition")
    from fractions import Fraction

    price = Money(task.currency, bid.price_fen)
    parts = price.split([Fraction(m.amount_fen, task.budget_fen) for m in milestones])
    for milestone, part in zip(milestones, parts, strict=True):
        if part.minor <= 0:
            raise DomainError(422, "the bid is too small to fund every milestone", field="bid_id")
        milestone.amount_fen = part.minor
    task.budget_fen, task.chosen_bid_id, task.assignee_id, task.updated_at = bid.price_fen, bid.id, bid.solver_id, now
    for other in (await uow.session.execute(select(Bid).where(Bid.task_id == task.id))).scalars():
        other.state = "chosen" if other.id == bid.id else "not_chosen"
    uow.publish(ev.BidChosen(bid_id=bid.id, task_id=task.id, solver_id=bid.solver_id, price_fen=bid.price_fen,
                             poster_id=task.poster_id, policy_version=task.policy_version),
                subject=task.id, actor=principal.subject, partition_key=bid.solver_id)
    await uow.commit()
    return task


async def answer_hire(uow: UnitOfWork, principal: Principal, task_id: str, accept: bool, now: datetime) -> Task:
    """The named solver accepts (a black-listed one may not: new work, as a bid is) or declines (always: the
    poster is not left waiting)."""
    if accept:
        await ensure_not_blacklisted(uow.session, principal.subject, f"accepting a direct hire ({task_id})")
    task = await task_for_update(uow, task_id)
    if task.mode != TaskMode.DIRECT_HIRE or task.direct_solver_id != principal.subject:
        raise DomainError(403, "only the solver named in a direct hire answers it", field="task_id")
    uow.publish(ev.HireAnswered(task_id=task.id, solver_id=principal.subject, accepted=accept),
                subject=task.id, actor=principal.subject, partition_key=principal.subject)
    if accept:
        step(task.mode, task.state, S.IN_PROGRESS)
        task.assignee_id = principal.subject
        await move(uow, task, S.IN_PROGRESS, principal.subject, now, assignee_id=principal.subject)
    else:
        step(task.mode, task.state, S.CANCELLED, TerminalReason.SOLVER_DECLINED)
        await _refund_all(uow, task, await milestones_of(uow, task.id), "solver_declined", principal.subject, now)
        await move(uow, task, S.CANCELLED, principal.subject, now, TerminalReason.SOLVER_DECLINED)
    await uow.commit()
    return task


# ---------------------------------------------------------------- submissions


async def submit(uow: UnitOfWork, principal: Principal, task_id: str, content: str, now: datetime) -> Submission:
    """Work delivered: its SHA-256 and time are kept as evidence; a copy of another solver's work is flagged as a
    duplicate (and can never win); the same solver delivering the same content twice is refused. A black-listed
    solver takes part in no open round (bounty, contest, piece-rate), as it places no bid; work it was assigned
    before the listing (bid, direct hire) it still delivers."""
    task = await task_for_update(uow, task_id)
    await task_may_take_part(uow, task.id, principal.subject)
    mode = TaskMode(task.mode)
    if principal.subject == task.poster_id:
        raise DomainError(403, "a poster does not deliver to its own task", field="task_id")
    milestones = await milestones_of(uow, task.id)
    if mode is TaskMode.GENERAL_CONTRACT or not milestones:
        raise DomainError(409, "a general contract takes no submissions; its sub-tasks do", field="task_id",
                          current_state=task.state)
    milestone = _current(milestones, task)
    if mode in ASSIGNED_MODES:
        if principal.subject != task.assignee_id:
            raise DomainError(403, "only the assigned solver delivers this task", field="task_id")
        if task.state not in (S.IN_PROGRESS, S.REVISION_REQUESTED):
            step(mode, task.state, S.SUBMITTED)  # 409 naming the state
    else:
        await ensure_not_blacklisted(uow.session, principal.subject,
                                     f"submitting to a {mode.value.replace('_', '-')} task ({task.id})")
        if not may_take_part(principal.subject, task):
            raise DomainError(403, "this task is not open to you", field="task_id")
        closes = task.deadline if mode is TaskMode.PIECE_RATE else milestone.due_at
        if task.state not in (S.OPEN, S.IN_PROGRESS) or now > closes:
            raise DomainError(409, f"the task takes no submissions now (state {task.state!r}, closes "
                                   f"{closes.isoformat()})", current_state=task.state, rule="illegal_transition")
        if await published_notice(uow, milestone.id) is not None:
            raise DomainError(409, "the round's winners are in public notice; it takes no more submissions",
                              current_state=task.state, rule="in_public_notice")
    digest = sha256(content)
    earlier = (await uow.session.execute(
        select(Submission).where(Submission.content_sha256 == digest)
        .order_by(col(Submission.submitted_at), col(Submission.id)))).scalars().all()
    if any(s.solver_id == principal.subject and s.milestone_id == milestone.id for s in earlier):
        raise DomainError(409, "you have already delivered exactly this content for this milestone", field="content")
    original = next((s for s in earlier if s.solver_id != principal.subject), None)
    submission = Submission(id=new_id(), task_id=task.id, milestone_id=milestone.id, solver_id=principal.subject,
                            content=content, content_sha256=digest,
                            duplicate_of=original.id if original is not None else None,
                            on_time=now <= milestone.due_at, submitted_at=now)
    uow.session.add(submission)
    uow.publish(ev.SubmissionReceived(submission_id=submission.id, task_id=task.id, milestone_id=milestone.id,
                                      solver_id=submission.solver_id, content_sha256=digest, submitted_at=now,
                                      on_time=submission.on_time, duplicate_of=submission.duplicate_of),
                subject=task.id, actor=principal.subject, partition_key=principal.subject)
    if mode in ASSIGNED_MODES:
        await move(uow, task, S.SUBMITTED, principal.subject, now)
    elif task.state == S.OPEN:
        await move(uow, task, S.IN_PROGRESS, principal.subject, now, assignee_id=None)
    await uow.commit()
    return submission


async def _submission_for_update(uow: UnitOfWork, submission_id: str) -> tuple[Task, Submission]:
    """Lock the task first, then the submission (the order every command uses, so none deadlock)."""
    found = await uow.session.get(Submission, submission_id)
    if found is None:
        raise DomainError(404, f"submission {submission_id} not found", field="submission_id")
    task = await task_for_update(uow, found.task_id)
    submission = (await uow.session.execute(
        select(Submission).where(Submission.id == submission_id).with_for_update()
        .execution_options(populate_existing=True))).scalars().one()
    return task, submission


def _pending(submission: Submission) -> None:
    if submission.state != "submitted":
        raise DomainError(409, f"the submission is {submission.state!r}; only a submitted one can be decided",
                          current_state=submission.state, rule="illegal_transition")


async def request_revision(uow: UnitOfWork, principal: Principal, submission_id: str, note: str,
                           now: datetime) -> Submission:
    task, submission = await _submission_for_update(uow, submission_id)
    authorise_poster(principal, task)
    mode = TaskMode(task.mode)
    if mode in COMPETITIVE_MODES:
        raise DomainError(409, "bounties and contests choose among submissions; they request no revisions",
                          field="submission_id", current_state=task.state)
    _pending(submission)
    milestone = await uow.session.get(Milestone, submission.milestone_id)
    assert milestone is not None
    if milestone.revisions >= POLICY.max_revisions:
        raise DomainError(409, f"{POLICY.max_revisions} revisions already requested: accept the work or open a "
                               "dispute", field="submission_id", current_state=task.state)
    milestone.revisions += 1
    submission.state, submission.decided_at = "revision_requested", now
    uow.publish(ev.SubmissionRevisionRequested(submission_id=submission.id, task_id=task.id,
                                               solver_id=submission.solver_id, note=note,
                                               revisions=milestone.revisions),
                subject=task.id, actor=principal.subject, partition_key=submission.solver_id)
    if mode in ASSIGNED_MODES:
        await move(uow, task, S.REVISION_REQUESTED, principal.subject, now)
    await uow.commit()
    return submission
