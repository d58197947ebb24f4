"""The deadlines a reviewer works to: the queues of pending objections (feedback in 10 working days) and repair
requests (decision in 3), oldest deadline first with the overdue flag on each; and the list of every item that
missed its deadline, for a regulator to supervise."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal, TypeVar

from fastapi import APIRouter
from pydantic import BaseModel
from sqlalchemy import Select, literal, union_all
from sqlalchemy import select as columns
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col, select

from credit.models import CreditObjection, CreditRepair
from shared.auth import Principal, require_roles
from shared.service_app import ReadSessionDep
from shared.validation import Limit, Offset

router = APIRouter(tags=["lists"])
Reviewer = Annotated[Principal, require_roles("reviewer", "admin")]
Supervisor = Annotated[Principal, require_roles("regulator", "reviewer", "admin")]


Row = TypeVar("Row", CreditObjection, CreditRepair)


async def _queue(session: AsyncSession, model: type[Row], due: Any, limit: int, offset: int) -> list[Row]:
    """Pending items, oldest deadline first: the order a reviewer should answer them in."""
    return list((await session.execute(
        select(model).where(model.state == "pending").order_by(col(due), col(model.id)).limit(limit).offset(offset)
    )).scalars().all())


@router.get("/objections/pending", response_model=list[CreditObjection])
async def pending_objections(session: ReadSessionDep, _principal: Reviewer, limit: Limit = 50,
                             offset: Offset = 0) -> list[CreditObjection]:
    """The reviewers' queue of objections (an overdue one has `overdue_at`)."""
    return await _queue(session, CreditObjection, CreditObjection.feedback_due, limit, offset)


@router.get("/repairs/pending", response_model=list[CreditRepair])
async def pending_repairs(session: ReadSessionDep, _principal: Reviewer, limit: Limit = 50,
                          offset: Offset = 0) -> list[CreditRepair]:
    """The reviewers' queue of repair requests (an overdue one has `overdue_at`)."""
    return await _queue(session, CreditRepair, CreditRepair.decide_by, limit, offset)


class OverdueItem(BaseModel):
    kind: Literal["objection", "repair"]
    id: str
    listing_id: str
    subject_id: str
    filed_at: datetime  # an objection's filing, a repair's request
    due: datetime  # feedback_due, decide_by
    overdue_at: datetime
    state: str  # pending, or the decision taken late
    decided_at: datetime | None
    decided_late: bool


@router.get("/overdue", response_model=list[OverdueItem])
async def overdue_items(session: ReadSessionDep, _principal: Supervisor,
                        kind: Literal["objection", "repair"] | None = None, pending: bool | None = None,
                        limit: Limit = 50, offset: Offset = 0) -> list[OverdueItem]:
    """Every objection and repair request that missed its deadline, oldest deadline first; `kind` narrows to one
    of them, `pending=true` to those still undecided (`false`: decided late)."""
    parts: list[Select[Any]] = []
    for name, model, filed, due in (("objection", CreditObjection, CreditObjection.filed_at,
                                     CreditObjection.feedback_due),
                                    ("repair", CreditRepair, CreditRepair.requested_at, CreditRepair.decide_by)):
        if kind not in (None, name):
            continue
        query = columns(literal(name).label("kind"), col(model.id).label("id"), col(model.listing_id),
                       col(model.subject_id), col(filed).label("filed_at"), col(due).label("due"),
                       col(model.overdue_at), col(model.state), col(model.decided_at), col(model.decided_late)
                       ).where(col(model.overdue_at).is_not(None))
        if pending is not None:
            query = query.where((col(model.state) == "pending") if pending else (col(model.state) != "pending"))
        parts.append(query)
    items = union_all(*parts).subquery()
    rows = (await session.execute(columns(items).order_by(items.c.due, items.c.id).limit(limit).offset(offset)))
    return [OverdueItem.model_validate(dict(row)) for row in rows.mappings()]
