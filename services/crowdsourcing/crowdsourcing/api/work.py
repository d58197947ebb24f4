"""Bids, direct-hire answers, submissions, acceptance, revisions and winners."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, HTTPException, status
from pydantic import Field
from sqlmodel import col, select

from crowdsourcing import flows, handlers
from crowdsourcing.api.common import (
    READ_OVERRIDE,
    Ctx,
    Id,
    Poster,
    Solver,
    TaskView,
    _task,
    _viewed,
)
from crowdsourcing.domain.policy import DEFAULT_POLICY
from crowdsourcing.models import Bid, Submission, Task
from shared.auth import CurrentPrincipal
from shared.money import Fen
from shared.service_app import Now, ReadSessionDep, UnitOfWorkDep
from shared.validation import Limit, Offset, PlainText, ResourceId, Strict

router = APIRouter()


# ---------------------------------------------------------------- bids and direct hire


class BidCreate(Strict):
    price_fen: Fen = Field(gt=0)
    days: int = Field(ge=1, le=3650)
    plan: Annotated[PlainText, Field(min_length=1, max_length=4000)]


@router.post("/tasks/{task_id}/bids", status_code=status.HTTP_201_CREATED, response_model=Bid, tags=["bids"])
async def place_bid(task_id: ResourceId, body: BidCreate, uow: UnitOfWorkDep, now: Now, principal: Solver) -> Bid:
    return await handlers.place_bid(uow, principal, task_id, body.price_fen, body.days, body.plan, now)


@router.get("/tasks/{task_id}/bids", response_model=list[Bid], tags=["bids"])
async def list_bids(task_id: ResourceId, session: ReadSessionDep, principal: CurrentPrincipal, limit: Limit = 100,
                    offset: Offset = 0) -> list[Bid]:
    """The poster sees every bid; a solver only its own."""
    task = await _task(session, task_id, principal)
    query = select(Bid).where(Bid.task_id == task.id)
    if principal.subject != task.poster_id and not principal.has_any(*READ_OVERRIDE):
        query = query.where(Bid.solver_id == principal.subject)
    return list((await session.execute(query.order_by(col(Bid.placed_at), col(Bid.id))
                                       .limit(limit).offset(offset))).scalars())


@router.post("/bids/{bid_id}/choose", response_model=TaskView, tags=["bids"])
async def choose_bid(bid_id: ResourceId, ctx: Ctx, now: Now, principal: Poster) -> TaskView:
    """Choose a bid: its solver is assigned, the milestones scale to its price, the escrow is charged."""
    task = await flows.run(ctx, lambda uow: handlers.choose_bid(uow, principal, bid_id, now))
    task_id = task.id
    await flows.publish(ctx, principal, task_id, now)
    return await _viewed(ctx, task_id, principal)


class HireAnswer(Strict):
    accept: bool


@router.post("/tasks/{task_id}/hire", response_model=TaskView, tags=["bids"])
async def answer_hire(task_id: ResourceId, body: HireAnswer, ctx: Ctx, now: Now, principal: Solver) -> TaskView:
    await flows.run(ctx, lambda uow: handlers.answer_hire(uow, principal, task_id, body.accept, now))
    await flows.settle_task(ctx, task_id)
    return await _viewed(ctx, task_id, principal)


# ---------------------------------------------------------------- submissions


class SubmissionCreate(Strict):
    content: Annotated[PlainText, Field(min_length=1, max_length=20000,
                                        description="the delivered work, or a link and digest of it")]


@router.post("/tasks/{task_id}/submissions", status_code=status.HTTP_201_CREATED, response_model=Submission,
             tags=["submissions"])
async def submit(task_id: ResourceId, body: SubmissionCreate, uow: UnitOfWorkDep, now: Now,
                 principal: Solver) -> Submission:
    return await handlers.submit(uow, principal, task_id, body.content, now)


@router.get("/tasks/{task_id}/submissions", response_model=list[Submission], tags=["submissions"])
async def list_submissions(task_id: ResourceId, session: ReadSessionDep, principal: CurrentPrincipal,
                           limit: Limit = 100, offset: Offset = 0) -> list[Submission]:
    """The poster (and reviewers, regulators) see every submission; a solver only its own."""
    task = await _task(session, task_id, principal)
    query = select(Submission).where(Submission.task_id == task.id)
    if principal.subject != task.poster_id and not principal.has_any(*READ_OVERRIDE, "reviewer"):
        query = query.where(Submission.solver_id == principal.subject)
    return list((await session.execute(query.order_by(col(Submission.submitted_at), col(Submission.id))
                                       .limit(limit).offset(offset))).scalars())


@router.get("/submissions/{submission_id}", response_model=Submission, tags=["submissions"])
async def read_submission(submission_id: ResourceId, session: ReadSessionDep,
                          principal: CurrentPrincipal) -> Submission:
    submission = await session.get(Submission, submission_id)
    task = await session.get(Task, submission.task_id) if submission is not None else None
    if submission is None or task is None or not (
            principal.subject in (submission.solver_id, task.poster_id)
            or principal.has_any(*READ_OVERRIDE, "reviewer")):
        raise HTTPException(404, f"submission {submission_id} not found")
    return submission


@router.post("/submissions/{submission_id}/accept", response_model=TaskView, tags=["submissions"])
async def accept_submission(submission_id: ResourceId, ctx: Ctx, now: Now, principal: Poster) -> TaskView:
    """Accept delivered work: the escrow goes to the solver minus commission, paid out at once."""
    task = await flows.run(ctx, lambda uow: handlers.accept_submission(uow, principal, submission_id, now))
    await flows.settle_task(ctx, task.id)
    return await _viewed(ctx, task.id, principal)


class RevisionBody(Strict):
    note: Annotated[PlainText, Field(min_length=1, max_length=2000)]


@router.post("/submissions/{submission_id}/revision", response_model=Submission, tags=["submissions"])
async def request_revision(submission_id: ResourceId, body: RevisionBody, uow: UnitOfWorkDep, now: Now,
                           principal: Poster) -> Submission:
    return await handlers.request_revision(uow, principal, submission_id, body.note, now)


class WinnersBody(Strict):
    submission_ids: list[Id] = Field(min_length=1, max_length=DEFAULT_POLICY.max_winners)
    leftover: Literal["refund", "roll_forward"] = "refund"


@router.post("/tasks/{task_id}/winners", response_model=TaskView, tags=["submissions"])
async def choose_winners(task_id: ResourceId, body: WinnersBody, ctx: Ctx, now: Now, principal: Poster) -> TaskView:
    """A bounty's or contest's round: equal prizes for the chosen submissions; unclaimed prizes are refunded or
    roll forward into the next milestone."""
    await flows.run(ctx, lambda uow: handlers.select_winners(uow, principal, task_id, body.submission_ids,
                                                             body.leftover, now))
    await flows.settle_task(ctx, task_id)
    return await _viewed(ctx, task_id, principal)
