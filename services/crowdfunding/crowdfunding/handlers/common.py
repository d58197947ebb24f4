"""What every command shares: loading rows for update, the one `move` of the campaign state machine (state,
history row and event in the same transaction) and the replica look-ups (verification, related parties)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import func
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import select

from crowdfunding import contracts as ev
from crowdfunding.domain.campaign import CampaignState, step
from crowdfunding.models import Campaign, CampaignTransition, Payout, Pledge
from shared.auth import Principal
from shared.ids import new_id
from shared.listings import is_blacklisted as is_blacklisted  # the joint-punishment check (联合奖惩)
from shared.problems import DomainError
from shared.replica import SubjectReplica
from shared.uow import UnitOfWork

SYSTEM = "system:crowdfunding"
S = CampaignState
TRANSITION_EVENTS: dict[CampaignState, type[ev._Transition]] = {
    S.SUBMITTED: ev.CampaignSubmitted, S.NEEDS_WORK: ev.CampaignReturned, S.REJECTED: ev.CampaignRejected,
    S.APPROVED: ev.CampaignApproved, S.LIVE: ev.CampaignLaunched, S.WAITING_FUNDS: ev.CampaignAwaitingFunds,
    S.SUCCESSFUL: ev.CampaignSucceeded, S.FAILED: ev.CampaignFailed, S.FULFILLING: ev.CampaignFulfilmentStarted,
    S.FULFILLED: ev.CampaignFulfilled, S.SUSPENDED: ev.CampaignSuspended, S.CANCELLED: ev.CampaignCancelled,
}


async def campaign_for_update(uow: UnitOfWork, campaign_id: str, field: str = "campaign_id") -> Campaign:
    campaign = (await uow.session.execute(
        select(Campaign).where(Campaign.id == campaign_id).with_for_update())).scalars().first()
    if campaign is None:
        raise DomainError(404, f"campaign {campaign_id} not found", field=field)
    return campaign


async def pledge_for_update(uow: UnitOfWork, pledge_id: str) -> Pledge:
    pledge = (await uow.session.execute(
        select(Pledge).where(Pledge.id == pledge_id).with_for_update())).scalars().first()
    if pledge is None:
        raise DomainError(404, f"pledge {pledge_id} not found", field="pledge_id")
    return pledge


async def lock_pledge(uow: UnitOfWork, pledge_id: str) -> tuple[Campaign, Pledge]:
    """The pledge's campaign, then the pledge, both locked: always in this order (as the jobs lock a campaign
    before its pledges), so two commands never deadlock on PostgreSQL."""
    campaign_id = (await uow.session.execute(select(Pledge.campaign_id).where(Pledge.id == pledge_id))).scalar()
    if campaign_id is None:
        raise DomainError(404, f"pledge {pledge_id} not found", field="pledge_id")
    campaign = await campaign_for_update(uow, campaign_id)
    return campaign, await pledge_for_update(uow, pledge_id)


def own(campaign: Campaign, subject: str, *, admin: bool = False) -> None:
    if campaign.founder_id != subject and not admin:
        raise DomainError(403, "not the founder of this campaign")


async def move(uow: UnitOfWork, campaign: Campaign, target: CampaignState, actor: str, why: str, now: datetime,
               **facts: object) -> None:
    """One step of the state machine: the state, a history row (who, when, why) and the event, together."""
    before = campaign.state
    step(before, target)
    event_type = TRANSITION_EVENTS[target]
    if before == S.SUSPENDED and target is S.LIVE:
        event_type = ev.CampaignReinstated
    campaign.state, campaign.state_since, campaign.updated_at = target.value, now, now
    seq = (await uow.session.execute(select(func.count()).select_from(CampaignTransition).where(
        CampaignTransition.campaign_id == campaign.id))).scalar_one() + 1
    uow.session.add(CampaignTransition(id=new_id(), campaign_id=campaign.id, seq=seq, from_state=before,
                                       to_state=target.value, actor=actor, why=why[:2000], at=now))
    uow.publish(event_type(campaign_id=campaign.id, founder_id=campaign.founder_id, kind=campaign.kind,
                           funding_mode=campaign.funding_mode, from_state=before, to_state=target.value, why=why,
                           policy_version=campaign.policy_version, **facts),
                subject=campaign.id, actor=actor, partition_key=partition(campaign))


def partition(campaign: Campaign) -> str:
    return campaign.organisation_id or campaign.founder_id


def organisation_unknown(organisation_id: str) -> DomainError:
    """An organisation the subject replica does not know (yet) cannot be checked as the caller's, so it is refused,
    never let through unchecked (anyone could attach a campaign or pledge to another's organisation id before its
    registration event arrives). Its registration may still be on its way: the client retries."""
    return DomainError(409, f"organisation {organisation_id} is not known here yet, so it cannot be checked as "
                            "yours; if it was registered just now, its registration may still be on its way: "
                            "retry shortly", field="organisation_id", rule="organisation_unknown")


async def ensure_own_organisation(uow: UnitOfWork, principal: Principal, organisation_id: str | None) -> None:
    """The campaign's organisation must be the founder's: unknown is 409 `organisation_unknown`, another's 403."""
    if organisation_id is None:
        return
    organisation = await uow.session.get(SubjectReplica, organisation_id)
    if organisation is None:
        raise organisation_unknown(organisation_id)
    if organisation.owner_id != principal.subject:
        raise DomainError(403, "the organisation is not yours", field="organisation_id")


async def founder_verified(uow: UnitOfWork, campaign: Campaign) -> bool:
    """Real-name verified, from the gateway's identity.person/organisation.verified events kept on the subject
    replica: the founder owns the campaign's organisation (if any), and the founder's resident identity number or
    that organisation's code has been verified."""
    if campaign.organisation_id is not None:
        organisation = await uow.session.get(SubjectReplica, campaign.organisation_id)
        if organisation is None or organisation.owner_id != campaign.founder_id:
            return False
        if organisation.verified_at is not None:
            return True
    person = await uow.session.get(SubjectReplica, campaign.founder_id)
    return person is not None and person.verified_at is not None


async def organisations_of(session: AsyncSession, subject_id: str) -> list[str]:
    return list((await session.execute(
        select(SubjectReplica.subject_id).where(SubjectReplica.owner_id == subject_id))).scalars())


def payout_facts(payout: Payout) -> dict[str, Any]:
    """The fields every payout event carries (`contracts._PayoutFacts`), from the payout row."""
    return dict(payout_id=payout.id, campaign_id=payout.campaign_id, pledge_id=payout.pledge_id, kind=payout.kind,
                party_id=payout.party_id, currency=payout.currency, amount_fen=payout.amount_fen,
                idempotency_key=payout.idempotency_key)
