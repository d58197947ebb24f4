"""Posting, publishing, cancelling and reviewing tasks; listing and reading them."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, status
from pydantic import Field
from sqlmodel import col, select

from crowdsourcing import flows, handlers
from crowdsourcing.api.common import (
    Ctx,
    Id,
    Moment,
    Note,
    Poster,
    Reviewer,
    TaskView,
    Title,
    _task,
    _view,
    _viewed,
)
from crowdsourcing.domain.policy import DEFAULT_POLICY
from crowdsourcing.domain.task import PosterKind, TaskKind, TaskMode, TaskState
from crowdsourcing.models import Task
from shared.auth import CurrentPrincipal
from shared.money import Fen
from shared.problems import DomainError
from shared.service_app import Now, ReadSessionDep, UnitOfWorkDep
from shared.validation import Limit, Offset, PlainText, ResourceId, Strict

router = APIRouter()


# ---------------------------------------------------------------- posting


class MilestoneCreate(Strict):
    title: Title
    amount_fen: Fen = Field(gt=0)
    due_at: Moment


class TaskCreate(Strict):
    mode: TaskMode
    kind: TaskKind
    title: Title
    description: Annotated[PlainText, Field(max_length=8000)] = ""
    poster_type: PosterKind | None = Field(
        default=None, description="the kind of poster; by default the one poster role the caller holds")
    organisation_id: Id | None = None
    milestones: list[MilestoneCreate] = Field(default=[], max_length=DEFAULT_POLICY.max_milestones)
    deadline: Moment | None = None
    winners: int = Field(default=1, ge=1, le=DEFAULT_POLICY.max_winners)
    piece_price_fen: Annotated[int, Field(gt=0, le=10**12)] | None = None
    piece_quantity: Annotated[int, Field(ge=1, le=100_000)] | None = None
    solver_id: Id | None = None
    involves_personal_data: bool = False
    visibility: Literal["public", "invited"] = "public"
    invited_solver_ids: list[Id] = Field(default=[], max_length=50)
    parent_id: Id | None = None
    # ranked prizes (bounty, contest): one per winner, 1st first; in percent of each round or in fen
    prize_shares_percent: list[Annotated[int, Field(ge=1, le=100)]] | None = Field(
        default=None, min_length=1, max_length=DEFAULT_POLICY.max_winners)
    prize_amounts_fen: list[Annotated[int, Field(ge=1, le=10**12)]] | None = Field(
        default=None, min_length=1, max_length=DEFAULT_POLICY.max_winners)
    public_notice: bool = False
    max_bids: Annotated[int, Field(ge=1, le=10_000)] | None = None


@router.post("/tasks", status_code=status.HTTP_201_CREATED, response_model=TaskView, tags=["tasks"])
async def post_task(body: TaskCreate, uow: UnitOfWorkDep, now: Now, principal: Poster,
                    session: ReadSessionDep) -> TaskView:
    if body.prize_shares_percent is not None and body.prize_amounts_fen is not None:
        raise DomainError(422, "state ranked prizes as shares or as amounts, not both", field="prize_amounts_fen")
    data = handlers.TaskInput(
        mode=body.mode.value, kind=body.kind.value, title=body.title, description=body.description,
        poster_type=body.poster_type, organisation_id=body.organisation_id,
        milestones=[handlers.MilestoneInput(m.title, m.amount_fen, m.due_at) for m in body.milestones],
        deadline=body.deadline, winners=body.winners, piece_price_fen=body.piece_price_fen,
        piece_quantity=body.piece_quantity, solver_id=body.solver_id,
        involves_personal_data=body.involves_personal_data, visibility=body.visibility,
        invited_solver_ids=body.invited_solver_ids, parent_id=body.parent_id,
        prize_ranks=body.prize_shares_percent or body.prize_amounts_fen,
        prize_basis="fen" if body.prize_amounts_fen is not None else "percent", public_notice=body.public_notice,
        max_bids=body.max_bids)
    task = await handlers.create_task(uow, principal, data, now)
    return await _view(session, task, principal)


@router.post("/tasks/{task_id}/publish", response_model=TaskView, tags=["tasks"])
async def publish_task(task_id: ResourceId, ctx: Ctx, now: Now, principal: Poster) -> TaskView:
    """Draft -> escrow charged per milestone (idempotency key per milestone) -> under review or open."""
    await flows.publish(ctx, principal, task_id, now)
    return await _viewed(ctx, task_id, principal)


class CancelBody(Strict):
    note: Note = ""


@router.post("/tasks/{task_id}/cancel", response_model=TaskView, tags=["tasks"])
async def cancel_task(task_id: ResourceId, ctx: Ctx, now: Now, principal: Poster) -> TaskView:
    """Before work starts; whatever was charged (an interrupted funding included) is refunded."""
    await flows.cancel(ctx, principal, task_id, now)
    return await _viewed(ctx, task_id, principal)


class ReviewBody(Strict):
    approve: bool
    note: Note = ""


@router.get("/reviews/tasks", response_model=list[TaskView], tags=["review"])
async def review_queue(session: ReadSessionDep, principal: Reviewer, limit: Limit = 50,
                       offset: Offset = 0) -> list[TaskView]:
    """Red-listed posters' tasks first (fast-track review, 联合激励), then the oldest first."""
    return [await _view(session, t, principal) for t in await handlers.review_queue(session, limit, offset)]


@router.post("/tasks/{task_id}/review", response_model=TaskView, tags=["review"])
async def review_task(task_id: ResourceId, body: ReviewBody, ctx: Ctx, now: Now, principal: Reviewer) -> TaskView:
    await flows.run(ctx, lambda uow: handlers.review_task(uow, principal, task_id, body.approve, body.note, now))
    await flows.settle_task(ctx, task_id)
    return await _viewed(ctx, task_id, principal)


@router.get("/tasks", response_model=list[TaskView], tags=["tasks"])
async def list_tasks(session: ReadSessionDep, principal: CurrentPrincipal, limit: Limit = 50, offset: Offset = 0,
                     mode: TaskMode | None = None, state: TaskState | None = None,
                     mine: bool = False) -> list[TaskView]:
    """Public tasks (open and later), or with `mine=true` the caller's own tasks and assignments."""
    query = select(Task)
    if mine:
        query = query.where((col(Task.poster_id) == principal.subject) | (col(Task.assignee_id) == principal.subject))
    else:
        query = query.where(Task.visibility == "public", col(Task.state).notin_(
            [TaskState.DRAFT.value, TaskState.ESCROW_FUNDED.value, TaskState.UNDER_REVIEW.value]))
    if mode is not None:
        query = query.where(Task.mode == mode.value)
    if state is not None:
        query = query.where(Task.state == state.value)
    tasks = (await session.execute(query.order_by(col(Task.created_at).desc(), col(Task.id))
                                   .limit(limit).offset(offset))).scalars().all()
    return [await _view(session, t, principal) for t in tasks]


@router.get("/tasks/{task_id}", response_model=TaskView, tags=["tasks"])
async def read_task(task_id: ResourceId, session: ReadSessionDep, principal: CurrentPrincipal) -> TaskView:
    return await _view(session, await _task(session, task_id, principal), principal)
