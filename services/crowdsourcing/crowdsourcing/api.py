"""Crowdsourcing routes: parse, authorise by role (ownership is checked in the handlers against the rows they
lock), call one handler (or a flow, where the payment provider is involved), shape the response.

Routes that move money use `flows.Context` rather than the request-wide unit of work: the provider is called
between transactions, never inside one.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, HTTPException, Query, status
from pydantic import AfterValidator, AwareDatetime, BaseModel, ConfigDict, Field
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col, select

from crowdsourcing import flows, handlers
from crowdsourcing.api_notices import notices_router
from crowdsourcing.domain.policy import DEFAULT_POLICY
from crowdsourcing.domain.task import TaskKind, TaskMode, TaskState
from crowdsourcing.escrow import CLEARING, COMMISSION
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
from shared.auth import ROLES, CurrentPrincipal, Principal, require_roles
from shared.context import MoneyContextDep
from shared.ledger import balances, money_trail, trial_balance
from shared.money import Fen
from shared.problems import DomainError
from shared.service_app import Now, ReadSessionDep, UnitOfWorkDep
from shared.validation import ID_PATTERN, PlainText, ResourceId

POSTER_ROLES = ("enterprise", "agency", "admin")
PARTY_ROLES = ("enterprise", "agency", "solver")
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
Limit = Annotated[int, Query(ge=1, le=200)]
Offset = Annotated[int, Query(ge=0, le=1_000_000)]
Id = Annotated[str, Field(pattern=ID_PATTERN)]
Title = Annotated[PlainText, Field(min_length=1, max_length=200)]
Note = Annotated[PlainText, Field(max_length=2000)]
Percent = Annotated[int, Field(ge=0, le=100)]


def _plausible(moment: datetime) -> datetime:
    if not 1970 <= moment.year <= 2200:
        raise ValueError("the year must be between 1970 and 2200")
    return moment


Moment = Annotated[AwareDatetime, AfterValidator(_plausible)]
router = APIRouter()
router.include_router(notices_router)


Ctx = MoneyContextDep


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


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
    poster_type: Literal["enterprise", "institute", "agency"] = "enterprise"
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
    tasks = (await session.execute(select(Task).where(Task.state == TaskState.UNDER_REVIEW.value)
                                   .order_by(col(Task.updated_at), col(Task.id)).limit(limit).offset(offset))).scalars()
    return [await _view(session, t, principal) for t in tasks]


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


# ---------------------------------------------------------------- disputes


class DisputeView(BaseModel):
    dispute: Dispute
    evidence: list[DisputeEvidence]


class DisputeCreate(Strict):
    reason: Annotated[PlainText, Field(min_length=1, max_length=2000)]
    evidence: Annotated[PlainText, Field(min_length=1, max_length=8000)]
    submission_id: Id | None = None  # bounty, contest, piece-rate: the submission the dispute is about


class EvidenceCreate(Strict):
    text: Annotated[PlainText, Field(min_length=1, max_length=8000)]


class ProposalBody(Strict):
    solver_share_percent: Percent


class EscalationBody(Strict):
    third_party: Annotated[PlainText, Field(min_length=1, max_length=200)] | None = None


class MediatorBody(Strict):
    mediator_id: Id


class ResolutionBody(Strict):
    solver_share_percent: Percent
    basis: Annotated[PlainText, Field(min_length=1, max_length=2000)]


async def _dispute_view(session: AsyncSession, dispute: Dispute) -> DisputeView:
    evidence = (await session.execute(select(DisputeEvidence).where(DisputeEvidence.dispute_id == dispute.id)
                                      .order_by(col(DisputeEvidence.added_at)))).scalars().all()
    return DisputeView(dispute=dispute, evidence=list(evidence))


async def _dispute_after(ctx: flows.Context, dispute: Dispute) -> DisputeView:
    await flows.settle_task(ctx, dispute.task_id)
    async with ctx.db.reading() as session:
        fresh = await session.get(Dispute, dispute.id)
        assert fresh is not None
        return await _dispute_view(session, fresh)


@router.post("/tasks/{task_id}/disputes", status_code=status.HTTP_201_CREATED, response_model=DisputeView,
             tags=["disputes"])
async def open_dispute(task_id: ResourceId, body: DisputeCreate, ctx: Ctx, now: Now, principal: Party) -> DisputeView:
    dispute = await flows.run(ctx, lambda uow: handlers.open_dispute(uow, principal, task_id, body.reason,
                                                                     body.evidence, now, body.submission_id))
    return await _dispute_after(ctx, dispute)


@router.post("/disputes/{dispute_id}/evidence", status_code=status.HTTP_201_CREATED, response_model=DisputeEvidence,
             tags=["disputes"])
async def add_evidence(dispute_id: ResourceId, body: EvidenceCreate, uow: UnitOfWorkDep, now: Now,
                       principal: Party) -> DisputeEvidence:
    return await handlers.add_evidence(uow, principal, dispute_id, body.text, now)


@router.post("/disputes/{dispute_id}/proposals", response_model=DisputeView, tags=["disputes"])
async def propose(dispute_id: ResourceId, body: ProposalBody, ctx: Ctx, now: Now, principal: Party) -> DisputeView:
    """Negotiation: when both sides propose the same share for the solver, the escrow is split accordingly."""
    dispute = await flows.run(ctx, lambda uow: handlers.propose(uow, principal, dispute_id,
                                                                body.solver_share_percent, now))
    return await _dispute_after(ctx, dispute)


@router.post("/disputes/{dispute_id}/escalation", response_model=DisputeView, tags=["disputes"])
async def escalate(dispute_id: ResourceId, body: EscalationBody, ctx: Ctx, now: Now,
                   principal: Annotated[Principal, require_roles(*PARTY_ROLES, "mediator")]) -> DisputeView:
    dispute = await flows.run(ctx, lambda uow: handlers.escalate(uow, principal, dispute_id, body.third_party, now))
    return await _dispute_after(ctx, dispute)


@router.post("/disputes/{dispute_id}/mediator", response_model=DisputeView, tags=["disputes"])
async def assign_mediator(dispute_id: ResourceId, body: MediatorBody, ctx: Ctx, now: Now,
                          principal: Admin) -> DisputeView:
    dispute = await flows.run(ctx, lambda uow: handlers.assign_mediator(uow, principal, dispute_id,
                                                                        body.mediator_id, now))
    return await _dispute_after(ctx, dispute)


@router.post("/disputes/{dispute_id}/resolution", response_model=DisputeView, tags=["disputes"])
async def resolve(dispute_id: ResourceId, body: ResolutionBody, ctx: Ctx, now: Now,
                  principal: Mediator) -> DisputeView:
    """The assigned mediator records the outcome; the milestone's escrow is split in the stated shares."""
    dispute = await flows.run(ctx, lambda uow: handlers.resolve_dispute(uow, principal, dispute_id,
                                                                        body.solver_share_percent, body.basis, now))
    return await _dispute_after(ctx, dispute)


@router.get("/disputes/assigned", response_model=list[Dispute], tags=["disputes"])
async def assigned_disputes(session: ReadSessionDep, principal: Mediator, limit: Limit = 100,
                            offset: Offset = 0) -> list[Dispute]:
    """A mediator sees only the disputes assigned to it."""
    return list((await session.execute(select(Dispute).where(Dispute.mediator_id == principal.subject)
                                       .order_by(col(Dispute.opened_at), col(Dispute.id))
                                       .limit(limit).offset(offset))).scalars())


@router.get("/disputes", response_model=list[Dispute], tags=["disputes"])
async def dispute_queue(session: ReadSessionDep, _principal: Supervisor, limit: Limit = 100, offset: Offset = 0,
                        stage: Annotated[str | None, Query(pattern=r"^[a-z_]{1,30}$")] = None) -> list[Dispute]:
    query = select(Dispute)
    if stage is not None:
        query = query.where(Dispute.stage == stage)
    return list((await session.execute(query.order_by(col(Dispute.opened_at), col(Dispute.id))
                                       .limit(limit).offset(offset))).scalars())


@router.get("/disputes/{dispute_id}", response_model=DisputeView, tags=["disputes"])
async def read_dispute(dispute_id: ResourceId, session: ReadSessionDep, principal: CurrentPrincipal) -> DisputeView:
    dispute = await session.get(Dispute, dispute_id)
    if dispute is None or not (principal.subject in (dispute.poster_id, dispute.solver_id, dispute.mediator_id)
                               or principal.has_any(*READ_OVERRIDE)):
        raise HTTPException(404, f"dispute {dispute_id} not found")
    return await _dispute_view(session, dispute)


# ---------------------------------------------------------------- ratings and reports


class RatingCreate(Strict):
    ratee_id: Id
    score: int = Field(ge=1, le=5)
    comment: Note = ""


@router.post("/tasks/{task_id}/ratings", status_code=status.HTTP_201_CREATED, response_model=Rating,
             tags=["ratings"])
async def rate(task_id: ResourceId, body: RatingCreate, uow: UnitOfWorkDep, now: Now, principal: Party) -> Rating:
    return await handlers.rate(uow, principal, task_id, body.ratee_id, body.score, body.comment, now)


@router.get("/tasks/{task_id}/ratings", response_model=list[Rating], tags=["ratings"])
async def list_ratings(task_id: ResourceId, session: ReadSessionDep, principal: CurrentPrincipal) -> list[Rating]:
    task = await _task(session, task_id, principal)
    return list((await session.execute(select(Rating).where(Rating.task_id == task.id)
                                       .order_by(col(Rating.given_at), col(Rating.id)))).scalars())


class ReportCreate(Strict):
    task_id: Id
    submission_id: Id | None = None
    reason: Literal["spam", "plagiarism", "duplicate"]
    detail: Annotated[PlainText, Field(max_length=4000)] = ""


class ReportDecision(Strict):
    upheld: bool
    note: Note = ""


@router.post("/reports", status_code=status.HTTP_201_CREATED, response_model=Report, tags=["reports"])
async def file_report(body: ReportCreate, uow: UnitOfWorkDep, now: Now, principal: Person) -> Report:
    return await handlers.file_report(uow, principal, body.task_id, body.submission_id, body.reason, body.detail, now)


@router.get("/reports", response_model=list[Report], tags=["reports"])
async def list_reports(session: ReadSessionDep, _principal: Annotated[Principal, require_roles(
                           "reviewer", *READ_OVERRIDE)], limit: Limit = 100, offset: Offset = 0,
                       state: Literal["open", "upheld", "dismissed"] | None = None) -> list[Report]:
    query = select(Report)
    if state is not None:
        query = query.where(Report.state == state)
    return list((await session.execute(query.order_by(col(Report.filed_at), col(Report.id))
                                       .limit(limit).offset(offset))).scalars())


@router.post("/reports/{report_id}/decision", response_model=Report, tags=["reports"])
async def decide_report(report_id: ResourceId, body: ReportDecision, ctx: Ctx, now: Now,
                        principal: Reviewer) -> Report:
    return await flows.decide_report(ctx, principal, report_id, body.upheld, body.note, now)


# ---------------------------------------------------------------- money: payouts and the ledger


@router.get("/tasks/{task_id}/payouts", response_model=list[Payout], tags=["ledger"])
async def task_payouts(task_id: ResourceId, session: ReadSessionDep, principal: CurrentPrincipal) -> list[Payout]:
    """The poster (all of its task's), a payee (its own), a regulator or an admin."""
    task = await _task(session, task_id, principal)
    query = select(Payout).where(Payout.task_id == task.id)
    if principal.subject != task.poster_id and not principal.has_any(*READ_OVERRIDE):
        query = query.where(Payout.party_id == principal.subject)
    return list((await session.execute(query.order_by(col(Payout.created_at), col(Payout.id)))).scalars())


@router.post("/payouts/{payout_id}/reissue", response_model=Payout, tags=["ledger"])
async def reissue_payout(payout_id: ResourceId, ctx: Ctx, now: Now, principal: Admin) -> Payout:
    """Re-issue a declined payout or refund: a new payout from the same payable, key `<original>/retry-N`."""
    return await flows.reissue_payout(ctx, principal, payout_id, now)


@router.get("/tasks/{task_id}/ledger", tags=["ledger"])
async def task_ledger(task_id: ResourceId, session: ReadSessionDep, _principal: Supervisor) -> dict[str, Any]:
    """Every ledger transaction of the task with its entries, the escrow still held, its payouts and the
    provider calls made for it. Each transaction, and so the whole, sums to zero."""
    task = await session.get(Task, task_id)
    if task is None:
        raise HTTPException(404, f"task {task_id} not found")
    trail = await money_trail(session, f"cs:{task.id}:")
    payouts = (await session.execute(select(Payout).where(Payout.task_id == task.id)
                                     .order_by(col(Payout.created_at)))).scalars().all()
    return {
        "task_id": task.id, "currency": task.currency, **trail,
        "escrow_held": {k: v for k, v in trail["accounts"].items() if k.startswith("escrow/") and v},
        "payouts": [p.model_dump(mode="json") for p in payouts],
    }


@router.get("/ledger/trial-balance", tags=["ledger"])
async def ledger_trial_balance(session: ReadSessionDep, _principal: Supervisor) -> dict[str, Any]:
    """The sum of every ledger entry per currency (always zero), with the platform-level accounts."""
    platform = await balances(session, "provider/")
    revenue = await balances(session, "revenue/")
    escrow_held = await balances(session, "escrow/")
    payable = await balances(session, "payable/")

    def by_currency(rows: dict[tuple[str, str], int]) -> dict[str, int]:
        out: dict[str, int] = {}
        for (_account, currency), amount in rows.items():
            out[currency] = out.get(currency, 0) + amount
        return out

    return {"trial_balance": await trial_balance(session),
            "clearing": {c: a for (acc, c), a in platform.items() if acc == CLEARING},
            "commission": {c: a for (acc, c), a in revenue.items() if acc == COMMISSION},
            "escrow_held": by_currency(escrow_held), "payable": by_currency(payable)}
