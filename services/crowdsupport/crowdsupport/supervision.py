"""Crowd-support obeys supervision orders (监管指令): a programme order also flips the programme's own
`suspended` flag, which every voucher command checks (`guards.ensure_programme_active`), and which keeps a
suspended programme out of cross-region recognition. Subject orders only set the restriction row, which the
guards check for every voucher and booking command."""

from __future__ import annotations

from crowdsupport.models import Programme
from shared.consumer import Subscription
from shared.envelope import CloudEvent
from shared.supervision import SupervisionOrderIssued, supervision_subscription
from shared.uow import UnitOfWork


async def programme_order(uow: UnitOfWork, order: SupervisionOrderIssued, event: CloudEvent) -> str:
    programme = await uow.session.get(Programme, order.target_id, with_for_update=True)
    if programme is None:
        return "no such programme here; the restriction is kept for it"
    programme.suspended = order.action == "suspend"
    return "programme suspended" if programme.suspended else "programme reinstated"


def supervision() -> Subscription:
    return supervision_subscription("crowdsupport", {"programme": programme_order})
