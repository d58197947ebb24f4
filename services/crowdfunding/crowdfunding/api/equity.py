"""Equity routes: the investor's own profile, the offerings they may see, investments decided by the
investor-protection engine (each decision returns its rule, figures and policy version), reconfirmation."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, HTTPException, status
from pydantic import Field
from sqlmodel import col, select

from crowdfunding import flows
from crowdfunding.api.common import (
    CampaignView,
    Id,
    IntendedAmount,
    Investor,
    Limit,
    Moment,
    Offset,
    Strict,
    campaign_view,
)
from crowdfunding.api.pledges import Party, PledgeView, view
from crowdfunding.domain.campaign import CampaignKind, CampaignState
from crowdfunding.handlers import equity as handlers
from crowdfunding.handlers.placing import PledgeInput
from crowdfunding.models import Campaign, InvestorProfile
from shared.context import MoneyContextDep
from shared.money import Fen
from shared.problems import DomainError
from shared.service_app import Now, ReadSessionDep, UnitOfWorkDep
from shared.validation import ResourceId

router = APIRouter(tags=["equity"])
Amount = Annotated[int, Field(ge=0, le=10**15)]


class ProfileBody(Strict):
    kind: Literal["person", "entity"] = "person"
    currency: Literal["CNY", "USD", "EUR"] = "CNY"
    annual_income: Amount = 0
    net_worth: Amount = 0
    financial_assets: Amount = 0
    entity_net_assets: Amount = 0
    accredited: bool = False
    sophisticated: bool = False
    knowledge_test_passed_at: Moment | None = None
    loss_simulation_at: Moment | None = None


class InvestmentBody(Strict):
    amount_fen: Fen = Field(gt=0)
    consent: bool = False
    payment_party: Party | None = None
    organisation_id: Id | None = None


@router.put("/investors/me/profile", response_model=InvestorProfile)
async def save_profile(body: ProfileBody, uow: UnitOfWorkDep, now: Now, principal: Investor) -> InvestorProfile:
    return await handlers.save_profile(uow, principal, handlers.ProfileInput(**body.model_dump()), now)


@router.get("/investors/me/profile", response_model=InvestorProfile)
async def read_profile(session: ReadSessionDep, principal: Investor) -> InvestorProfile:
    row = await session.get(InvestorProfile, principal.subject)
    if row is None:
        raise HTTPException(404, "no investor profile yet")
    return row


@router.get("/offerings", response_model=list[CampaignView])
async def offerings(session: ReadSessionDep, principal: Investor, limit: Limit = 50, offset: Offset = 0,
                    intended_amount_fen: IntendedAmount = None) -> list[CampaignView]:
    """Live equity offerings the caller may see (none for an investor who is not verified and qualified; under the
    CN profile, intending to invest at least the single-project minimum qualifies)."""
    rows = (await session.execute(select(Campaign).where(
        Campaign.kind == CampaignKind.EQUITY.value, Campaign.state == CampaignState.LIVE.value)
        .order_by(col(Campaign.created_at).desc(), col(Campaign.id)).limit(limit).offset(offset))).scalars().all()
    visible = []
    for campaign in rows:
        if (await handlers.visibility(session, principal, campaign, intended_amount_fen)).allowed:
            visible.append(await campaign_view(session, campaign, principal))
    return visible


@router.post("/campaigns/{campaign_id}/investments", status_code=status.HTTP_201_CREATED)
async def invest(campaign_id: ResourceId, body: InvestmentBody, ctx: MoneyContextDep, now: Now,
                 principal: Investor) -> dict[str, Any]:
    """Refused: 403 with the decision; limited (over a limit or a cap): 409 with the most allowed now."""
    data = PledgeInput(payment_party=body.payment_party, organisation_id=body.organisation_id, consent=body.consent)
    decision, placed = await flows.invest(ctx, principal, campaign_id, body.amount_fen, data, now)
    if placed is None:
        raise DomainError(403 if decision.outcome == "refused" else 409, decision.message, field="amount_fen",
                          rule=decision.rule, decision=decision.as_dict())
    out: PledgeView = view(placed)
    return {"decision": decision.as_dict(), "pledge": out.model_dump(mode="json")}


@router.post("/pledges/{pledge_id}/reconfirm", response_model=PledgeView)
async def reconfirm(pledge_id: ResourceId, uow: UnitOfWorkDep, now: Now, principal: Investor) -> PledgeView:
    return view(await handlers.reconfirm(uow, principal, pledge_id, now))
