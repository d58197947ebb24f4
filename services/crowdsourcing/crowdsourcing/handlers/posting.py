"""Posting a task (draft): the mode's rules on milestones, deadlines, solvers and visibility, checked once."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from crowdsourcing import contracts as ev
from crowdsourcing.domain.settlement import check_ranks
from crowdsourcing.domain.task import COMPETITIVE_MODES, TaskMode, may_be_public, poster_kind
from crowdsourcing.handlers.common import POLICY, S, _key, task_for_update
from crowdsourcing.models import Milestone, Task
from crowdsourcing.supervision import subject_may_act
from shared.auth import Principal
from shared.ids import new_id
from shared.listings import ensure_not_blacklisted
from shared.problems import DomainError
from shared.replica import SubjectReplica
from shared.uow import UnitOfWork


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
    poster_type: str | None  # enterprise | agency | institute; None: the one poster role the caller holds
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
    prize_ranks: list[int] | None = None  # ranked prizes by rank, in `prize_basis` (percent | fen)
    prize_basis: str = "percent"
    public_notice: bool = False
    max_bids: int | None = None


async def ensure_may_post(uow: UnitOfWork, *subjects: str | None, action: str = "posting a task") -> None:
    """Joint punishment (联合奖惩): a black-listed subject may not post tasks (from the local listing replica):
    neither the person posting nor the organisation it posts for."""
    for subject in dict.fromkeys(filter(None, subjects)):
        await ensure_not_blacklisted(uow.session, subject, action)


async def ensure_before_contract_deadline(uow: UnitOfWork, contract_id: str | None, now: datetime,
                                         field: str) -> None:
    """No sub-task is posted or published under a general contract whose deadline has passed (409): it is
    waiting only for the sub-tasks already under way (a contract's deadline never changes: read unlocked)."""
    contract = await uow.session.get(Task, contract_id) if contract_id is not None else None
    if contract is not None and now > contract.deadline:
        raise DomainError(409, f"the general contract's deadline ({contract.deadline.isoformat()}) has passed; it "
                               "takes no new sub-task", field=field, rule="contract_deadline_passed",
                          contract_id=contract.id)


async def create_task(uow: UnitOfWork, principal: Principal, data: TaskInput, now: datetime) -> Task:
    mode = TaskMode(data.mode)
    await ensure_may_post(uow, principal.subject)
    await subject_may_act(uow, principal.subject, data.organisation_id)
    kind = poster_kind(principal.roles, data.poster_type)
    if data.visibility == "public" and not may_be_public(data.involves_personal_data):
        raise DomainError(422, "a task involving personal or secret data cannot be public; invite its solvers",
                          field="visibility")
    verification = await _verification(uow, principal, data.organisation_id)  # the organisation is the poster's
    await ensure_may_post(uow, data.organisation_id)
    verified = verification is not None
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
    prize_basis, prize_ranks = _ranked_prizes(mode, data, [m.amount_fen for m in milestones])
    if data.public_notice and mode not in COMPETITIVE_MODES:
        raise DomainError(422, "a public notice (任务公示) is for the winners of bounties and contests",
                          field="public_notice")
    if data.max_bids is not None and mode is not TaskMode.BID:
        raise DomainError(422, "only a bid task caps its bids", field="max_bids")
    if data.parent_id is not None:
        parent = await task_for_update(uow, data.parent_id, field="parent_id")
        if parent.poster_id != principal.subject:
            raise DomainError(403, "only the poster of the general contract adds its sub-tasks", field="parent_id")
        if parent.mode != TaskMode.GENERAL_CONTRACT or mode is TaskMode.GENERAL_CONTRACT:
            raise DomainError(422, "a sub-task (分包) belongs to a general contract (总包)", field="parent_id")
        if parent.state not in (S.DRAFT, S.OPEN, S.IN_PROGRESS):
            raise DomainError(409, f"the general contract is {parent.state}", field="parent_id",
                              current_state=parent.state)
        await ensure_before_contract_deadline(uow, parent.id, now, field="parent_id")
        await ensure_may_post(uow, parent.organisation_id)  # the contract's organisation posts its sub-tasks too
    budget = sum(m.amount_fen for m in milestones)
    task = Task(id=new_id(), parent_id=data.parent_id, poster_id=principal.subject, poster_type=kind,
                organisation_id=data.organisation_id, poster_verified=verified, mode=mode.value, kind=data.kind,
                title=data.title, description=data.description, budget_fen=budget, winners=data.winners,
                piece_price_fen=data.piece_price_fen, piece_quantity=data.piece_quantity,
                involves_personal_data=data.involves_personal_data, visibility=data.visibility,
                invited="\n".join(dict.fromkeys(data.invited_solver_ids)), direct_solver_id=data.solver_id,
                state=S.DRAFT.value, deadline=deadline, state_since=now, policy_version=POLICY.version,
                created_at=now, updated_at=now, prize_basis=prize_basis,
                prize_ranks=",".join(str(w) for w in prize_ranks), public_notice=data.public_notice,
                max_bids=data.max_bids)
    uow.session.add(task)
    await uow.session.flush()
    for n, milestone in enumerate(milestones, start=1):
        uow.session.add(Milestone(id=new_id(), task_id=task.id, seq=n, title=milestone.title,
                                  amount_fen=milestone.amount_fen, due_at=milestone.due_at))
    uow.publish(ev.TaskPosted(task_id=task.id, parent_id=task.parent_id, poster_id=task.poster_id,
                              poster_type=task.poster_type, organisation_id=task.organisation_id,
                              poster_verified=verified, verification_level=verification, mode=task.mode,
                              kind=task.kind, title=task.title, currency=task.currency, budget_fen=budget,
                              winners=task.winners, milestones=len(milestones),
                              involves_personal_data=task.involves_personal_data, visibility=task.visibility,
                              deadline=deadline, policy_version=task.policy_version, prize_basis=prize_basis,
                              prize_ranks=prize_ranks, public_notice=task.public_notice, max_bids=task.max_bids),
                subject=task.id, actor=principal.subject, partition_key=_key(task))
    await uow.commit()
    return task


async def _verification(uow: UnitOfWork, principal: Principal, organisation_id: str | None) -> str | None:
    """The verification level of the poster's organisation, None if it is not verified. Verified means real-name
    verified at the gateway (its unified social credit code confirmed and bound to this owner: the replica's
    `verified_at`), not merely registered; an unverified poster's every task is reviewed.

    The organisation must be the poster's, which only the replica can tell: one it does not know (yet) is
    refused (409, `organisation_unknown`), never let through unchecked, or anyone could attach tasks to another's
    organisation id before its registration event arrives. Its registration may still be on its way: retry."""
    if organisation_id is None:
        return None
    organisation = await uow.session.get(SubjectReplica, organisation_id)
    if organisation is None:
        raise DomainError(409, f"organisation {organisation_id} is not known here yet, so it cannot be checked "
                               "as yours; if it was registered just now, its registration may still be on its "
                               "way: retry shortly", field="organisation_id", rule="organisation_unknown")
    if organisation.owner_id != principal.subject:
        raise DomainError(403, "the organisation is not yours", field="organisation_id")
    if organisation.verified_at is None:
        return None
    return organisation.verification_level or "verified"


def _ranked_prizes(mode: TaskMode, data: TaskInput, round_amounts: list[int]) -> tuple[str, list[int]]:
    """(basis, weights by rank): equal prizes unless the poster states ranked ones (1st/2nd/3rd ...), one per
    winner, in percent of each round's escrow or in fen adding up to each round's escrow."""
    if data.prize_ranks is None:
        return "equal", []
    field = "prize_amounts_fen" if data.prize_basis == "fen" else "prize_shares_percent"  # as the API names it
    if mode not in COMPETITIVE_MODES:
        raise DomainError(422, "only bounties and contests have ranked prizes", field=field)
    if len(data.prize_ranks) != data.winners:
        raise DomainError(422, f"state one prize per winner ({data.winners})", field=field)
    why = check_ranks(list(data.prize_ranks), data.prize_basis, round_amounts)
    if why is not None:
        raise DomainError(422, why, field=field)
    return data.prize_basis, list(data.prize_ranks)
