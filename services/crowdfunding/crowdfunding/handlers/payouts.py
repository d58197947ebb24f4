"""Issuing a declined payout or refund again. The money stays owed on its payable account until a payout for it is
executed, so a re-issue moves no money by itself: it closes the declined payout (`failed` -> `reissued`, by a
conditional UPDATE, so two reviewers at once re-issue it once) and opens a new one with its own idempotency key.
Only one payout of such a chain can ever be executed: the others are declined (not executed) or closed.

Who (`domain/reissue.py`): the founder re-issues the campaign's payouts to the founder; a reviewer re-issues refunds
(the backer's corrected instrument comes through support) and may also re-issue a founder payout. To the party the
declined payout was owed to (a founder's payout: the campaign's payout account as it stands, which an approved
redirection may have moved since), that is one person's act; to another payment party it is a request
(`ReissueRequest`, `payout.reissue_requested`, the owner's notice) that a second reviewer approves
(`handlers/reissue_requests.py`). While one is pending the payout is not re-issued otherwise; one not decided in
time lapses (`handlers/reissue_deadlines.py`).

Who sees them (`campaign_payouts`): reviewers, regulators and admins every row in full; the founder every row of
the campaign (their own payouts in full, with the provider's `failure` of a declined one), but a backer's refund
without the backer's payment instrument (`party`), payable `account` and `failure`; a backer only their own rows,
in full."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, func, text
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col, select

from crowdfunding import contracts as ev
from crowdfunding.domain import reissue as rules
from crowdfunding.handlers.common import campaign_for_update, payout_facts
from crowdfunding.handlers.reissue_deadlines import deadline, lapse_if_due
from crowdfunding.models import Campaign, Payout, ReissueRequest
from shared.auth import Principal
from shared.db import UTCDateTime
from shared.ids import new_id
from shared.problems import DomainError
from shared.uow import UnitOfWork

SEE_ALL_PAYOUTS = ("reviewer", "regulator", "admin")
# The payee's payment instrument, payable account and why the provider declined paying it (about the instrument).
_PRIVATE = ("party", "account", "failure")

_CLOSE = text("UPDATE campaign_payouts SET status = 'reissued', settled_at = :at WHERE id = :id AND status = 'failed'"
              ).bindparams(bindparam("at", type_=UTCDateTime()))


async def locked_payout(uow: UnitOfWork, payout_id: str) -> tuple[Campaign, Payout]:
    """The payout's campaign, then the payout, both locked (campaign before its rows, as everywhere)."""
    campaign_id = (await uow.session.execute(select(Payout.campaign_id).where(Payout.id == payout_id))).scalar()
    if campaign_id is None:
        raise DomainError(404, f"payout {payout_id} not found", field="payout_id")
    campaign = await campaign_for_update(uow, campaign_id)
    payout = (await uow.session.execute(select(Payout).where(Payout.id == payout_id).with_for_update())).scalars().one()
    return campaign, payout


def must_be_declined(payout: Payout) -> None:
    if payout.status != "failed":
        raise DomainError(409, f"the payout is {payout.status!r}; only a declined (failed) one is issued again",
                          current_state=payout.status)


async def _pending_request(uow: UnitOfWork, payout_id: str, now: datetime) -> ReissueRequest | None:
    """The payout's request still pending; one past its deadline lapses here (in this transaction) instead."""
    pending = (await uow.session.execute(select(ReissueRequest).where(
        ReissueRequest.payout_id == payout_id, ReissueRequest.state == "pending").with_for_update())).scalars().first()
    if pending is not None and await lapse_if_due(uow, pending, now):
        return None
    return pending


async def issue_again(uow: UnitOfWork, old: Payout, party: str, why: str, actor: str, now: datetime) -> Payout:
    """Close the declined payout (once: a 409 when it was closed meanwhile) and open its successor to `party`."""
    must_be_declined(old)
    if (await uow.session.execute(_CLOSE, {"id": old.id, "at": now})).rowcount != 1:  # type: ignore[attr-defined]
        raise DomainError(409, "the payout was issued again meanwhile", current_state="reissued")
    issued = (await uow.session.execute(select(func.count()).select_from(Payout).where(
        Payout.cause == old.cause, Payout.kind == old.kind))).scalar_one()
    new = Payout(id=new_id(), campaign_id=old.campaign_id, pledge_id=old.pledge_id, kind=old.kind,
                 party_id=old.party_id, party=party, account=old.account, currency=old.currency,
                 amount_fen=old.amount_fen, idempotency_key=f"{old.cause}/{old.kind}/r{issued}", cause=old.cause,
                 status="pending", reissue_of=old.id, created_at=now)
    uow.session.add(new)
    uow.publish(ev.PayoutReissued(**payout_facts(new), reissue_of=old.id, why=why),
                subject=new.campaign_id, actor=actor, partition_key=new.party_id)
    return new


async def reissue(uow: UnitOfWork, principal: Principal, payout_id: str, party: str | None, why: str,
                  now: datetime) -> Payout | ReissueRequest:
    """The new payout (to the party it was owed to), or a pending request (to another party: four eyes)."""
    campaign, old = await locked_payout(uow, payout_id)
    if not rules.may_reissue(principal.roles, principal.subject, old.kind, old.party_id, campaign.founder_id):
        raise DomainError(403, "a refund is re-issued by a reviewer; a payout by its founder or a reviewer")
    must_be_declined(old)
    pending = await _pending_request(uow, old.id, now)
    if pending is not None:
        raise DomainError(409, "a re-issue of this payout to another party awaits a second reviewer: approve or "
                               "reject it first", current_state="reissue_requested", request_id=pending.id)
    owed = rules.owed_to(old.kind, old.party, campaign.payout_party)
    if party is None or not rules.redirected(owed, party):
        new = await issue_again(uow, old, owed, why, principal.subject, now)
        await uow.commit()
        return new
    request = ReissueRequest(id=new_id(), payout_id=old.id, campaign_id=old.campaign_id, kind=old.kind,
                             party_id=old.party_id, from_party=old.party, party=party, currency=old.currency,
                             amount_fen=old.amount_fen, why=why, requested_by=principal.subject, requested_at=now,
                             expires_at=await deadline(uow, now))
    uow.session.add(request)
    uow.publish(ev.PayoutReissueRequested(**payout_facts(old), request_id=request.id,
                                          from_party_masked=rules.mask_instrument(old.party),
                                          to_party_masked=rules.mask_instrument(party), why=why),
                subject=old.campaign_id, actor=principal.subject, partition_key=old.party_id)
    await uow.commit()
    return request


def shown_to(viewer: str, sees_all: bool, payout: Payout) -> dict[str, Any]:
    """The row as this viewer sees it: in full if it pays them or they supervise, else without the payee's payment
    instrument, account and decline reason (None), so a founder sees who was refunded how much, not how."""
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
