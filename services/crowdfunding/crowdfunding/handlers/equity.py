"""Equity offering commands: investor profiles, investments decided by the investor-protection engine (every
decision, allowed or not, is an event with its rule, figures and policy version), revocation (reflection
period, 48-hour cutoff), reconfirmation after a material change, early close."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import and_, col, or_, select

from crowdfunding import contracts as ev
from crowdfunding.domain.campaign import CampaignKind, CampaignState
from crowdfunding.domain.equity import (
    Decision,
    InvestmentContext,
    InvestorFacts,
    Profile,
    Total,
    decide_cancellation,
    decide_early_close,
    decide_investment,
    decide_visibility,
    twelve_month_total,
)
from crowdfunding.handlers.common import (
    campaign_for_update,
    is_blacklisted,
    lock_pledge,
    own,
    partition,
)
from crowdfunding.handlers.placing import (
    Placed,
    PledgeInput,
    check_parties,
    ensure_open,
    insert_pledge,
    obeys_orders,
)
from crowdfunding.models import Campaign, InvestorProfile, Pledge
from shared.auth import Principal
from shared.problems import DomainError
from shared.replica import is_real_name_verified
from shared.uow import UnitOfWork

ACTIVE = ("pending", "paid")
YEAR = timedelta(days=365)


@dataclass(frozen=True)
class ProfileInput:
    kind: str
    currency: str
    annual_income: int
    net_worth: int
    financial_assets: int = 0
    entity_net_assets: int = 0
    accredited: bool = False
    sophisticated: bool = False
    knowledge_test_passed_at: datetime | None = None
    loss_simulation_at: datetime | None = None


async def save_profile(uow: UnitOfWork, principal: Principal, data: ProfileInput, now: datetime) -> InvestorProfile:
    row = await uow.session.get(InvestorProfile, principal.subject)
    if row is None:
        row = InvestorProfile(investor_id=principal.subject, updated_at=now, **data.__dict__)
        uow.session.add(row)
    else:
        for key, value in data.__dict__.items():
            setattr(row, key, value)
        row.updated_at = now
    uow.publish(ev.InvestorProfileUpdated(investor_id=row.investor_id, kind=row.kind, currency=row.currency,
                                          accredited=row.accredited, sophisticated=row.sophisticated),
                subject=row.investor_id, actor=principal.subject)
    await uow.commit()
    return row


async def facts_of(session: AsyncSession, investor_id: str) -> InvestorFacts | None:
    row = await session.get(InvestorProfile, investor_id)
    if row is None:
        return None
    return InvestorFacts(kind="entity" if row.kind == "entity" else "person",
                         verified=await is_real_name_verified(session, investor_id), currency=row.currency,
                         annual_income=row.annual_income, net_worth=row.net_worth,
                         financial_assets=row.financial_assets, entity_net_assets=row.entity_net_assets,
                         accredited=row.accredited, sophisticated=row.sophisticated,
                         knowledge_test_passed_at=row.knowledge_test_passed_at,
                         loss_simulation_at=row.loss_simulation_at,
                         blacklisted=await is_blacklisted(session, investor_id))


def profile_of(campaign: Campaign) -> Profile:
    return Profile(campaign.equity_profile or Profile.CN)


async def visibility(session: AsyncSession, principal: Principal, campaign: Campaign,
                     intended_amount: int | None = None) -> Decision:
    facts = await facts_of(session, principal.subject) or InvestorFacts()
    return decide_visibility(profile_of(campaign), facts, intended_amount=intended_amount)


async def _twelve_months(uow: UnitOfWork, currency: str, since: datetime, *where: Any) -> Total:
    """Active investments in every equity offering (whatever its profile) placed since `since`, per currency,
    as one total in `currency` at the policy's reference rates."""
    rows = (await uow.session.execute(
        select(Pledge.currency, func.sum(Pledge.amount_fen)).join(Campaign, col(Campaign.id) == col(Pledge.campaign_id))
        .where(Pledge.kind == CampaignKind.EQUITY.value, col(Pledge.state).in_(ACTIVE), col(Pledge.placed_at) > since,
               *where).group_by(Pledge.currency))).all()
    return twelve_month_total(currency, {code: int(amount) for code, amount in rows})


def _of_issuer(founder_id: str, organisation_id: str | None) -> Any:
    """Campaigns of one issuer (the project owner): the founder's, or its organisation's."""
    if organisation_id is None:
        return Campaign.founder_id == founder_id
    return or_(Campaign.founder_id == founder_id, Campaign.organisation_id == organisation_id)


async def _lock_for_investment(uow: UnitOfWork, principal: Principal, campaign_id: str) -> Campaign:
    """The offering and every other live equity offering of its issuer (founder or organisation), locked for update
    in id order, then the investor's profile. The investor's 12-month limit and the issuer's cap count investments
    across offerings, so two investments that count against one total serialise (on PostgreSQL; SQLite has one
    writer) and the second is decided on the first; campaigns in one order, so they never deadlock."""
    issuer = (await uow.session.execute(select(Campaign.founder_id, Campaign.organisation_id).where(
        Campaign.id == campaign_id))).first()
    if issuer is None:
        raise DomainError(404, f"campaign {campaign_id} not found", field="campaign_id")
    locked = (await uow.session.execute(select(Campaign).where(or_(
        Campaign.id == campaign_id,
        and_(Campaign.kind == CampaignKind.EQUITY.value, Campaign.state == CampaignState.LIVE.value,
             _of_issuer(issuer.founder_id, issuer.organisation_id))))
        .order_by(col(Campaign.id)).with_for_update())).scalars().all()
    await uow.session.execute(select(InvestorProfile.investor_id).where(
        InvestorProfile.investor_id == principal.subject).with_for_update())
    [campaign] = [c for c in locked if c.id == campaign_id]
    return campaign


async def invest(uow: UnitOfWork, principal: Principal, campaign_id: str, amount: int, data: PledgeInput,
                 now: datetime) -> tuple[Decision, Placed | None]:
    campaign = await _lock_for_investment(uow, principal, campaign_id)
    if campaign.kind != CampaignKind.EQUITY:
        raise DomainError(409, "a reward campaign takes pledges", current_state=campaign.state)
    await obeys_orders(uow, campaign, principal)
    ensure_open(campaign, now)
    await check_parties(uow, principal, campaign, data.organisation_id)
    facts = await facts_of(uow.session, principal.subject)
    if facts is None:
        raise DomainError(422, "an investor profile is required first (PUT /investors/me/profile)",
                          field="investor_profile")
    profile = profile_of(campaign)
    since = now - YEAR
    invested = await _twelve_months(uow, campaign.currency, since, Pledge.backer_id == principal.subject)
    raised = await _twelve_months(uow, campaign.currency, since,
                                  _of_issuer(campaign.founder_id, campaign.organisation_id))
    investors = (await uow.session.execute(select(func.count(func.distinct(Pledge.backer_id))).where(
        Pledge.campaign_id == campaign.id, col(Pledge.state).in_(ACTIVE)))).scalar_one()
    mine_here = (await uow.session.execute(select(Pledge.id).where(
        Pledge.campaign_id == campaign.id, Pledge.backer_id == principal.subject,
        col(Pledge.state).in_(ACTIVE)))).first()
    context = InvestmentContext(
        amount=amount, now=now,
        invested_last_12_months=invested.amount, issuer_raised_last_12_months=raised.amount,
        offering_investors=int(investors), already_invested_here=mine_here is not None, consent_given=data.consent,
        totals={"investor": invested.figures, "issuer": raised.figures})
    decision = decide_investment(profile, facts, context)
    uow.publish(ev.InvestmentDecided(campaign_id=campaign.id, investor_id=principal.subject, amount_fen=amount,
                                     outcome=decision.outcome, rule=decision.rule, profile=decision.profile,
                                     policy_version=decision.policy_version, figures=decision.figures),
                subject=campaign.id, actor=principal.subject, partition_key=principal.subject)
    if not decision.allowed:
        await uow.commit()
        return decision, None
    pledge = await insert_pledge(uow, principal, campaign, amount, data, now, decision_rule=decision.rule,
                                 policy_version=decision.policy_version)
    return decision, pledge


async def check_revocation(uow: UnitOfWork, campaign: Campaign, pledge: Pledge, now: datetime) -> str:
    if campaign.state not in (CampaignState.LIVE, CampaignState.WAITING_FUNDS) or campaign.deadline is None:
        raise DomainError(409, f"the offering is in state {campaign.state!r}; commitments are revoked while it is "
                               "open", current_state=campaign.state)
    facts = await facts_of(uow.session, pledge.backer_id) or InvestorFacts()
    decision = decide_cancellation(profile_of(campaign), now, campaign.deadline, pledge.placed_at,
                                   sophisticated=facts.sophisticated)
    if not decision.allowed:
        raise DomainError(409, decision.message, rule=decision.rule, decision=decision.as_dict(),
                          current_state=pledge.state)
    return "revoked_reflection_period" if decision.rule == "eu.reflection_period" else "cancelled_by_investor"


async def reconfirm(uow: UnitOfWork, principal: Principal, pledge_id: str, now: datetime) -> Pledge:
    _, pledge = await lock_pledge(uow, pledge_id)
    if pledge.backer_id != principal.subject:
        raise DomainError(403, "not your investment")
    if pledge.reconfirm_by is None or pledge.state not in ACTIVE:
        raise DomainError(409, "nothing to reconfirm", current_state=pledge.state)
    if now > pledge.reconfirm_by:
        raise DomainError(409, "the reconfirmation period has passed", current_state=pledge.state)
    pledge.reconfirm_by = None
    uow.publish(ev.PledgeReconfirmed(pledge_id=pledge.id, campaign_id=pledge.campaign_id,
                                     backer_id=pledge.backer_id),
                subject=pledge.campaign_id, actor=principal.subject, partition_key=pledge.backer_id)
    await uow.commit()
    return pledge


async def lapse_unconfirmed(uow: UnitOfWork, pledge_id: str, now: datetime) -> int:
    """Not reconfirmed in time after a material change: the commitment is cancelled (refunded if paid)."""
    from crowdfunding.handlers.pledges import close_unpaid, refund_paid

    campaign, pledge = await lock_pledge(uow, pledge_id)
    if pledge.reconfirm_by is None or now <= pledge.reconfirm_by or pledge.state not in ACTIVE:
        return 0
    pledge.reconfirm_by = None
    if pledge.state == "pending":
        await close_unpaid(uow, campaign, pledge, "not_reconfirmed", "system:crowdfunding", now)
    else:
        await refund_paid(uow, campaign, pledge, "not_reconfirmed", "system:crowdfunding", now)
    await uow.commit()
    return 1


async def early_close(uow: UnitOfWork, principal: Principal, campaign_id: str, new_deadline: datetime,
                      now: datetime) -> Decision:
    campaign = await campaign_for_update(uow, campaign_id)
    own(campaign, principal.subject)
    if campaign.state != CampaignState.LIVE or campaign.deadline is None or campaign.launched_at is None:
        raise DomainError(409, f"the campaign is in state {campaign.state!r}; only a live one closes early",
                          current_state=campaign.state)
    if new_deadline >= campaign.deadline:
        raise DomainError(422, "an early close moves the deadline earlier", field="deadline")
    profile = profile_of(campaign) if campaign.kind == CampaignKind.EQUITY else Profile.CN
    decision = decide_early_close(profile, campaign.launched_at, now, new_deadline,
                                  campaign.raised_fen >= campaign.goal_fen)
    if not decision.allowed:
        raise DomainError(409, decision.message, rule=decision.rule, decision=decision.as_dict(),
                          current_state=campaign.state)
    previous = campaign.deadline
    campaign.deadline, campaign.updated_at = new_deadline, now
    uow.publish(ev.CampaignEarlyCloseScheduled(campaign_id=campaign.id, previous_deadline=previous,
                                               deadline=new_deadline, rule=decision.rule,
                                               policy_version=decision.policy_version),
                subject=campaign.id, actor=principal.subject, partition_key=partition(campaign))
    await uow.commit()
    return decision
