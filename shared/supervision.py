"""Supervision orders (监管指令): the crowd services' replica of regulators' orders, the guard, the confirmation.

A regulator issues an order at the audit service; audit publishes `cn.sizhong.audit.supervision_order.issued.v1`
on the topic `sizhong.supervision.orders`. Each crowd service subscribes to that topic (`supervision_subscription`),
keeps the current restriction per (target type, target id) in `supervision_restrictions`, applies its own effect
(e.g. crowdfunding moves a live campaign to `suspended`) and confirms with
`cn.sizhong.<service>.supervision_order.confirmed.v1`, all in one transaction. Commands call
`ensure_not_suspended` before acting. Orders carry audit's gapless order number: an older order arriving after a
newer one for the same target (a re-sent order) is confirmed as not applied and changes nothing.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Literal

import sqlalchemy as sa
from alembic import op
from pydantic import Field as PydanticField
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import Field, SQLModel

from shared.consumer import Subscription
from shared.db import utc_column
from shared.envelope import CloudEvent, EventData
from shared.problems import DomainError
from shared.uow import UnitOfWork

ORDERS_TOPIC = "sizhong.supervision.orders"
Action = Literal["suspend", "resume"]
TargetType = Literal["campaign", "task", "space", "programme", "subject"]
TARGET_TYPES: tuple[str, ...] = ("campaign", "task", "space", "programme", "subject")
# Which service obeys (and confirms) an order on each target type.
OBEYS: dict[str, frozenset[str]] = {
    "crowdfunding": frozenset({"campaign", "subject"}),
    "crowdsourcing": frozenset({"task", "subject"}),
    "makerspace": frozenset({"space", "subject"}),
    "crowdsupport": frozenset({"programme", "subject"}),
}
OBEYING_SERVICES: tuple[str, ...] = ("crowdfunding", "crowdsourcing", "makerspace", "crowdsupport")


def confirming_services(target_type: str, services: tuple[str, ...] = OBEYING_SERVICES) -> tuple[str, ...]:
    """The services expected to confirm an order on this target type. A target no wired service obeys expects its
    designated service anyway, so the order is flagged, not lost."""
    wired = tuple(s for s in services if target_type in OBEYS[s])
    return wired or tuple(s for s in OBEYS if target_type in OBEYS[s])


class SupervisionOrderIssued(EventData):
    """Published by audit (the contract lives here because every crowd service consumes it)."""

    event_type = "cn.sizhong.audit.supervision_order.issued.v1"
    order_id: str
    number: int = PydanticField(ge=1, description="audit's gapless order number; later orders win")
    action: Action
    target_type: TargetType
    target_id: str
    reason: str
    issued_by: str
    issued_at: datetime


class SupervisionOrderConfirmed(EventData):
    """A crowd service obeyed (applied=True) or could not / need not apply (applied=False, with the detail)."""

    order_id: str
    target_type: str
    target_id: str
    action: str
    applied: bool
    detail: str = ""


class CrowdfundingOrderConfirmed(SupervisionOrderConfirmed):
    event_type = "cn.sizhong.crowdfunding.supervision_order.confirmed.v1"


class CrowdsourcingOrderConfirmed(SupervisionOrderConfirmed):
    event_type = "cn.sizhong.crowdsourcing.supervision_order.confirmed.v1"


class MakerspaceOrderConfirmed(SupervisionOrderConfirmed):
    event_type = "cn.sizhong.makerspace.supervision_order.confirmed.v1"


class CrowdsupportOrderConfirmed(SupervisionOrderConfirmed):
    event_type = "cn.sizhong.crowdsupport.supervision_order.confirmed.v1"


CONFIRMATIONS: dict[str, type[SupervisionOrderConfirmed]] = {
    "crowdfunding": CrowdfundingOrderConfirmed, "crowdsourcing": CrowdsourcingOrderConfirmed,
    "makerspace": MakerspaceOrderConfirmed, "crowdsupport": CrowdsupportOrderConfirmed,
}


class SupervisionRestriction(SQLModel, table=True):
    """The latest order per target in this service; `suspended` is what the guard checks."""

    __tablename__ = "supervision_restrictions"

    target_type: str = Field(primary_key=True, max_length=20)
    target_id: str = Field(primary_key=True, max_length=64)
    suspended: bool
    order_id: str = Field(max_length=64)
    order_number: int
    reason: str = Field(max_length=2000)
    since: datetime = Field(sa_column=utc_column())


def create_supervision_table() -> None:
    """Migration helper for each obeying service."""
    op.create_table(
        "supervision_restrictions",
        sa.Column("target_type", sa.String(20), primary_key=True),
        sa.Column("target_id", sa.String(64), primary_key=True),
        sa.Column("suspended", sa.Boolean, nullable=False),
        sa.Column("order_id", sa.String(64), nullable=False),
        sa.Column("order_number", sa.Integer, nullable=False),
        sa.Column("reason", sa.String(2000), nullable=False),
        sa.Column("since", sa.DateTime(timezone=True), nullable=False),
    )


async def ensure_not_suspended(session: AsyncSession, target_type: str, target_id: str | None) -> None:
    """423 Locked naming the order and its reason when a regulator's order suspends this target."""
    if target_id is None:
        return
    row = await session.get(SupervisionRestriction, (target_type, target_id))
    if row is not None and row.suspended:
        raise DomainError(423, f"the {target_type} {target_id} is suspended by supervision order {row.order_id}: "
                               f"{row.reason}", rule="supervision_order", order_id=row.order_id,
                          reason=row.reason, target_type=target_type, target_id=target_id)


# The service's own effect of an order (beyond the restriction row): returns a note for the confirmation.
TargetEffect = Callable[[UnitOfWork, SupervisionOrderIssued, CloudEvent], Awaitable[str]]


def supervision_subscription(service: str, effects: dict[str, TargetEffect] | None = None) -> Subscription:
    """The handler every obeying service subscribes to `sizhong.supervision.orders` with."""
    obeyed = OBEYS[service]
    confirmation = CONFIRMATIONS[service]
    by_target = effects or {}

    async def obey(uow: UnitOfWork, event: CloudEvent, order: SupervisionOrderIssued) -> None:
        if order.target_type not in obeyed:
            return  # another service's target: nothing to do, nothing to confirm
        row = await uow.session.get(SupervisionRestriction, (order.target_type, order.target_id),
                                    with_for_update=True)
        if row is not None and row.order_id == order.order_id:
            return  # a re-sent order already applied here: its confirmation is already in the outbox
        applied, detail = True, ""
        if row is not None and row.order_number > order.number:
            applied, detail = False, f"superseded by the later order {row.order_id}"
        else:
            if row is None:
                row = SupervisionRestriction(target_type=order.target_type, target_id=order.target_id,
                                             suspended=False, order_id="", order_number=0, reason="",
                                             since=order.issued_at)
                uow.session.add(row)
            row.suspended = order.action == "suspend"
            row.order_id, row.order_number = order.order_id, order.number
            row.reason, row.since = order.reason[:2000], order.issued_at
            effect = by_target.get(order.target_type)
            if effect is not None:
                detail = await effect(uow, order, event)
        uow.publish(confirmation(order_id=order.order_id, target_type=order.target_type,
                                 target_id=order.target_id, action=order.action, applied=applied, detail=detail),
                    subject=order.order_id, actor=f"service:{service}", partition_key=order.target_id)

    return Subscription(SupervisionOrderIssued, obey)
