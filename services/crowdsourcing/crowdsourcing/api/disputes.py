"""Disputes (维权): opening, evidence, proposals, escalation, mediators, resolution, reading."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, HTTPException, Query, status
from pydantic import BaseModel, Field
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col, select

from crowdsourcing import flows, handlers
from crowdsourcing.api.common import (
    PARTY_ROLES,
    READ_OVERRIDE,
    Admin,
    Ctx,
    Id,
    Mediator,
    Party,
    Percent,
    Supervisor,
)
from crowdsourcing.models import Dispute, DisputeEvidence
from shared.auth import CurrentPrincipal, Principal, require_roles
from shared.service_app import Now, ReadSessionDep, UnitOfWorkDep
from shared.validation import Limit, Offset, PlainText, ResourceId, Strict

router = APIRouter()


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
