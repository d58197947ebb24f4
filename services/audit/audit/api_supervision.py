"""Supervision orders (监管指令): regulators issue them; regulators (and admins) read each with its confirmations."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query
from pydantic import BaseModel, ConfigDict, Field
from sqlmodel import col, select

from audit.models import OrderConfirmation, SupervisionOrder
from audit.supervision import issue_order
from shared.auth import Principal, require_roles
from shared.problems import DomainError
from shared.service_app import MAX_SEQUENCE, Now, ReadSessionDep, UnitOfWorkDep
from shared.supervision import Action, TargetType
from shared.validation import ResourceId

router = APIRouter(tags=["supervision"])
Regulator = Annotated[Principal, require_roles("regulator")]
Reader = require_roles("regulator", "admin")


class OrderBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    action: Action
    target_type: TargetType
    target_id: str = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.:-]+$")
    reason: str = Field(min_length=2, max_length=2000)


def status_of(order: SupervisionOrder) -> str:
    if order.confirmed_at is not None:
        return "confirmed"
    return "overdue" if order.overdue_at is not None else "pending"


def order_json(order: SupervisionOrder, confirmations: list[OrderConfirmation]) -> dict[str, Any]:
    expected = [s for s in order.expected.split(",") if s]
    confirmed = {c.service for c in confirmations}
    return {
        "id": order.id, "number": order.number, "action": order.action, "target_type": order.target_type,
        "target_id": order.target_id, "reason": order.reason, "issued_by": order.issued_by,
        "issued_at": order.issued_at.isoformat(), "status": status_of(order), "expected": expected,
        "missing": sorted(set(expected) - confirmed),
        "confirmed_at": order.confirmed_at.isoformat() if order.confirmed_at else None,
        "overdue_at": order.overdue_at.isoformat() if order.overdue_at else None,
        "confirmations": [{"service": c.service, "applied": c.applied, "detail": c.detail,
                           "event_id": c.event_id, "confirmed_at": c.confirmed_at.isoformat()}
                          for c in sorted(confirmations, key=lambda c: c.service)],
    }


@router.post("/supervision/orders", status_code=201)
async def create_order(body: OrderBody, uow: UnitOfWorkDep, now: Now, principal: Regulator) -> dict[str, Any]:
    """Suspend or resume a target; the order goes out on sizhong.supervision.orders."""
    order = await issue_order(uow, principal, body.action, body.target_type, body.target_id, body.reason, now)
    return order_json(order, [])


async def _confirmations(session: Any, order_ids: list[str]) -> dict[str, list[OrderConfirmation]]:
    rows = (await session.execute(select(OrderConfirmation).where(
        col(OrderConfirmation.order_id).in_(order_ids)))).scalars().all()
    grouped: dict[str, list[OrderConfirmation]] = {}
    for row in rows:
        grouped.setdefault(row.order_id, []).append(row)
    return grouped


@router.get("/supervision/orders", dependencies=[Reader])
async def list_orders(
    session: ReadSessionDep,
    status: Annotated[Literal["pending", "confirmed", "overdue"] | None, Query()] = None,
    target_type: Annotated[TargetType | None, Query()] = None,
    target_id: Annotated[str | None, Query(max_length=64)] = None,
    after_number: Annotated[int, Query(ge=0, le=MAX_SEQUENCE)] = 0,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> dict[str, Any]:
    query = select(SupervisionOrder).where(col(SupervisionOrder.number) > after_number)
    if target_type is not None:
        query = query.where(SupervisionOrder.target_type == target_type)
    if target_id is not None:
        query = query.where(SupervisionOrder.target_id == target_id)
    if status == "confirmed":
        query = query.where(col(SupervisionOrder.confirmed_at).is_not(None))
    elif status == "overdue":
        query = query.where(col(SupervisionOrder.confirmed_at).is_(None), col(SupervisionOrder.overdue_at).is_not(None))
    elif status == "pending":
        query = query.where(col(SupervisionOrder.confirmed_at).is_(None), col(SupervisionOrder.overdue_at).is_(None))
    orders = (await session.execute(query.order_by(col(SupervisionOrder.number)).limit(limit))).scalars().all()
    confirmations = await _confirmations(session, [o.id for o in orders])
    return {"orders": [order_json(o, confirmations.get(o.id, [])) for o in orders],
            "next_after_number": orders[-1].number if orders else after_number}


@router.get("/supervision/orders/{order_id}", dependencies=[Reader])
async def read_order(order_id: ResourceId, session: ReadSessionDep) -> dict[str, Any]:
    order = await session.get(SupervisionOrder, order_id)
    if order is None:
        raise DomainError(404, f"supervision order {order_id} not found")
    return order_json(order, (await _confirmations(session, [order_id])).get(order_id, []))
