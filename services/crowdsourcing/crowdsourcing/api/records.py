"""Ratings, reports, payouts and the ledger."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, HTTPException, status
from pydantic import Field
from sqlmodel import col, select

from crowdsourcing import flows, handlers
from crowdsourcing.api.common import (
    READ_OVERRIDE,
    Admin,
    Ctx,
    Id,
    Note,
    Party,
    Person,
    Reviewer,
    Supervisor,
    _task,
)
from crowdsourcing.escrow import CLEARING, COMMISSION
from crowdsourcing.models import Payout, Rating, Report, Task
from shared.auth import CurrentPrincipal, Principal, require_roles
from shared.ledger import balances, money_trail, trial_balance
from shared.service_app import Now, ReadSessionDep, UnitOfWorkDep
from shared.validation import Limit, Offset, PlainText, ResourceId, Strict

router = APIRouter()


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
