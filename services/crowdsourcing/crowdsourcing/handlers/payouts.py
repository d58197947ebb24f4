"""Payouts: an admin re-issues a declined payout or refund under a new idempotency key."""

from __future__ import annotations

from datetime import datetime

from sqlmodel import col, select

from crowdsourcing import contracts as ev
from crowdsourcing.models import Payout
from shared.auth import Principal
from shared.ids import new_id
from shared.problems import DomainError
from shared.uow import UnitOfWork


async def reissue_payout(uow: UnitOfWork, principal: Principal, payout_id: str, now: datetime) -> Payout:
    """An admin re-issues a declined payout or refund (the payee's account was closed, say): a new `Payout` from
    the same payable account, for the same amount, with a new idempotency key `<original key>/retry-N`. The
    declined one becomes `reissued`, so it is re-issued once; the money never left the payable meanwhile."""
    if not principal.has_any("admin"):
        raise DomainError(403, "only an admin re-issues a payout", field="payout_id")
    old = (await uow.session.execute(
        select(Payout).where(Payout.id == payout_id).with_for_update())).scalars().first()
    if old is None:
        raise DomainError(404, f"payout {payout_id} not found", field="payout_id")
    if old.status != "failed":
        raise DomainError(409, f"the payout is {old.status!r}; only a declined one is re-issued",
                          field="payout_id", current_state=old.status, rule="illegal_transition")
    original = f"{old.cause}/{old.kind}"
    earlier = (await uow.session.execute(select(Payout.id).where(
        col(Payout.idempotency_key).startswith(f"{original}/retry-", autoescape=True)))).all()
    payout = Payout(id=new_id(), task_id=old.task_id, kind=old.kind, party_id=old.party_id, account=old.account,
                    currency=old.currency, amount_fen=old.amount_fen,
                    idempotency_key=f"{original}/retry-{len(earlier) + 1}", cause=old.cause, created_at=now)
    old.status = "reissued"
    uow.session.add(payout)
    uow.publish(ev.PayoutReissued(payout_id=payout.id, task_id=payout.task_id, kind=payout.kind,
                                  party_id=payout.party_id, currency=payout.currency, amount_fen=payout.amount_fen,
                                  idempotency_key=payout.idempotency_key, replaces_payout_id=old.id,
                                  replaces_idempotency_key=old.idempotency_key, reissued_by=principal.subject),
                subject=payout.task_id, actor=principal.subject, partition_key=payout.party_id)
    await uow.commit()
    return payout
