"""What every crowd-support command shares: the system actor, role overrides, small lookups."""

from __future__ import annotations

from datetime import datetime
from typing import TypeVar

from sqlmodel import SQLModel

from crowdsupport.models import VoucherFields
from shared.auth import Principal
from shared.booking.rules import PLATFORM_ZONE
from shared.problems import DomainError
from shared.uow import EventData, UnitOfWork

SYSTEM = "system:crowdsupport"
ADMIN = ("admin",)
READERS = ("admin", "regulator")
M = TypeVar("M", bound=SQLModel)


def lines(text: str) -> list[str]:
    return [line for line in text.split("\n") if line]


def local_year(moment: datetime) -> int:
    """The calendar year in Asia/Shanghai (caps run per local year)."""
    return moment.astimezone(PLATFORM_ZONE).year


async def found(uow: UnitOfWork, model: type[M], key: str, field: str, *, lock: bool = False) -> M:
    row = await uow.session.get(model, key, with_for_update=lock)
    if row is None:
        raise DomainError(404, f"{field.removesuffix('_id')} {key} not found", field=field)
    return row


def owner_or_admin(principal: Principal, owner_id: str, field: str, what: str) -> None:
    if principal.subject != owner_id and not principal.has_any(*ADMIN):
        raise DomainError(403, f"only {what} may do this", field=field)


def publish_voucher_event(uow: UnitOfWork, voucher: VoucherFields, actor: str, data: EventData) -> None:
    """Every event of one voucher is keyed by its holder, the enterprise (whose credit record it may touch), never
    by the provider: one partition, so a consumer sees them in order (an approval before its payout's decline, the
    decline before its re-issue, a claw-back after the voiding)."""
    uow.publish(data, subject=voucher.id, actor=actor, partition_key=voucher.enterprise_id)
