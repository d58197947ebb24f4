"""Campaign commands: draft, tiers, submission and review, launch, cancellation, suspension, project updates,
delivery. Ownership is checked against the row each command locks."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col, select

from crowdfunding import contracts as ev
from crowdfunding.domain.campaign import EDITABLE, LIVE_STATES, CampaignKind, FundingMode, check_duration, schedule
from crowdfunding.domain.equity import POLICIES, Profile, reconfirmation_deadline
from crowdfunding.domain.policy import DEFAULT_POLICY, CrowdfundingPolicy
from crowdfunding.domain.review import CampaignText, Finding, review_findings
from crowdfunding.handlers.common import (
    S,
    campaign_for_update,
    ensure_own_organisation,
    founder_verified,
    is_blacklisted,
    move,
    own,
    partition,
)
from crowdfunding.models import Campaign, Pledge, RewardTier
from shared.auth import Principal
from shared.ids import new_id
from shared.listings import ensure_not_blacklisted, fast_track, fast_track_first
from shared.problems import DomainError
from shared.supervision import ensure_not_suspended
from shared.uow import UnitOfWork

POLICY = DEFAULT_POLICY
SUPERVISORS = ("reviewer", "regulator")


@dataclass(frozen=True)
class CampaignInput:
    kind: str
    funding_mode: str
    title: str
    summary: str
    story: str
    industry: str
    goal_fen: int
    duration_days: int
    minimum_goal_fen: int | None = None
    organisation_id: str | None = None
    payout_party: str | None = None
    equity_profile: str | None = None
    key_information_sheet: str = ""
    risk_statement: str = ""


@dataclass(frozen=True)
class TierInput:
    title: str
    description: str
    price_fen: int
    units_limit: int | None
    delivery_date: datetime
    shipping: dict[str, int] = field(default_factory=dict)


def _validate(data: CampaignInput) -> None:
    check_duration(data.funding_mode, data.duration_days, POLICY)
    if data.funding_mode == FundingMode.TWO_ROUNDS:
        if data.minimum_goal_fen is None:
            raise DomainError(422, "a two-round campaign needs a minimum goal (round 1)", field="minimum_goal_fen")
        if data.minimum_goal_fen > data.goal_fen:
            raise DomainError(422, "the minimum goal cannot exceed the optimum goal", field="minimum_goal_fen")
    elif data.minimum_goal_fen is not None:
        raise DomainError(422, "only two-round campaigns have a minimum goal", field="minimum_goal_fen")
    if data.kind == CampaignKind.REWARD and data.equity_profile is not None:
        raise DomainError(422, "reward campaigns have no equity profile", field="equity_profile")


async def create_campaign(uow: UnitOfWork, principal: Principal, data: CampaignInput, now: datetime) -> Campaign:
    _validate(data)
    await ensure_not_suspended(uow.session, "subject", principal.subject)
    await ensure_not_suspended(uow.session, "subject", data.organisation_id)
    await ensure_not_blacklisted(uow.session, principal.subject, "launching a campaign")
    await ensure_own_organisation(uow, principal, data.organisation_id)
    profile = None
    currency = "CNY"
    if data.kind == CampaignKind.EQUITY:
        profile = Profile(data.equity_profile or Profile.CN)
        currency = POLICIES[profile].currency
    campaign = Campaign(
        id=new_id(), founder_id=principal.subject, organisation_id=data.organisation_id, kind=data.kind,
        funding_mode=data.funding_mode, equity_profile=profile.value if profile else None, title=data.title,
        summary=data.summary, story=data.story, industry=data.industry,
        key_information_sheet=data.key_information_sheet, risk_statement=data.risk_statement, currency=currency,
        goal_fen=data.goal_fen, minimum_goal_fen=data.minimum_goal_fen,
        duration_days=2 * POLICY.round_length.days if data.funding_mode == FundingMode.TWO_ROUNDS
        else data.duration_days,
        payout_party=data.payout_party or f"founder:{principal.subject}", state=S.DRAFT.value, state_since=now,
        policy_version=POLICY.version, created_at=now, updated_at=now)
    uow.session.add(campaign)
    uow.publish(ev.CampaignCreated(
        campaign_id=campaign.id, founder_id=campaign.founder_id, organisation_id=campaign.organisation_id,
        kind=campaign.kind, funding_mode=campaign.funding_mode, equity_profile=campaign.equity_profile,
        title=campaign.title, industry=campaign.industry, currency=campaign.currency, goal_fen=campaign.goal_fen,
        minimum_goal_fen=campaign.minimum_goal_fen, duration_days=campaign.duration_days,
        policy_version=campaign.policy_version), subject=campaign.id, actor=principal.subject,
        partition_key=partition(campaign))
    await uow.commit()
    return campaign


async def tiers_of(uow: UnitOfWork, campaign_id: str) -> list[RewardTier]:
    return list((await uow.session.execute(select(RewardTier).where(RewardTier.campaign_id == campaign_id)
                                           .order_by(col(RewardTier.seq)))).scalars())


async def add_tier(uow: UnitOfWork, principal: Principal, campaign_id: str, data: TierInput,
                   now: datetime) -> RewardTier:
    campaign = await campaign_for_update(uow, campaign_id)
    own(campaign, principal.subject)
    if campaign.kind != CampaignKind.REWARD:
        raise DomainError(409, "equity offerings have no reward tiers", current_state=campaign.state)
    if campaign.state not in EDITABLE:
        raise DomainError(409, f"the campaign is in state {campaign.state!r}; tiers are added in draft or "
                               "needs_work", current_state=campaign.state)
    tiers = await tiers_of(uow, campaign.id)
    if len(tiers) >= POLICY.max_tiers:
        raise DomainError(422, f"at most {POLICY.max_tiers} tiers", field="tiers")
    if data.delivery_date <= now:
        raise DomainError(422, "the estimated delivery date must be in the future", field="delivery_date")
    tier = RewardTier(id=new_id(), campaign_id=campaign.id, seq=len(tiers) + 1, title=data.title,
                      description=data.description, price_fen=data.price_fen, units_limit=data.units_limit,
                      delivery_date=data.delivery_date, shipping=json.dumps(data.shipping, sort_keys=True))
    uow.session.add(tier)
    campaign.updated_at = now
    uow.publish(ev.TierAdded(campaign_id=campaign.id, tier_id=tier.id, price_fen=tier.price_fen,
                             units_limit=tier.units_limit, delivery_date=tier.delivery_date, shipping=data.shipping),
                subject=campaign.id, actor=principal.subject, partition_key=partition(campaign))
    await uow.commit()
    return tier


async def findings_for(uow: UnitOfWork, campaign: Campaign, policy: CrowdfundingPolicy = POLICY) -> list[Finding]:
    tiers = await tiers_of(uow, campaign.id)
    text = CampaignText(kind=campaign.kind, title=campaign.title, summary=campaign.summary, story=campaign.story,
                        industry=campaign.industry, goal_fen=campaign.goal_fen,
                        tiers=[{"title": t.title, "description": t.description} for t in tiers],
                        key_information_sheet=campaign.key_information_sheet,
                        risk_statement=campaign.risk_statement)
    return review_findings(text, policy, founder_verified=await founder_verified(uow, campaign),
                           founder_blacklisted=await is_blacklisted(uow.session, campaign.founder_id))


async def submit(uow: UnitOfWork, principal: Principal, campaign_id: str, now: datetime,
                 policy: CrowdfundingPolicy = POLICY) -> Campaign:
    """Into the review queue, with the automatic checks' findings attached for the reviewer (`policy`: the
    service's, with the configured false-advertising phrases)."""
    campaign = await campaign_for_update(uow, campaign_id)
    own(campaign, principal.subject)
    await ensure_not_blacklisted(uow.session, campaign.founder_id, "submitting a campaign")
    findings = [f.as_dict() for f in await findings_for(uow, campaign, policy)]
    campaign.review_findings = json.dumps(findings, ensure_ascii=False)
    await move(uow, campaign, S.SUBMITTED, principal.subject, "submitted for review", now, findings=findings)
    await uow.commit()
    return campaign


async def review_queue(session: AsyncSession, limit: int, offset: int) -> list[tuple[Campaign, bool]]:
    """Submitted campaigns, each with whether it is fast-tracked: the founder or the campaign's organisation is
    red-listed with fast-track review (联合激励) and neither is black-listed (a joint punishment outweighs the other
    subject's incentive; the rule shared with the other crowd services). Those first, then oldest first."""
    flag = fast_track(Campaign.founder_id, Campaign.organisation_id)
    rows = await session.execute(
        select(Campaign, flag.label("fast_tracked")).where(Campaign.state == S.SUBMITTED.value)
        .order_by(fast_track_first(flag), col(Campaign.updated_at), col(Campaign.id)).limit(limit).offset(offset))
    return [(campaign, bool(fast)) for campaign, fast in rows.all()]


async def review(uow: UnitOfWork, principal: Principal, campaign_id: str, decision: str, note: str,
                 now: datetime, policy: CrowdfundingPolicy = POLICY) -> Campaign:
    """approve | needs_work | reject. Approval re-runs the checks and is refused while any finding stands."""
    campaign = await campaign_for_update(uow, campaign_id)
    if campaign.founder_id == principal.subject:
        raise DomainError(403, "a founder does not review their own campaign")
    if decision == "approve":
        findings = await findings_for(uow, campaign, policy)
        campaign.review_findings = json.dumps([f.as_dict() for f in findings], ensure_ascii=False)
        if findings and campaign.state == S.SUBMITTED:
            raise DomainError(422, "the campaign fails review checks: " + "; ".join(
                f"{f.field}: {f.message}" for f in findings), field=findings[0].field,
                findings=[f.as_dict() for f in findings])
        target = S.APPROVED
    else:
        target = S.NEEDS_WORK if decision == "needs_work" else S.REJECTED
    await move(uow, campaign, target, principal.subject, note or decision, now)
    await uow.commit()
    return campaign


async def edit(uow: UnitOfWork, principal: Principal, campaign_id: str, changes: dict[str, object],
               now: datetime) -> Campaign:
    campaign = await campaign_for_update(uow, campaign_id)
    own(campaign, principal.subject)
    if campaign.state not in EDITABLE:
        raise DomainError(409, f"the campaign is in state {campaign.state!r}; it is edited in draft or needs_work",
                          current_state=campaign.state)
    if changes.get("organisation_id") is not None and changes["organisation_id"] != campaign.organisation_id:
        await ensure_not_suspended(uow.session, "subject", str(changes["organisation_id"]))
        await ensure_own_organisation(uow, principal, str(changes["organisation_id"]))
    for key, value in changes.items():
        setattr(campaign, key, value)
    campaign.updated_at = now
    await uow.commit()
    return campaign


async def launch(uow: UnitOfWork, principal: Principal, campaign_id: str, now: datetime) -> Campaign:
    campaign = await campaign_for_update(uow, campaign_id)
    own(campaign, principal.subject)
    for target_type, target_id in (("campaign", campaign.id), ("subject", principal.subject),
                                   ("subject", campaign.organisation_id)):
        await ensure_not_suspended(uow.session, target_type, target_id)
    await ensure_not_blacklisted(uow.session, campaign.founder_id, "launching a campaign")
    deadline, round_one = schedule(campaign.funding_mode, now, campaign.duration_days, POLICY)
    campaign.launched_at, campaign.deadline, campaign.round_one_ends = now, deadline, round_one
    await move(uow, campaign, S.LIVE, principal.subject, "launched", now, deadline=deadline,
               round_one_ends=round_one)
    await uow.commit()
    return campaign


async def cancel(uow: UnitOfWork, principal: Principal, campaign_id: str, why: str, now: datetime) -> Campaign:
    """By the founder, before any pledge is captured (paid); pending pledges are cancelled and release units."""
    from crowdfunding.handlers.pledges import close_unpaid

    campaign = await campaign_for_update(uow, campaign_id)
    own(campaign, principal.subject, admin=principal.has_any("admin"))
    paid = (await uow.session.execute(select(Pledge.id).where(
        Pledge.campaign_id == campaign.id, col(Pledge.state).in_(["paid", "refund_requested", "refunded"])))).first()
    if paid is not None:
        raise DomainError(409, "a pledge has been captured; the campaign can no longer be cancelled",
                          current_state=campaign.state, rule="pledge_captured")
    await move(uow, campaign, S.CANCELLED, principal.subject, why or "cancelled by the founder", now)
    pending = (await uow.session.execute(select(Pledge).where(Pledge.campaign_id == campaign.id,
                                                              Pledge.state == "pending"))).scalars().all()
    for pledge in pending:
        await close_unpaid(uow, campaign, pledge, "campaign_cancelled", principal.subject, now)
    await uow.commit()
    return campaign


async def suspend(uow: UnitOfWork, principal: Principal, campaign_id: str, why: str, now: datetime) -> Campaign:
    """A reviewer, or a regulator's order: any live state -> suspended (no pledges meanwhile)."""
    campaign = await campaign_for_update(uow, campaign_id)
    await move(uow, campaign, S.SUSPENDED, principal.subject, why, now)
    await uow.commit()
    return campaign


async def reinstate(uow: UnitOfWork, principal: Principal, campaign_id: str, why: str, now: datetime) -> Campaign:
    campaign = await campaign_for_update(uow, campaign_id)
    await move(uow, campaign, S.LIVE, principal.subject, why, now)
    await uow.commit()
    return campaign


async def post_update(uow: UnitOfWork, principal: Principal, campaign_id: str, title: str, body: str,
                      material: bool, now: datetime) -> Campaign:
    """A project update to backers. A material change to a live equity offering requires each investor to
    reconfirm within 5 business days, or the commitment is cancelled (the `reconfirmations` job)."""
    campaign = await campaign_for_update(uow, campaign_id)
    own(campaign, principal.subject)
    if campaign.state not in {S.LIVE, S.WAITING_FUNDS, S.SUCCESSFUL, S.FULFILLING, S.SUSPENDED}:
        raise DomainError(409, f"the campaign is in state {campaign.state!r}; updates go to live or funded "
                               "campaigns", current_state=campaign.state)
    reconfirm_by = None
    if material:
        if campaign.kind != CampaignKind.EQUITY or campaign.state not in LIVE_STATES:
            raise DomainError(422, "a material change applies to a live equity offering", field="material")
        reconfirm_by = reconfirmation_deadline(Profile(campaign.equity_profile or Profile.CN), now)
        campaign.material_change_at = now
        pledges = (await uow.session.execute(select(Pledge).where(
            Pledge.campaign_id == campaign.id, col(Pledge.state).in_(["pending", "paid"])))).scalars().all()
        for pledge in pledges:
            pledge.reconfirm_by = reconfirm_by
    campaign.updated_at = now
    uow.publish(ev.CampaignUpdatePosted(campaign_id=campaign.id, title=title, body=body, material=material,
                                        reconfirm_by=reconfirm_by),
                subject=campaign.id, actor=principal.subject, partition_key=partition(campaign))
    await uow.commit()
    return campaign


async def record_delivery(uow: UnitOfWork, principal: Principal, campaign_id: str, note: str,
                          now: datetime) -> Campaign:
    campaign = await campaign_for_update(uow, campaign_id)
    own(campaign, principal.subject)
    if campaign.state != S.FULFILLING:
        raise DomainError(409, f"the campaign is in state {campaign.state!r}; delivery is recorded while "
                               "fulfilling", current_state=campaign.state)
    if campaign.delivery_recorded_at is not None:
        return campaign
    campaign.delivery_recorded_at, campaign.updated_at = now, now
    uow.publish(ev.DeliveryRecorded(campaign_id=campaign.id, founder_id=campaign.founder_id, note=note,
                                    confirm_by=now + POLICY.confirmation_window),
                subject=campaign.id, actor=principal.subject, partition_key=partition(campaign))
    await uow.commit()
    return campaign

