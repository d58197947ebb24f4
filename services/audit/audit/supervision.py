"""Supervision orders at audit: issue (regulators), record confirmations, flag orders not confirmed in time.

An order is stored with a gapless number and published as `cn.sizhong.audit.supervision_order.issued.v1` on
`sizhong.supervision.orders` (shared.supervision). Each obeying service confirms with
`cn.sizhong.<service>.supervision_order.confirmed.v1`, which reaches audit on that service's events topic like
any other event. An order still missing a confirmation after the window is flagged once (`overdue_at`, event
`cn.sizhong.audit.supervision_order.overdue.v1`). An order the broker lost still reaches the services: they
track audit's sequence on the orders topic and backfill gaps from audit's feed (GET /events).
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta

from sqlmodel import col, select

from audit.contracts import SupervisionOrderOverdue
from audit.models import OrderConfirmation, SupervisionOrder
from shared.auth import Principal
from shared.envelope import CloudEvent
from shared.ids import new_id
from shared.outbox import reserve_sequences
from shared.problems import DomainError
from shared.supervision import SupervisionOrderIssued, confirming_services
from shared.uow import UnitOfWork

ORDER_COUNTER = "audit.supervision_orders"
CONFIRMED = re.compile(r"^cn\.sizhong\.([a-z]+)\.supervision_order\.confirmed\.v1$")


def issued_event(order: SupervisionOrder) -> SupervisionOrderIssued:
    return SupervisionOrderIssued(order_id=order.id, number=order.number, action=order.action,
                                  target_type=order.target_type, target_id=order.target_id,
                                  reason=order.reason, issued_by=order.issued_by, issued_at=order.issued_at)


async def latest_order(uow: UnitOfWork, target_type: str, target_id: str) -> SupervisionOrder | None:
    return (await uow.session.execute(
        select(SupervisionOrder).where(SupervisionOrder.target_type == target_type,
                                       SupervisionOrder.target_id == target_id)
        .order_by(col(SupervisionOrder.number).desc()).limit(1))).scalars().first()


async def issue_order(uow: UnitOfWork, principal: Principal, action: str, target_type: str, target_id: str,
                      reason: str, now: datetime) -> SupervisionOrder:
    """Suspend needs the target not suspended (by an order), resume needs it suspended: else 409 naming it."""
    number = await reserve_sequences(uow.session, ORDER_COUNTER, 1)  # the counter row serialises issuers
    last = await latest_order(uow, target_type, target_id)
    suspended = last is not None and last.action == "suspend"
    if action == "suspend" and suspended:
        assert last is not None
        raise DomainError(409, f"the {target_type} {target_id} is already suspended by order {last.id}",
                          current_state="suspended", order_id=last.id)
    if action == "resume" and not suspended:
        raise DomainError(409, f"the {target_type} {target_id} is not suspended by any order",
                          current_state="active")
    order = SupervisionOrder(id=new_id(), number=number, action=action, target_type=target_type,
                             target_id=target_id, reason=reason, issued_by=principal.subject, issued_at=now,
                             expected=",".join(confirming_services(target_type)))
    uow.session.add(order)
    uow.publish(issued_event(order), subject=order.id, actor=principal.subject, partition_key=target_id)
    await uow.commit()
    return order


async def record_confirmation(uow: UnitOfWork, event: CloudEvent) -> None:
    """A service's confirmation (arrives through the catch-all with every other event)."""
    match = CONFIRMED.match(event.type)
    order_id = event.data.get("order_id")
    if match is None or not isinstance(order_id, str):
        return
    service = match.group(1)
    order = await uow.session.get(SupervisionOrder, order_id, with_for_update=True)
    if order is None or await uow.session.get(OrderConfirmation, (order_id, service)) is not None:
        return  # not ours (another deployment's order) or already recorded
    uow.session.add(OrderConfirmation(order_id=order_id, service=service, applied=bool(event.data.get("applied")),
                                      detail=str(event.data.get("detail", ""))[:2000], event_id=event.id,
                                      confirmed_at=event.time))
    await uow.session.flush()
    confirmed = set((await uow.session.execute(
        select(OrderConfirmation.service).where(OrderConfirmation.order_id == order_id))).scalars())
    if order.confirmed_at is None and set(filter(None, order.expected.split(","))) <= confirmed:
        order.confirmed_at = event.time


async def flag_overdue(uow: UnitOfWork, now: datetime, window: timedelta) -> int:
    """Flag (once) every order still unconfirmed `window` after it was issued."""
    late = (await uow.session.execute(
        select(SupervisionOrder).where(col(SupervisionOrder.confirmed_at).is_(None),
                                       col(SupervisionOrder.overdue_at).is_(None),
                                       col(SupervisionOrder.issued_at) <= now - window)
        .order_by(col(SupervisionOrder.number)).limit(500))).scalars().all()
    for order in late:
        confirmed = set((await uow.session.execute(
            select(OrderConfirmation.service).where(OrderConfirmation.order_id == order.id))).scalars())
        missing = sorted(set(filter(None, order.expected.split(","))) - confirmed)
        order.overdue_at = now
        uow.publish(SupervisionOrderOverdue(order_id=order.id, target_type=order.target_type,
                                            target_id=order.target_id, missing=missing, issued_at=order.issued_at),
                    subject=order.id, actor="service:audit", partition_key=order.target_id)
    await uow.commit()
    return len(late)
