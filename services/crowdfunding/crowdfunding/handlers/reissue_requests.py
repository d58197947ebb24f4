"""Deciding a request to re-issue a declined payout or refund to another payment party (four eyes; opened by
`payouts.reissue`). Approval is a second reviewer's (never the requester's): it closes the declined payout and opens
the new one in the same transaction, and tells the owner (`payout.redirected`). An approved founder payout also moves
the campaign's payout account (`payout_party`, with the request and its approver), so the held tranche released later
goes to the new account, not the closed one (`campaign.payout_account_changed`). The request moves out of `pending`
by a conditional UPDATE under the campaign's lock, so two approvals at once (or an approval racing a rejection)
decide it once, and the money is paid once by the new payout's idempotency key."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col, select

from crowdfunding import contracts as ev
from crowdfunding.domain import reissue as rules
from crowdfunding.handlers.common import campaign_for_update, partition, payout_facts
from crowdfunding.handlers.payouts import issue_again, locked_payout
from crowdfunding.handlers.reissue_deadlines import POLICY, decide, lapse_if_due
from crowdfunding.models import Campaign, Payout, ReissueRequest
from shared.auth import Principal
from shared.problems import DomainError
from shared.uow import UnitOfWork


async def _locked_request(uow: UnitOfWork, request_id: str) -> tuple[Campaign, ReissueRequest]:
    campaign_id = (await uow.session.execute(select(ReissueRequest.campaign_id).where(
        ReissueRequest.id == request_id))).scalar()
    if campaign_id is None:
        raise DomainError(404, f"re-issue request {request_id} not found", field="request_id")
    campaign = await campaign_for_update(uow, campaign_id)  # the campaign before its rows, as everywhere
    return campaign, (await uow.session.execute(select(ReissueRequest).where(ReissueRequest.id == request_id)
                                                .with_for_update())).scalars().one()


async def _decide(uow: UnitOfWork, request: ReissueRequest, state: str, by: str, note: str, now: datetime) -> None:
    """A person's decision, once; an overdue request lapses instead (committed: the expiry stands) and it is a 409."""
    if await lapse_if_due(uow, request, now):
        await uow.commit()
        raise DomainError(409, f"the re-issue request expired at {request.expires_at:%Y-%m-%dT%H:%M:%S%z} (not "
                               f"decided within {POLICY.reissue_request_working_days} working days); nothing "
                               "moved: re-issue the payout again", current_state="expired")
    await decide(uow, request, state, by, note, now)


async def expire(uow: UnitOfWork, request_id: str, now: datetime) -> int:
    """The `reissue-expiry` job's command: the request lapses if it is still pending past its deadline."""
    _, request = await _locked_request(uow, request_id)
    lapsed = await lapse_if_due(uow, request, now)
    await uow.commit()  # a request made before deadlines existed keeps the deadline it was given
    return int(lapsed)


async def approve(uow: UnitOfWork, principal: Principal, request_id: str, note: str, now: datetime) -> Payout:
    """A second reviewer approves: the new payout to the requested party, and the owner's notice."""
    campaign, request = await _locked_request(uow, request_id)
    if not rules.may_approve(principal.roles, principal.subject, request.requested_by):
        raise DomainError(403, "a re-issue to another party is approved by a second reviewer, not its requester")
    await _decide(uow, request, "approved", principal.subject, note, now)
    _, old = await locked_payout(uow, request.payout_id)
    new = await issue_again(uow, old, request.party, request.why, principal.subject, now)
    request.new_payout_id = new.id
    uow.publish(ev.PayoutRedirected(**payout_facts(new), request_id=request.id, reissue_of=old.id,
                                    requested_by=request.requested_by, approved_by=principal.subject,
                                    from_party_masked=rules.mask_instrument(request.from_party),
                                    to_party_masked=rules.mask_instrument(request.party), why=request.why),
                subject=new.campaign_id, actor=principal.subject, partition_key=new.party_id)
    if rules.becomes_payout_account(request.kind) and campaign.payout_party != request.party:
        _move_payout_account(uow, campaign, request, new, principal.subject, now)
    await uow.commit()
    return new


def _move_payout_account(uow: UnitOfWork, campaign: Campaign, request: ReissueRequest, new: Payout, approver: str,
                         now: datetime) -> None:
    """The approved account is where the founder is paid from now on (the held tranche, later re-issues), recorded
    with the request and its approver; the founder is told."""
    before = campaign.payout_party
    campaign.payout_party, campaign.payout_party_request_id = request.party, request.id
    campaign.payout_party_approved_by, campaign.payout_party_changed_at, campaign.updated_at = approver, now, now
    uow.publish(ev.CampaignPayoutAccountChanged(campaign_id=campaign.id, founder_id=campaign.founder_id,
                                                request_id=request.id, payout_id=new.id,
                                                requested_by=request.requested_by, approved_by=approver,
                                                from_party_masked=rules.mask_instrument(before),
                                                to_party_masked=rules.mask_instrument(request.party),
                                                why=request.why),
                subject=campaign.id, actor=approver, partition_key=partition(campaign))


async def reject(uow: UnitOfWork, principal: Principal, request_id: str, note: str,
                 now: datetime) -> ReissueRequest:
    """A reviewer rejects, or the requester withdraws: nothing moves; the payout may be re-issued again."""
    _, request = await _locked_request(uow, request_id)
    if not rules.may_reject(principal.roles, principal.subject, request.requested_by):
        raise DomainError(403, "a re-issue request is rejected by a reviewer or withdrawn by its requester")
    await _decide(uow, request, "rejected", principal.subject, note, now)
    uow.publish(ev.PayoutReissueRejected(request_id=request.id, payout_id=request.payout_id,
                                         campaign_id=request.campaign_id, kind=request.kind,
                                         party_id=request.party_id, why=note),
                subject=request.campaign_id, actor=principal.subject, partition_key=request.party_id)
    await uow.commit()
    return request


async def requests(session: AsyncSession, state: str, limit: int, offset: int) -> list[ReissueRequest]:
    """The requests in `state`, oldest first (the second reviewers' queue)."""
    rows = await session.execute(select(ReissueRequest).where(ReissueRequest.state == state)
                                 .order_by(col(ReissueRequest.requested_at), col(ReissueRequest.id))
                                 .limit(limit).offset(offset))
    return list(rows.scalars())
