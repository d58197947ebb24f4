"""Campaign routes: drafting, tiers, the review queue, launch, cancellation, suspension by a reviewer or a
regulator's order, project updates, delivery. Founders manage their own campaigns only (checked in the handlers
against the locked row); anyone may browse live reward campaigns; equity offerings only for qualified investors."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, HTTPException, status
from pydantic import Field
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col, select

from crowdfunding import flows
from crowdfunding.api.common import (
    READ_OVERRIDE,
    CampaignView,
    Founder,
    Id,
    IntendedAmount,
    Limit,
    MaybePrincipal,
    Moment,
    Note,
    Offset,
    Policy,
    Region,
    Reviewer,
    Strict,
    Supervisor,
    TierView,
    Title,
    campaign_view,
    load_campaign,
    tier_view,
)
from crowdfunding.domain.campaign import PUBLIC, CampaignKind, CampaignState, FundingMode
from crowdfunding.domain.equity import Profile
from crowdfunding.handlers import campaigns as handlers
from crowdfunding.handlers import equity, settlement
from crowdfunding.models import Campaign, CampaignTransition
from shared.auth import CurrentPrincipal, Principal
from shared.context import MoneyContextDep
from shared.money import Fen
from shared.service_app import Now, ReadSessionDep, UnitOfWorkDep
from shared.validation import PlainText, ResourceId

router = APIRouter(tags=["campaigns"])
Text = Annotated[PlainText, Field(max_length=20000)]
Industry = Annotated[str, Field(pattern=r"^[a-z0-9_]{1,40}$")]
Party = Annotated[str, Field(pattern=r"^[A-Za-z0-9_.:@-]{1,120}$")]


class CampaignCreate(Strict):
    kind: CampaignKind = CampaignKind.REWARD
    funding_mode: FundingMode = FundingMode.ALL_OR_NOTHING
    title: Title
    summary: Annotated[PlainText, Field(max_length=1000)] = ""
    story: Text = ""
    industry: Industry
    goal_fen: Fen = Field(gt=0)
    minimum_goal_fen: Annotated[int, Field(gt=0, le=10**15)] | None = None
    duration_days: int = Field(default=30, ge=1, le=365)
    organisation_id: Id | None = None
    payout_party: Party | None = None
    equity_profile: Profile | None = None
    key_information_sheet: Text = ""
    risk_statement: Annotated[PlainText, Field(max_length=4000)] = ""


class CampaignEdit(Strict):
    title: Title | None = None
    summary: Annotated[PlainText, Field(max_length=1000)] | None = None
    story: Text | None = None
    industry: Industry | None = None
    organisation_id: Id | None = None
    key_information_sheet: Text | None = None
    risk_statement: Annotated[PlainText, Field(max_length=4000)] | None = None


class TierCreate(Strict):
    title: Title
    description: Annotated[PlainText, Field(max_length=4000)] = ""
    price_fen: Fen = Field(gt=0)
    units_limit: Annotated[int, Field(ge=1, le=10_000_000)] | None = None
    delivery_date: Moment
    shipping: dict[Region, Fen] = Field(default={}, max_length=100)


class ReviewBody(Strict):
    decision: Literal["approve", "needs_work", "reject"]
    note: Note = ""


class WhyBody(Strict):
    why: Annotated[PlainText, Field(min_length=1, max_length=2000)]


class CancelBody(Strict):
    why: Note = ""


class UpdateBody(Strict):
    title: Title
    body: Annotated[PlainText, Field(min_length=1, max_length=20000)]
    material: bool = False


class DeliveryBody(Strict):
    note: Note = ""


class EarlyCloseBody(Strict):
    deadline: Moment


async def _viewed(session: AsyncSession, campaign_id: str, viewer: Principal) -> CampaignView:
    return await campaign_view(session, await load_campaign(session, campaign_id), viewer)


@router.post("/campaigns", status_code=status.HTTP_201_CREATED, response_model=CampaignView)
async def create_campaign(body: CampaignCreate, uow: UnitOfWorkDep, now: Now, principal: Founder,
                          session: ReadSessionDep) -> CampaignView:
    data = handlers.CampaignInput(**body.model_dump(exclude={"kind", "funding_mode", "equity_profile"}),
                                  kind=body.kind.value, funding_mode=body.funding_mode.value,
                                  equity_profile=body.equity_profile.value if body.equity_profile else None)
    campaign = await handlers.create_campaign(uow, principal, data, now)
    return await _viewed(session, campaign.id, principal)


@router.patch("/campaigns/{campaign_id}", response_model=CampaignView)
async def edit_campaign(campaign_id: ResourceId, body: CampaignEdit, uow: UnitOfWorkDep, now: Now,
                        principal: Founder, session: ReadSessionDep) -> CampaignView:
    await handlers.edit(uow, principal, campaign_id, body.model_dump(exclude_unset=True), now)
    return await _viewed(session, campaign_id, principal)


@router.post("/campaigns/{campaign_id}/tiers", status_code=status.HTTP_201_CREATED, response_model=TierView)
async def add_tier(campaign_id: ResourceId, body: TierCreate, uow: UnitOfWorkDep, now: Now,
                   principal: Founder) -> TierView:
    tier = await handlers.add_tier(uow, principal, campaign_id, handlers.TierInput(**body.model_dump()), now)
    return tier_view(tier)


@router.post("/campaigns/{campaign_id}/submit", response_model=CampaignView)
async def submit(campaign_id: ResourceId, uow: UnitOfWorkDep, now: Now, principal: Founder,
                 session: ReadSessionDep, policy: Policy) -> CampaignView:
    await handlers.submit(uow, principal, campaign_id, now, policy)
    return await _viewed(session, campaign_id, principal)


class ReviewItem(CampaignView):
    fast_tracked: bool  # the founder or the organisation is red-listed with fast-track review, neither black-listed


@router.get("/reviews/campaigns", response_model=list[ReviewItem], tags=["review"])
async def review_queue(session: ReadSessionDep, reviewer: Reviewer, limit: Limit = 50,
                       offset: Offset = 0) -> list[ReviewItem]:
    """Fast-tracked campaigns first (联合激励), then oldest first."""
    return [ReviewItem(**(await campaign_view(session, c, reviewer)).model_dump(), fast_tracked=fast)
            for c, fast in await handlers.review_queue(session, limit, offset)]


@router.post("/campaigns/{campaign_id}/review", response_model=CampaignView, tags=["review"])
async def review(campaign_id: ResourceId, body: ReviewBody, uow: UnitOfWorkDep, now: Now, principal: Reviewer,
                 session: ReadSessionDep, policy: Policy) -> CampaignView:
    await handlers.review(uow, principal, campaign_id, body.decision, body.note, now, policy)
    return await _viewed(session, campaign_id, principal)


@router.post("/campaigns/{campaign_id}/launch", response_model=CampaignView)
async def launch(campaign_id: ResourceId, uow: UnitOfWorkDep, now: Now, principal: Founder,
                 session: ReadSessionDep) -> CampaignView:
    await handlers.launch(uow, principal, campaign_id, now)
    return await _viewed(session, campaign_id, principal)


@router.post("/campaigns/{campaign_id}/cancel", response_model=CampaignView)
async def cancel(campaign_id: ResourceId, body: CancelBody, uow: UnitOfWorkDep, now: Now, principal: Founder,
                 session: ReadSessionDep) -> CampaignView:
    await handlers.cancel(uow, principal, campaign_id, body.why, now)
    return await _viewed(session, campaign_id, principal)


@router.post("/campaigns/{campaign_id}/suspend", response_model=CampaignView, tags=["review"])
async def suspend(campaign_id: ResourceId, body: WhyBody, uow: UnitOfWorkDep, now: Now, principal: Supervisor,
                  session: ReadSessionDep) -> CampaignView:
    """A reviewer, or a regulator's supervision order: a live campaign is suspended."""
    await handlers.suspend(uow, principal, campaign_id, body.why, now)
    return await _viewed(session, campaign_id, principal)


@router.post("/campaigns/{campaign_id}/reinstate", response_model=CampaignView, tags=["review"])
async def reinstate(campaign_id: ResourceId, body: WhyBody, uow: UnitOfWorkDep, now: Now, principal: Supervisor,
                    session: ReadSessionDep) -> CampaignView:
    await handlers.reinstate(uow, principal, campaign_id, body.why, now)
    return await _viewed(session, campaign_id, principal)


@router.post("/campaigns/{campaign_id}/terminate", response_model=CampaignView, tags=["review"])
async def terminate(campaign_id: ResourceId, body: WhyBody, ctx: MoneyContextDep, now: Now,
                    principal: Supervisor) -> CampaignView:
    """A suspended campaign ends as failed: every paid pledge is refunded."""
    await flows.run(ctx, lambda uow: settlement.terminate(uow, principal, campaign_id, body.why, now))
    await flows.settle_campaign(ctx, campaign_id)
    async with ctx.db.reading() as session:
        return await _viewed(session, campaign_id, principal)


@router.post("/campaigns/{campaign_id}/updates", response_model=CampaignView)
async def post_update(campaign_id: ResourceId, body: UpdateBody, uow: UnitOfWorkDep, now: Now, principal: Founder,
                      session: ReadSessionDep) -> CampaignView:
    await handlers.post_update(uow, principal, campaign_id, body.title, body.body, body.material, now)
    return await _viewed(session, campaign_id, principal)


@router.post("/campaigns/{campaign_id}/delivery", response_model=CampaignView, tags=["settlement"])
async def record_delivery(campaign_id: ResourceId, body: DeliveryBody, uow: UnitOfWorkDep, now: Now,
                          principal: Founder, session: ReadSessionDep) -> CampaignView:
    await handlers.record_delivery(uow, principal, campaign_id, body.note, now)
    return await _viewed(session, campaign_id, principal)


@router.post("/campaigns/{campaign_id}/early-close", tags=["equity"])
async def early_close(campaign_id: ResourceId, body: EarlyCloseBody, uow: UnitOfWorkDep, now: Now,
                      principal: Founder) -> dict[str, Any]:
    decision = await equity.early_close(uow, principal, campaign_id, body.deadline, now)
    return decision.as_dict()


def _may_see(principal: Principal | None, campaign: Campaign) -> bool:
    if principal is not None and (principal.subject == campaign.founder_id
                                  or principal.has_any("reviewer", *READ_OVERRIDE)):
        return True
    return campaign.kind == CampaignKind.REWARD and campaign.state in PUBLIC


@router.get("/campaigns", response_model=list[CampaignView])
async def list_campaigns(session: ReadSessionDep, principal: MaybePrincipal, limit: Limit = 50, offset: Offset = 0,
                         state: CampaignState | None = None, mine: bool = False) -> list[CampaignView]:
    """Anyone: public reward campaigns (live and later). With `mine=true`, a founder's own campaigns."""
    query = select(Campaign)
    if mine:
        if principal is None:
            raise HTTPException(401, "a bearer token is required for mine=true")
        query = query.where(Campaign.founder_id == principal.subject)
    else:
        query = query.where(Campaign.kind == CampaignKind.REWARD.value,
                            col(Campaign.state).in_([s.value for s in PUBLIC]))
    if state is not None:
        query = query.where(Campaign.state == state.value)
    rows = await session.execute(query.order_by(col(Campaign.created_at).desc(), col(Campaign.id))
                                 .limit(limit).offset(offset))
    return [await campaign_view(session, c, principal) for c in rows.scalars().all()]


@router.get("/campaigns/{campaign_id}", response_model=CampaignView)
async def read_campaign(campaign_id: ResourceId, session: ReadSessionDep, principal: MaybePrincipal,
                        intended_amount_fen: IntendedAmount = None) -> CampaignView:
    """An equity offering is shown to a qualified, real-name verified investor; under the CN profile an investor
    who intends to invest at least the single-project minimum in it qualifies by that (`intended_amount_fen`)."""
    campaign = await load_campaign(session, campaign_id)
    if _may_see(principal, campaign):
        return await campaign_view(session, campaign, principal)
    if principal is None:
        raise HTTPException(401, "a bearer token is required to see this campaign")
    if campaign.kind == CampaignKind.EQUITY and campaign.state in PUBLIC and principal.has_any("investor"):
        decision = await equity.visibility(session, principal, campaign, intended_amount_fen)
        if decision.allowed:
            return await campaign_view(session, campaign, principal)
        raise HTTPException(403, f"only qualified, real-name verified investors see equity offerings "
                                 f"({decision.rule}, policy {decision.policy_version})")
    raise HTTPException(403, "not visible to you")


@router.get("/campaigns/{campaign_id}/history", response_model=list[CampaignTransition])
async def history(campaign_id: ResourceId, session: ReadSessionDep,
                  principal: CurrentPrincipal) -> list[CampaignTransition]:
    """Every transition with who, when and why: the founder, reviewers, regulators, admins."""
    campaign = await load_campaign(session, campaign_id)
    if principal.subject != campaign.founder_id and not principal.has_any("reviewer", *READ_OVERRIDE):
        raise HTTPException(403, "not the founder of this campaign")
    rows = await session.execute(select(CampaignTransition).where(CampaignTransition.campaign_id == campaign_id)
                                 .order_by(col(CampaignTransition.seq)))
    return list(rows.scalars())

