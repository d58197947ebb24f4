"""Crowdsourcing commands: each one unit of work (one transaction): state, ledger postings, payouts owed and
outbox events together. Every command takes `now` from its caller (the service clock), so tests drive time.

Ownership is checked here against the rows read (and locked) in the same transaction: a poster manages only
its own tasks, a solver acts only on tasks it may take part in and on its own bids and submissions, a mediator
only on disputes assigned to it. Provider calls never happen here (see flows.py): a command records what is
owed (`Payout` rows) and the flow executes it after the commit.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col, select

from crowdsourcing import contracts as ev
from crowdsourcing import escrow
from crowdsourcing.domain import dispute as dispute_rules
from crowdsourcing.domain.policy import DEFAULT_POLICY
from crowdsourcing.domain.settlement import dispute_split, prizes
from crowdsourcing.domain.task import (
    ASSIGNED_MODES,
    COMPETITIVE_MODES,
    ESCROW_UP_FRONT,
    TaskMode,
    TaskState,
    TerminalReason,
    may_be_public,
    needs_review,
    step,
)
from crowdsourcing.models import (
    Bid,
    Dispute,
    DisputeEvidence,
    Milestone,
    Payout,
    Rating,
    Report,
    Submission,
    Task,
)
from crowdsourcing.supervision import subject_may_act, task_may_take_part
from shared.auth import SERVICE_ROLE, Principal
from shared.ids import new_id
from shared.money import Money
from shared.payments import PaymentResult
from shared.problems import DomainError
from shared.replica import SubjectReplica
from shared.uow import UnitOfWork

S = TaskState
POLICY = DEFAULT_POLICY
SYSTEM = "system:crowdsourcing"
MANAGER_OVERRIDE = ("admin",)
FINISHED = frozenset({S.COMPLETED, S.RATED, S.CANCELLED, S.EXPIRED})


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
    """A general contract (总包) starts when a sub-task starts, and completes when every sub-task is finished
    (at least one completed)."""
    parent = await task_for_update(uow, task.parent_id or "", field="parent_id")
    if task.state == S.IN_PROGRESS and parent.state == S.OPEN:
        await move(uow, parent, S.IN_PROGRESS, actor, now, assignee_id=None)
        return
    if task.state not in FINISHED:
        return
    await uow.session.flush()
    states = set((await uow.session.execute(select(Task.state).where(Task.parent_id == parent.id))).scalars())
    if states <= {s.value for s in FINISHED} and states & {S.COMPLETED.value, S.RATED.value}:
        if parent.state == S.OPEN:
            await move(uow, parent, S.IN_PROGRESS, actor, now, assignee_id=None)
        if parent.state == S.IN_PROGRESS:
            await move(uow, parent, S.COMPLETED, actor, now, solver_ids=[], on_time=True, accepted_submissions=0,
                       settled_by_dispute=False)


# ---------------------------------------------------------------- posting


@dataclass(frozen=True)
class MilestoneInput:
    title: str
    amount_fen: int
    due_at: datetime


@dataclass(frozen=True)
class TaskInput:
    mode: str
    kind: str
    title: str
    description: str
    poster_type: str
    organisation_id: str | None
    milestones: list[MilestoneInput]
    deadline: datetime | None
    winners: int
    piece_price_fen: int | None
    piece_quantity: int | None
    solver_id: str | None
    involves_personal_data: bool
    visibility: str
    invited_solver_ids: list[str]
    parent_id: str | None


async def ensure_may_post(uow: UnitOfWork, poster_id: str) -> None:
    """The joint-punishment hook (联合奖惩): a blacklisted subject may not post tasks. The blacklist replica
    arrives with the credit listings; every posting path already calls this."""
    return None


async def create_task(uow: UnitOfWork, principal: Principal, data: TaskInput, now: datetime) -> Task:
    mode = TaskMode(data.mode)
    await ensure_may_post(uow, principal.subject)
    await subject_may_act(uow, principal.subject, data.organisation_id)
    if data.poster_type == "agency" and not principal.has_any("agency", "admin"):
        raise DomainError(403, "public-service purchase (政府购买服务) is posted by an agency", field="poster_type")
    if data.visibility == "public" and not may_be_public(data.involves_personal_data):
        raise DomainError(422, "a task involving personal or secret data cannot be public; invite its solvers",
                          field="visibility")
    verified = False
    if data.organisation_id is not None:
        organisation = await uow.session.get(SubjectReplica, data.organisation_id)
        if organisation is not None:
            if organisation.owner_id != principal.subject:
                raise DomainError(403, "the organisation is not yours", field="organisation_id")
            verified = True  # registered through the gateway with a checked unified social credit code
    milestones = list(data.milestones)
    if mode is TaskMode.GENERAL_CONTRACT:
        if milestones or data.piece_price_fen is not None:
            raise DomainError(422, "a general contract holds no money itself; its sub-tasks do", field="milestones")
        if data.deadline is None:
            raise DomainError(422, "a general contract needs a deadline", field="deadline")
    elif mode is TaskMode.PIECE_RATE:
        if data.piece_price_fen is None or data.piece_quantity is None or data.deadline is None:
            field = "piece_price_fen" if data.piece_price_fen is None else (
                "piece_quantity" if data.piece_quantity is None else "deadline")
            raise DomainError(422, "a piece-rate task states its unit price, quantity and deadline", field=field)
        if milestones:
            raise DomainError(422, "a piece-rate task has one escrow: unit price x quantity", field="milestones")
        milestones = [MilestoneInput("pieces", data.piece_price_fen * data.piece_quantity, data.deadline)]
    elif not milestones:
        raise DomainError(422, "a task has at least one milestone", field="milestones")
    for n, milestone in enumerate(milestones):
        if milestone.due_at <= now:
            raise DomainError(422, "a milestone is due in the future", field=f"milestones.{n}.due_at")
        if n and milestone.due_at < milestones[n - 1].due_at:
            raise DomainError(422, "milestones are due in order", field=f"milestones.{n}.due_at")
    if len(milestones) > POLICY.max_milestones:
        raise DomainError(422, f"at most {POLICY.max_milestones} milestones", field="milestones")
    if mode is TaskMode.BID and data.deadline is None:
        raise DomainError(422, "a bid task states when bidding closes", field="deadline")
    deadline = data.deadline or milestones[-1].due_at
    if deadline <= now:
        raise DomainError(422, "the deadline is in the future", field="deadline")
    if mode is TaskMode.BID and deadline > milestones[0].due_at:
        raise DomainError(422, "bidding closes before the first milestone is due", field="deadline")
    if mode is TaskMode.DIRECT_HIRE:
        if not data.solver_id:
            raise DomainError(422, "a direct hire names its solver", field="solver_id")
        if data.solver_id == principal.subject:
            raise DomainError(422, "a poster cannot hire itself", field="solver_id")
    elif data.solver_id is not None:
        raise DomainError(422, "only a direct hire names its solver", field="solver_id")
    if data.winners != 1 and mode not in COMPETITIVE_MODES:
        raise DomainError(422, "only bounties and contests have several winners", field="winners")
    if data.parent_id is not None:
        parent = await task_for_update(uow, data.parent_id, field="parent_id")
        if parent.poster_id != principal.subject:
            raise DomainError(403, "only the poster of the general contract adds its sub-tasks", field="parent_id")
        if parent.mode != TaskMode.GENERAL_CONTRACT or mode is TaskMode.GENERAL_CONTRACT:
            raise DomainError(422, "a sub-task (分包) belongs to a general contract (总包)", field="parent_id")
        if parent.state not in (S.DRAFT, S.OPEN, S.IN_PROGRESS):
            raise DomainError(409, f"the general contract is {parent.state}", field="parent_id",
                              current_state=parent.state)
    budget = sum(m.amount_fen for m in milestones)
    task = Task(id=new_id(), parent_id=data.parent_id, poster_id=principal.subject, poster_type=data.poster_type,
                organisation_id=data.organisation_id, poster_verified=verified, mode=mode.value, kind=data.kind,
                title=data.title, description=data.description, budget_fen=budget, winners=data.winners,
                piece_price_fen=data.piece_price_fen, piece_quantity=data.piece_quantity,
                involves_personal_data=data.involves_personal_data, visibility=data.visibility,
                invited="\n".join(dict.fromkeys(data.invited_solver_ids)), direct_solver_id=data.solver_id,
                state=S.DRAFT.value, deadline=deadline, state_since=now, policy_version=POLICY.version,
                created_at=now, updated_at=now)
    uow.session.add(task)
    await uow.session.flush()
    for n, milestone in enumerate(milestones, start=1):
        uow.session.add(Milestone(id=new_id(), task_id=task.id, seq=n, title=milestone.title,
                                  amount_fen=milestone.amount_fen, due_at=milestone.due_at))
    uow.publish(ev.TaskPosted(task_id=task.id, parent_id=task.parent_id, poster_id=task.poster_id,
                              poster_type=task.poster_type, organisation_id=task.organisation_id,
                              poster_verified=verified, mode=task.mode, kind=task.kind, title=task.title,
                              currency=task.currency, budget_fen=budget, winners=task.winners,
                              milestones=len(milestones), involves_personal_data=task.involves_personal_data,
                              visibility=task.visibility, deadline=deadline, policy_version=task.policy_version),
                subject=task.id, actor=principal.subject, partition_key=_key(task))
    await uow.commit()
    return task


# ---------------------------------------------------------------- publication and funding


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
    if task.state == S.DRAFT and mode not in ESCROW_UP_FRONT:
        if mode is not TaskMode.GENERAL_CONTRACT and needs_review(mode, task.budget_fen, task.poster_verified,
                                                                    POLICY.review_threshold_fen):
            await move(uow, task, S.UNDER_REVIEW, actor, now, why=_review_reason(task))
        else:
            await move(uow, task, S.OPEN, actor, now, milestone_seq=task.current_seq)
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


def _review_reason(task: Task) -> str:
    if not task.poster_verified:
        return "unverified_poster"
    return f"bounty_below_{POLICY.review_threshold_fen}_fen"


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
            await move(uow, task, S.UNDER_REVIEW, actor, now, why=_review_reason(task))
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
    """Cancel before work has started; every funded milestone is refunded."""
    task = await task_for_update(uow, task_id)
    authorise_poster(principal, task)
    step(task.mode, task.state, S.CANCELLED, reason)
    if task.mode == TaskMode.BID and task.chosen_bid_id is not None:
        raise DomainError(409, "a bid has been chosen and is being funded; it can no longer be cancelled",
                          current_state=task.state)
    actor = _actor(principal)
    await _cancel_with_refunds(uow, task, await milestones_of(uow, task.id), reason, actor, now)
    await uow.commit()
    return task


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


# ---------------------------------------------------------------- bids and direct hire


async def place_bid(uow: UnitOfWork, principal: Principal, task_id: str, price_fen: int, days: int, plan: str,
                    now: datetime) -> Bid:
    task = await task_for_update(uow, task_id)
    await task_may_take_part(uow, task.id, principal.subject)
    if task.mode != TaskMode.BID:
        raise DomainError(409, f"a {task.mode} task takes no bids", field="task_id", current_state=task.state)
    if not may_take_part(principal.subject, task) or principal.subject == task.poster_id:
        raise DomainError(403, "this task is not open to you", field="task_id")
    if task.state != S.OPEN or task.chosen_bid_id is not None or now > task.deadline:
        raise DomainError(409, f"the task takes no bids now (state {task.state!r}, bidding closes "
                               f"{task.deadline.isoformat()})", current_state=task.state)
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
    duplicate (and can never win); the same solver delivering the same content twice is refused."""
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
        if not may_take_part(principal.subject, task):
            raise DomainError(403, "this task is not open to you", field="task_id")
        closes = task.deadline if mode is TaskMode.PIECE_RATE else milestone.due_at
        if task.state not in (S.OPEN, S.IN_PROGRESS) or now > closes:
            raise DomainError(409, f"the task takes no submissions now (state {task.state!r}, closes "
                                   f"{closes.isoformat()})", current_state=task.state, rule="illegal_transition")
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
        unit = Money(task.currency, task.piece_price_fen or 0)
        await escrow.release_to_solver(uow, task, milestone, submission.solver_id, unit, submission.id, actor, now,
                                       submission.id)
        task.pieces_accepted += 1
        _accepted_event(uow, task, submission, actor, automatically)
        await uow.session.flush()
        if task.pieces_accepted >= (task.piece_quantity or 0) or (
                task.state == S.SUBMITTED and not await _has_pending(uow, task)):
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
    solvers = set((await uow.session.execute(select(Submission.solver_id).where(
        Submission.task_id == task.id, Submission.state == "accepted"))).scalars())
    solvers |= set((await uow.session.execute(select(Dispute.solver_id).where(
        Dispute.task_id == task.id, col(Dispute.solver_share_percent) > 0))).scalars())
    return sorted(solvers)


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


async def select_winners(uow: UnitOfWork, principal: Principal | None, task_id: str, submission_ids: Sequence[str],
                         leftover: str, now: datetime) -> Task:
    """A bounty's or contest's round: the escrow is divided into `winners` equal prizes; each chosen submission
    gets one (minus commission); unclaimed prizes are refunded, or roll forward into the next milestone."""
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
    if len(set(submission_ids)) != len(submission_ids):
        raise DomainError(422, "a submission wins once", field="submission_ids")
    if len(submission_ids) > task.winners:
        raise DomainError(422, f"this task has {task.winners} winner(s)", field="submission_ids")
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
    pot = await escrow.escrow_of(uow, task, milestone)
    prize = prizes(pot, task.winners)
    for submission, amount in zip(chosen, prize, strict=False):
        submission.state, submission.decided_at = "accepted", now
        submission.auto_accepted = principal is None
        await escrow.release_to_solver(uow, task, milestone, submission.solver_id, amount, submission.id, actor, now,
                                       submission.id)
        _accepted_event(uow, task, submission, actor, principal is None)
    for other in (await uow.session.execute(select(Submission).where(
            Submission.milestone_id == milestone.id, Submission.state == "submitted"))).scalars():
        if other not in chosen:
            other.state, other.decided_at = "not_selected", now
            uow.publish(ev.SubmissionNotSelected(submission_id=other.id, task_id=task.id, solver_id=other.solver_id),
                        subject=task.id, actor=actor, partition_key=other.solver_id)
    unclaimed = Money(task.currency, sum(p.minor for p in prize[len(chosen):]))
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
    await uow.commit()
    return task


# ---------------------------------------------------------------- disputes


async def _dispute_for_update(uow: UnitOfWork, dispute_id: str) -> Dispute:
    found = (await uow.session.execute(
        select(Dispute).where(Dispute.id == dispute_id).with_for_update())).scalars().first()
    if found is None:
        raise DomainError(404, f"dispute {dispute_id} not found", field="dispute_id")
    return found


def _party(principal: Principal, dispute: Dispute) -> str:
    if principal.subject == dispute.poster_id:
        return "poster"
    if principal.subject == dispute.solver_id:
        return "solver"
    raise DomainError(403, "only the parties to this dispute may do this", field="dispute_id")


def _add_evidence(uow: UnitOfWork, dispute: Dispute, party_id: str, text: str, now: datetime) -> DisputeEvidence:
    evidence = DisputeEvidence(id=new_id(), dispute_id=dispute.id, party_id=party_id, text=text, sha256=sha256(text),
                               added_at=now)
    uow.session.add(evidence)
    uow.publish(ev.DisputeEvidenceAdded(dispute_id=dispute.id, evidence_id=evidence.id, party_id=party_id,
                                        sha256=evidence.sha256),
                subject=dispute.id, actor=party_id, partition_key=dispute.task_id)
    return evidence


async def open_dispute(uow: UnitOfWork, principal: Principal, task_id: str, reason: str, evidence: str,
                       now: datetime) -> Dispute:
    """Either side of assigned work (bid, direct hire) opens a dispute (维权) on the current milestone, with
    evidence: while it is in progress or awaiting a revision at any time (a solver who vanished after a revision
    request must not hold the escrow forever), and within the dispute window after a delivery that awaits
    acceptance (after it, auto-accept decides)."""
    task = await task_for_update(uow, task_id)
    if principal.subject not in (task.poster_id, task.assignee_id):
        raise DomainError(403, "only the poster or the assigned solver may open a dispute", field="task_id")
    if TaskMode(task.mode) not in ASSIGNED_MODES:
        raise DomainError(409, f"disputes are about assigned work; a {task.mode} task has none", field="task_id",
                          current_state=task.state)
    step(task.mode, task.state, S.DISPUTED)
    milestone = _current(await milestones_of(uow, task.id), task)
    delivered = (await uow.session.execute(select(Submission.submitted_at).where(
        Submission.milestone_id == milestone.id).order_by(col(Submission.submitted_at).desc()))).scalars().first()
    if task.state == S.SUBMITTED and delivered is not None and now > delivered + POLICY.dispute_window:
        raise DomainError(409, f"the dispute window ({POLICY.dispute_window.days} days after delivery) has closed",
                          field="task_id", current_state=task.state)
    pot = await escrow.escrow_of(uow, task, milestone)
    dispute = Dispute(id=new_id(), task_id=task.id, milestone_id=milestone.id, poster_id=task.poster_id,
                      solver_id=task.assignee_id or "", opened_by=principal.subject, reason=reason,
                      stage=dispute_rules.DisputeStage.NEGOTIATION.value, opened_at=now, updated_at=now)
    uow.session.add(dispute)
    await uow.session.flush()
    uow.publish(ev.DisputeOpened(dispute_id=dispute.id, task_id=task.id, milestone_id=milestone.id,
                                 poster_id=dispute.poster_id, solver_id=dispute.solver_id, opened_by=principal.subject,
                                 reason=reason, escrow_fen=pot.minor),
                subject=dispute.id, actor=principal.subject, partition_key=task.id)
    _add_evidence(uow, dispute, principal.subject, evidence, now)
    await move(uow, task, S.DISPUTED, principal.subject, now, dispute_id=dispute.id)
    await uow.commit()
    return dispute


async def add_evidence(uow: UnitOfWork, principal: Principal, dispute_id: str, text: str,
                       now: datetime) -> DisputeEvidence:
    dispute = await _dispute_for_update(uow, dispute_id)
    _party(principal, dispute)
    if dispute.stage == dispute_rules.DisputeStage.RESOLVED:
        raise DomainError(409, "the dispute is resolved", current_state=dispute.stage)
    evidence = _add_evidence(uow, dispute, principal.subject, text, now)
    dispute.updated_at = now
    await uow.commit()
    return evidence


async def propose(uow: UnitOfWork, principal: Principal, dispute_id: str, solver_share_percent: int,
                  now: datetime) -> Dispute:
    """Negotiation: each side proposes the solver's share; when both propose the same, it is settled."""
    dispute = await _dispute_for_update(uow, dispute_id)
    party = _party(principal, dispute)
    if dispute.stage != dispute_rules.DisputeStage.NEGOTIATION:
        raise DomainError(409, f"proposals are made in negotiation; the dispute is at {dispute.stage!r}",
                          current_state=dispute.stage, rule="illegal_transition")
    if party == "poster":
        dispute.poster_proposal = solver_share_percent
    else:
        dispute.solver_proposal = solver_share_percent
    dispute.updated_at = now
    uow.publish(ev.DisputeProposalMade(dispute_id=dispute.id, party_id=principal.subject,
                                       solver_share_percent=solver_share_percent),
                subject=dispute.id, actor=principal.subject, partition_key=dispute.task_id)
    if dispute.poster_proposal is not None and dispute.poster_proposal == dispute.solver_proposal:
        await _resolve(uow, dispute, solver_share_percent, "agreed in negotiation", principal.subject, now)
    await uow.commit()
    return dispute


async def escalate(uow: UnitOfWork, principal: Principal, dispute_id: str, third_party: str | None,
                   now: datetime) -> Dispute:
    """negotiation -> platform mediation (a party); platform -> third-party mediation (a party or the mediator)."""
    dispute = await _dispute_for_update(uow, dispute_id)
    if principal.subject != dispute.mediator_id:
        _party(principal, dispute)
    stage = dispute_rules.DisputeStage(dispute.stage)
    target = (dispute_rules.DisputeStage.PLATFORM_MEDIATION if stage is dispute_rules.DisputeStage.NEGOTIATION
              else dispute_rules.DisputeStage.THIRD_PARTY_MEDIATION)
    dispute_rules.step(stage, target)
    if target is dispute_rules.DisputeStage.THIRD_PARTY_MEDIATION:
        if not third_party:
            raise DomainError(422, "third-party mediation names the mediating body (调解组织)", field="third_party")
        dispute.third_party = third_party
    dispute.stage, dispute.updated_at = target.value, now
    uow.publish(ev.DisputeEscalated(dispute_id=dispute.id, from_stage=stage.value, to_stage=target.value,
                                    by=principal.subject, third_party=dispute.third_party),
                subject=dispute.id, actor=principal.subject, partition_key=dispute.task_id)
    await uow.commit()
    return dispute


async def assign_mediator(uow: UnitOfWork, principal: Principal, dispute_id: str, mediator_id: str,
                          now: datetime) -> Dispute:
    dispute = await _dispute_for_update(uow, dispute_id)
    if dispute.stage not in (dispute_rules.DisputeStage.PLATFORM_MEDIATION,
                             dispute_rules.DisputeStage.THIRD_PARTY_MEDIATION):
        raise DomainError(409, f"a mediator is assigned in mediation; the dispute is at {dispute.stage!r}",
                          current_state=dispute.stage, rule="illegal_transition")
    if mediator_id in (dispute.poster_id, dispute.solver_id):
        raise DomainError(422, "a party cannot mediate its own dispute", field="mediator_id")
    dispute.mediator_id, dispute.updated_at = mediator_id, now
    uow.publish(ev.DisputeMediatorAssigned(dispute_id=dispute.id, mediator_id=mediator_id),
                subject=dispute.id, actor=principal.subject, partition_key=dispute.task_id)
    await uow.commit()
    return dispute


async def resolve_dispute(uow: UnitOfWork, principal: Principal, dispute_id: str, solver_share_percent: int,
                          basis: str, now: datetime) -> Dispute:
    """The assigned mediator records the outcome (its own, or the third party's): the escrow is split."""
    dispute = await _dispute_for_update(uow, dispute_id)
    if principal.subject != dispute.mediator_id:
        raise DomainError(403, "only the mediator assigned to this dispute may resolve it", field="dispute_id")
    if dispute.stage == dispute_rules.DisputeStage.NEGOTIATION:
        dispute_rules.step(dispute.stage, dispute_rules.DisputeStage.PLATFORM_MEDIATION)
    await _resolve(uow, dispute, solver_share_percent, basis, principal.subject, now)
    await uow.commit()
    return dispute


async def _resolve(uow: UnitOfWork, dispute: Dispute, percent: int, basis: str, actor: str, now: datetime) -> None:
    stage = dispute.stage
    dispute_rules.step(stage, dispute_rules.DisputeStage.RESOLVED)
    task = await task_for_update(uow, dispute.task_id)
    milestones = await milestones_of(uow, task.id)
    milestone = next(m for m in milestones if m.id == dispute.milestone_id)
    pot = await escrow.escrow_of(uow, task, milestone)
    split = dispute_split(pot, percent, POLICY.commission)
    await escrow.split_for_dispute(uow, task, milestone, dispute.id, dispute.solver_id, split.solver.gross,
                                   split.solver.commission, split.solver.net, split.poster, now)
    milestone.state, milestone.settled_at = "settled", now
    dispute.stage = dispute_rules.DisputeStage.RESOLVED.value
    dispute.solver_share_percent, dispute.basis = percent, basis
    dispute.resolved_at = dispute.updated_at = now
    for pending in (await uow.session.execute(select(Submission).where(
            Submission.milestone_id == milestone.id, Submission.state == "submitted"))).scalars():
        pending.state, pending.decided_at = "disputed", now
    uow.publish(ev.DisputeResolved(dispute_id=dispute.id, task_id=task.id, milestone_id=milestone.id,
                                   poster_id=dispute.poster_id, solver_id=dispute.solver_id, stage=stage,
                                   resolved_by=actor, solver_share_percent=percent,
                                   solver_gross_fen=split.solver.gross.minor, solver_net_fen=split.solver.net.minor,
                                   commission_fen=split.solver.commission.minor, poster_fen=split.poster.minor,
                                   lost_by=dispute_rules.lost_by(percent), policy_version=task.policy_version),
                subject=dispute.id, actor=actor, partition_key=task.id)
    await uow.session.flush()
    await _refund_all(uow, task, [m for m in milestones if m.seq > milestone.seq], "dispute_ended", actor, now)
    await _complete(uow, task, actor, now, settled_by_dispute=True)


# ---------------------------------------------------------------- ratings


def _rating_pairs(task: Task, solvers: Sequence[str]) -> set[tuple[str, str]]:
    return {(task.poster_id, s) for s in solvers} | {(s, task.poster_id) for s in solvers}


async def rate(uow: UnitOfWork, principal: Principal, task_id: str, ratee_id: str, score: int, comment: str,
               now: datetime) -> Rating:
    task = await task_for_update(uow, task_id)
    pairs = _rating_pairs(task, await participants(uow, task))
    if not any(rater == principal.subject for rater, _ in pairs):
        raise DomainError(403, "only the poster and the paid solvers of this task rate each other", field="task_id")
    if (principal.subject, ratee_id) not in pairs:
        raise DomainError(422, "rate the other side of this task", field="ratee_id")
    if task.state != S.COMPLETED:
        raise DomainError(409, f"ratings are given once the task is completed; it is {task.state!r}",
                          current_state=task.state, rule="illegal_transition")
    rating = Rating(id=new_id(), task_id=task.id, rater_id=principal.subject, ratee_id=ratee_id, score=score,
                    comment=comment, given_at=now)
    uow.session.add(rating)
    try:
        await uow.session.flush()
    except IntegrityError as exc:
        raise DomainError(409, "you have already rated them for this task", field="ratee_id") from exc
    _rated_event(uow, task, rating)
    await _rated_if_complete(uow, task, pairs, principal.subject, now)
    await uow.commit()
    return rating


def _rated_event(uow: UnitOfWork, task: Task, rating: Rating) -> None:
    uow.publish(ev.RatingGiven(rating_id=rating.id, task_id=task.id, rater_id=rating.rater_id,
                               ratee_id=rating.ratee_id, score=rating.score, by_default=rating.is_default,
                               policy_version=task.policy_version),
                subject=task.id, actor=rating.rater_id if not rating.is_default else SYSTEM,
                partition_key=rating.ratee_id)


async def _rated_if_complete(uow: UnitOfWork, task: Task, pairs: set[tuple[str, str]], actor: str,
                             now: datetime) -> None:
    given = {(rater, ratee) for rater, ratee in (await uow.session.execute(
        select(Rating.rater_id, Rating.ratee_id).where(Rating.task_id == task.id))).all()}
    if pairs <= given:
        await move(uow, task, S.RATED, actor, now)


async def default_ratings(uow: UnitOfWork, task_id: str, now: datetime) -> int:
    """After the rating window a missing rating is positive by default; then the task is rated."""
    task = await task_for_update(uow, task_id)
    if task.state != S.COMPLETED or task.completed_at is None or now < task.completed_at + POLICY.rating_default_after:
        return 0
    pairs = _rating_pairs(task, await participants(uow, task))
    given = {(rater, ratee) for rater, ratee in (await uow.session.execute(
        select(Rating.rater_id, Rating.ratee_id).where(Rating.task_id == task.id))).all()}
    for rater, ratee in sorted(pairs - given):
        rating = Rating(id=new_id(), task_id=task.id, rater_id=rater, ratee_id=ratee, score=POLICY.default_rating,
                        comment="", is_default=True, given_at=now)
        uow.session.add(rating)
        _rated_event(uow, task, rating)
    await uow.session.flush()
    await move(uow, task, S.RATED, SYSTEM, now)
    await uow.commit()
    return 1


# ---------------------------------------------------------------- payouts


async def reissue_payout(uow: UnitOfWork, principal: Principal, payout_id: str, now: datetime) -> Payout:
    """An admin re-issues a declined payout or refund (the payee's account was closed, say): a new `Payout` from
    the same payable account, for the same amount, with a new idempotency key `<original key>/retry-N`. The
    declined one becomes `reissued`, so it is re-issued once; the money never left the payable meanwhile."""
    if not principal.has_any("admin"):
        raise DomainError(403, "only an admin re-issues a payout", field="payout_id")
    old = (await uow.session.execute(
        select(Payout).where(Payout.id == payout_id).with_for_update())).scalars().first()
    if old is None:
        raise DomainError(404, f"payout {payout_id} not found", field="payout_id")
    if old.status != "failed":
        raise DomainError(409, f"the payout is {old.status!r}; only a declined one is re-issued",
                          field="payout_id", current_state=old.status, rule="illegal_transition")
    original = f"{old.cause}/{old.kind}"
    earlier = (await uow.session.execute(select(Payout.id).where(
        col(Payout.idempotency_key).startswith(f"{original}/retry-", autoescape=True)))).all()
    payout = Payout(id=new_id(), task_id=old.task_id, kind=old.kind, party_id=old.party_id, account=old.account,
                    currency=old.currency, amount_fen=old.amount_fen,
                    idempotency_key=f"{original}/retry-{len(earlier) + 1}", cause=old.cause, created_at=now)
    old.status = "reissued"
    uow.session.add(payout)
    uow.publish(ev.PayoutReissued(payout_id=payout.id, task_id=payout.task_id, kind=payout.kind,
                                  party_id=payout.party_id, currency=payout.currency, amount_fen=payout.amount_fen,
                                  idempotency_key=payout.idempotency_key, replaces_payout_id=old.id,
                                  replaces_idempotency_key=old.idempotency_key, reissued_by=principal.subject),
                subject=payout.task_id, actor=principal.subject, partition_key=payout.party_id)
    await uow.commit()
    return payout


# ---------------------------------------------------------------- reports


async def file_report(uow: UnitOfWork, principal: Principal, task_id: str, submission_id: str | None, reason: str,
                      detail: str, now: datetime) -> Report:
    task = await uow.session.get(Task, task_id)
    if task is None or not may_view(principal, task):  # a task one may not see is not there to report
        raise DomainError(404, f"task {task_id} not found", field="task_id")
    if submission_id is not None:
        submission = await uow.session.get(Submission, submission_id)
        if submission is None or submission.task_id != task.id:
            raise DomainError(422, "the submission is not one of this task's", field="submission_id")
    report = Report(id=new_id(), task_id=task.id, submission_id=submission_id, reporter_id=principal.subject,
                    reason=reason, detail=detail, filed_at=now)
    uow.session.add(report)
    uow.publish(ev.ReportFiled(report_id=report.id, task_id=task.id, submission_id=submission_id,
                               reporter_id=principal.subject, reason=reason),
                subject=report.id, actor=principal.subject, partition_key=task.id)
    await uow.commit()
    return report


async def decide_report(uow: UnitOfWork, principal: Principal, report_id: str, upheld: bool, note: str,
                        now: datetime) -> Report:
    """A reviewer's decision. An upheld report disqualifies an undecided submission; spam upheld against a task
    that has not started cancels it (failed review) and refunds its escrow."""
    report = (await uow.session.execute(
        select(Report).where(Report.id == report_id).with_for_update())).scalars().first()
    if report is None:
        raise DomainError(404, f"report {report_id} not found", field="report_id")
    if report.reporter_id == principal.subject:
        raise DomainError(403, "a reviewer does not decide a report they filed", field="report_id")
    if report.state != "open":
        raise DomainError(409, f"the report is already {report.state}", current_state=report.state,
                          rule="illegal_transition")
    report.state, report.reviewer_id, report.note, report.decided_at = (
        "upheld" if upheld else "dismissed"), principal.subject, note, now
    uow.publish(ev.ReportDecided(report_id=report.id, task_id=report.task_id, submission_id=report.submission_id,
                                 reviewer_id=principal.subject, upheld=upheld, reason=report.reason, note=note),
                subject=report.id, actor=principal.subject, partition_key=report.task_id)
    if upheld and report.submission_id is not None:
        task, submission = await _submission_for_update(uow, report.submission_id)
        if submission.state in ("submitted", "revision_requested"):
            submission.state, submission.decided_at = "disqualified", now
            uow.publish(ev.SubmissionDisqualified(submission_id=submission.id, task_id=submission.task_id,
                                                  solver_id=submission.solver_id, report_id=report.id,
                                                  reason=report.reason),
                        subject=submission.task_id, actor=principal.subject, partition_key=submission.solver_id)
            if task.state == S.SUBMITTED and TaskMode(task.mode) in ASSIGNED_MODES:
                await move(uow, task, S.REVISION_REQUESTED, principal.subject, now)
    elif upheld and report.reason == "spam":
        task = await task_for_update(uow, report.task_id)
        if S.CANCELLED in _allowed(task):
            # a bid being funded included: what was charged is posted and refunded, and a charge still in
            # flight is refunded when its publication finds the task cancelled (finish_funding)
            await _cancel_with_refunds(uow, task, await milestones_of(uow, task.id), TerminalReason.FAILED_REVIEW,
                                       principal.subject, now)
    await uow.commit()
    return report


def _allowed(task: Task) -> frozenset[TaskState]:
    from crowdsourcing.domain.task import allowed

    return allowed(task.mode, task.state)
