"""What every crowdsourcing route shares: role aliases, field types, the task view (as its viewer may see it)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import HTTPException
from pydantic import AfterValidator, AwareDatetime, BaseModel, Field
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col, select

from crowdsourcing import flows, handlers
from crowdsourcing.domain.task import ACTS_FOR_POSTERS, POSTER_KINDS
from crowdsourcing.models import Milestone, Task
from shared.auth import ROLES, Principal, require_roles
from shared.context import MoneyContextDep
from shared.ledger import balances
from shared.validation import ID_PATTERN, PlainText

POSTER_ROLES = (*POSTER_KINDS, ACTS_FOR_POSTERS)
PARTY_ROLES = (*POSTER_KINDS, "solver")
READ_OVERRIDE = ("admin", "regulator")
PERSON_ROLES = tuple(sorted(ROLES))

Poster = Annotated[Principal, require_roles(*POSTER_ROLES)]
Solver = Annotated[Principal, require_roles("solver")]
Party = Annotated[Principal, require_roles(*PARTY_ROLES)]
Reviewer = Annotated[Principal, require_roles("reviewer")]
Mediator = Annotated[Principal, require_roles("mediator")]
Admin = Annotated[Principal, require_roles("admin")]
Supervisor = Annotated[Principal, require_roles(*READ_OVERRIDE)]
Person = Annotated[Principal, require_roles(*PERSON_ROLES)]
Id = Annotated[str, Field(pattern=ID_PATTERN)]
Title = Annotated[PlainText, Field(min_length=1, max_length=200)]
Note = Annotated[PlainText, Field(max_length=2000)]
Percent = Annotated[int, Field(ge=0, le=100)]


def _plausible(moment: datetime) -> datetime:
    if not 1970 <= moment.year <= 2200:
        raise ValueError("the year must be between 1970 and 2200")
    return moment


Moment = Annotated[AwareDatetime, AfterValidator(_plausible)]


Ctx = MoneyContextDep


# ---------------------------------------------------------------- views


class MilestoneView(BaseModel):
    id: str
    seq: int
    title: str
    amount_fen: int
    due_at: datetime
    state: str
    revisions: int
    escrow_fen: int


class TaskView(BaseModel):
    id: str
    parent_id: str | None
    poster_id: str
    poster_type: str
    organisation_id: str | None
    poster_verified: bool
    mode: str
    kind: str
    title: str
    description: str
    currency: str
    budget_fen: int
    winners: int
    piece_price_fen: int | None
    piece_quantity: int | None
    pieces_accepted: int
    involves_personal_data: bool
    visibility: str
    invited_solver_ids: list[str]
    direct_solver_id: str | None
    assignee_id: str | None
    chosen_bid_id: str | None
    state: str
    reason: str | None
    current_seq: int
    deadline: datetime
    policy_version: str
    created_at: datetime
    updated_at: datetime
    completed_at: datetime | None
    prize_basis: str
    prize_ranks: list[int]
    public_notice: bool
    max_bids: int | None
    bids_placed: int
    milestones: list[MilestoneView]


async def _view(session: AsyncSession, task: Task, viewer: Principal) -> TaskView:
    """The task as `viewer` may see it: who is invited is the poster's business (an admin acts for it)."""
    milestones = (await session.execute(
        select(Milestone).where(Milestone.task_id == task.id).order_by(col(Milestone.seq)))).scalars().all()
    held = await balances(session, f"escrow/task/{task.id}/")
    fields = task.model_dump()
    fields.pop("invited", None)
    fields["prize_ranks"] = [int(w) for w in task.prize_ranks.split(",") if w]
    invited = task.invited_ids if viewer.subject == task.poster_id or viewer.has_any("admin") else []
    return TaskView(**fields, invited_solver_ids=invited, milestones=[
        MilestoneView(id=m.id, seq=m.seq, title=m.title, amount_fen=m.amount_fen, due_at=m.due_at, state=m.state,
                      revisions=m.revisions,
                      escrow_fen=held.get((f"escrow/task/{task.id}/milestone/{m.id}", task.currency), 0))
        for m in milestones])


async def _task(session: AsyncSession, task_id: str, principal: Principal) -> Task:
    task = await session.get(Task, task_id)
    if task is None or not handlers.may_view(principal, task):
        raise HTTPException(404, f"task {task_id} not found")
    return task


async def _viewed(ctx: flows.Context, task_id: str, viewer: Principal) -> TaskView:
    async with ctx.db.reading() as session:
        task = await session.get(Task, task_id)
        assert task is not None
        return await _view(session, task, viewer)
