"""Issuing a declined payout or refund again. The money stays owed on its payable account until a payout for it is
executed, so a re-issue moves no money by itself: it closes the declined payout (`failed` -> `reissued`, by a
conditional UPDATE, so two reviewers at once re-issue it once) and opens a new one with its own idempotency key,
to the party given (a corrected account) or the same one. Only one payout of such a chain can ever be executed:
the others are declined (not executed) or closed.

Who: the founder re-issues the campaign's payouts to the founder; a reviewer re-issues refunds (the backer's
corrected instrument comes through support) and may also re-issue a founder payout.

Who sees them (`campaign_payouts`): reviewers, regulators and admins every row in full; the founder every row of
the campaign, but a backer's refund without the backer's payment instrument (`party`) and payable `account`; a
backer only their own rows."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, func, text
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col, select

from crowdfunding import contracts as ev
from crowdfunding.handlers.common import campaign_for_update, payout_facts
from crowdfunding.models import Campaign, Payout
from shared.auth import Principal
from shared.db import UTCDateTime
from shared.ids import new_id
from shared.problems import DomainError
from shared.uow import UnitOfWork

SEE_ALL_PAYOUTS = ("reviewer", "regulator", "admin")
_PRIVATE = ("party", "account")  # the payee's payment instrument and payable account

_CLOSE = text("UPDATE campaign_payouts SET status = 'reissued', settled_at = :at WHERE id = :id AND status = 'failed'"
              ).bindparams(bindparam("at", type_=UTCDateTime()))


def _authorise(principal: Principal, payout: Payout, founder_id: str) -> None:
    if principal.has_any("reviewer"):
        return
    if payout.kind == "payout" and principal.subject == founder_id and payout.party_id == founder_id:
        return
    raise DomainError(403, "a refund is re-issued by a reviewer; a payout by its founder or a reviewer")


async def reissue(uow: UnitOfWork, principal: Principal, payout_id: str, party: str | None, why: str,
                  now: datetime) -> Payout:
    campaign_id = (await uow.session.execute(select(Payout.campaign_id).where(Payout.id == payout_id))).scalar()
    if campaign_id is None:
        raise DomainError(404, f"payout {payout_id} not found", field="payout_id")
    campaign = await campaign_for_update(uow, campaign_id)  # campaign before its rows, as everywhere
    old = (await uow.session.execute(select(Payout).where(Payout.id == payout_id).with_for_update())).scalars().one()
    _authorise(principal, old, campaign.founder_id)
    if old.status != "failed":
        raise DomainError(409, f"the payout is {old.status!r}; only a declined (failed) one is issued again",
                          current_state=old.status)
    if (await uow.session.execute(_CLOSE, {"id": old.id, "at": now})).rowcount != 1:  # type: ignore[attr-defined]
        raise DomainError(409, "the payout was issued again meanwhile", current_state="reissued")
    issued = (await uow.session.execute(select(func.count()).select_from(Payout).where(
        Payout.cause == old.cause, Payout.kind == old.kind))).scalar_one()
    new = Payout(id=new_id(), campaign_id=old.campaign_id, pledge_id=old.pledge_id, kind=old.kind,
                 party_id=old.party_id, party=party or old.party, account=old.account, currency=old.currency,
                 amount_fen=old.amount_fen, idempotency_key=f"{old.cause}/{old.kind}/r{issued}", cause=old.cause,
                 status="pending", reissue_of=old.id, created_at=now)
    uow.session.add(new)
    uow.publish(ev.PayoutReissued(**payout_facts(new), reissue_of=old.id, why=why),
                subject=new.campaign_id, actor=principal.subject, partition_key=new.party_id)
    await uow.commit()
    return new


def shown_to(viewer: str, sees_all: bool, payout: Payout) -> dict[str, Any]:
    """The row as this viewer sees it: in full if it pays them or they supervise, else without the payee's payment
    instrument and account (None), so a founder sees who was refunded how much, not how."""
    row = payout.model_dump()
    if not sees_all and payout.party_id != viewer:
        row.update(dict.fromkeys(_PRIVATE))
    return row


async def campaign_payouts(session: AsyncSession, principal: Principal, campaign_id: str) -> list[dict[str, Any]]:
    """The campaign's payouts and refunds, oldest first, as `principal` may see them (module docstring)."""
    campaign = await session.get(Campaign, campaign_id)
    if campaign is None:
        raise DomainError(404, f"campaign {campaign_id} not found", field="campaign_id")
    sees_all = principal.has_any(*SEE_ALL_PAYOUTS)
    query = select(Payout).where(Payout.campaign_id == campaign_id)
    if not sees_all and principal.subject != campaign.founder_id:
        query = query.where(Payout.party_id == principal.subject)
    rows = (await session.execute(query.order_by(col(Payout.created_at), col(Payout.id)))).scalars().all()
    return [shown_to(principal.subject, sees_all, row) for row in rows]
