"""Joint punishments and supervision (联合奖惩, 监管指令): the one place crowd-support asks "may this subject
redeem a voucher / book?" and "is this programme suspended?".

The black list comes from the local replica of credit's listings (`shared.listings`, kept from
`cn.sizhong.credit.listing.current.v1`), never from a call to credit on the request path; regulators' orders
from the local restriction replica (`shared.supervision`) and, for a programme, its own `suspended` flag that
the order sets (`crowdsupport.supervision`). Every path that
needs a check calls these functions, so the wiring is here and nowhere else.
"""

from __future__ import annotations

from crowdsupport.models import Programme
from shared.listings import ensure_not_blacklisted
from shared.problems import DomainError
from shared.supervision import ensure_not_suspended
from shared.uow import UnitOfWork


async def ensure_programme_active(uow: UnitOfWork, programme: Programme) -> None:
    """Refuse any voucher action on a suspended programme: 423 naming the regulator's order, or 409 naming the
    state if the flag was set otherwise."""
    await ensure_not_suspended(uow.session, "programme", programme.id)
    if programme.suspended:
        raise DomainError(409, f"programme {programme.id} is suspended", field="programme_id",
                          current_state="suspended")


async def _ensure_may(uow: UnitOfWork, subject_id: str, action: str) -> None:
    """Neither a regulator's order on the subject nor a black listing (the refusal names `action`)."""
    await ensure_not_suspended(uow.session, "subject", subject_id)
    await ensure_not_blacklisted(uow.session, subject_id, action)


async def ensure_may_hold_voucher(uow: UnitOfWork, enterprise_id: str) -> None:
    """A blacklisted enterprise may not apply for vouchers."""
    await _ensure_may(uow, enterprise_id, "applying for an innovation voucher")


async def ensure_may_redeem(uow: UnitOfWork, subject_id: str) -> None:
    """A blacklisted provider or enterprise may not redeem a voucher."""
    await _ensure_may(uow, subject_id, "redeeming an innovation voucher")


async def ensure_may_book(uow: UnitOfWork, subject_id: str) -> None:
    """A blacklisted subject may not book an instrument or a mentor."""
    await _ensure_may(uow, subject_id, "booking")
