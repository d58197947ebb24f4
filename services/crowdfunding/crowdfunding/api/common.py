"""What the routes share: role dependencies (module level, for `from __future__ import annotations`), the
optional principal of public reads, input types and the views."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Annotated, Any

from fastapi import Depends, HTTPException, Query, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import AfterValidator, AwareDatetime, BaseModel, Field
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col, select

from crowdfunding.api.payout_account import PayoutAccountView, payout_account_view, sees_payout_account
from crowdfunding.domain.policy import CrowdfundingPolicy
from crowdfunding.models import Campaign, Pledge, RewardTier
from shared.auth import Principal, require_roles, verify_token
from shared.validation import ID_PATTERN, PlainText
from shared.validation import Limit as Limit
from shared.validation import Offset as Offset
from shared.validation import Strict as Strict

READ_OVERRIDE = ("admin", "regulator")
Founder = Annotated[Principal, require_roles("founder")]
Backer = Annotated[Principal, require_roles("backer")]
Investor = Annotated[Principal, require_roles("investor")]
Reviewer = Annotated[Principal, require_roles("reviewer")]
Supervisor = Annotated[Principal, require_roles("reviewer", "regulator")]
Auditor = Annotated[Principal, require_roles(*READ_OVERRIDE)]
IntendedAmount = Annotated[int | None, Query(ge=1, le=10**15, description="equity (CN): the amount the investor "
                                             "intends to invest in one offering, in minor units")]
Id = Annotated[str, Field(pattern=ID_PATTERN)]
Title = Annotated[PlainText, Field(min_length=1, max_length=200)]
Note = Annotated[PlainText, Field(max_length=2000)]
Region = Annotated[str, Field(pattern=r"^([A-Z]{2}|\d{6})$", description="ISO country code or 6-digit region code")]
_bearer = HTTPBearer(auto_error=False)


def _plausible(moment: datetime) -> datetime:
    if not 1970 <= moment.year <= 2200:
        raise ValueError("the year must be between 1970 and 2200")
    return moment


Moment = Annotated[AwareDatetime, AfterValidator(_plausible)]


def _policy(request: Request) -> CrowdfundingPolicy:
    policy: CrowdfundingPolicy = request.app.state.crowdfunding_policy
    return policy


Policy = Annotated[CrowdfundingPolicy, Depends(_policy)]  # the service's, built from its settings at start


def _maybe_principal(request: Request,
                     credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]) -> Principal | None:
    if credentials is None:
        return None
    settings = request.app.state.settings
    return verify_token(settings.jwt_secret, settings.jwt_issuer, credentials.credentials)


MaybePrincipal = Annotated[Principal | None, Depends(_maybe_principal)]


class TierView(BaseModel):
    id: str
    seq: int
    title: str
    description: str
    price_fen: int
    units_limit: int | None
    units_taken: int
    units_left: int | None
    delivery_date: datetime
    shipping: dict[str, int]


class CampaignView(BaseModel):
    id: str
    founder_id: str
    organisation_id: str | None
    kind: str
    funding_mode: str
    equity_profile: str | None
    title: str
    summary: str
    story: str
    industry: str
    currency: str
    goal_fen: int
    minimum_goal_fen: int | None
    duration_days: int
    state: str
    round: int
    launched_at: datetime | None
    deadline: datetime | None
    round_one_ends: datetime | None
    raised_fen: int
    progress_percent: int
    backers: int
    review_findings: list[dict[str, Any]]
    delivery_due: datetime | None
    delivery_recorded_at: datetime | None
    delivery_missed_at: datetime | None
    refunds_started_at: datetime | None
    refunds_due_by: datetime | None  # 5 working days (holiday calendar) after a failure
    refunds_open: int  # paid pledges whose refund has not completed yet
    first_tranche_at: datetime | None
    second_tranche_at: datetime | None
    policy_version: str
    tiers: list[TierView]
    # the founder's payout account (masked) and its changes: the campaign's founder, reviewers, regulators and
    # admins only; None for anyone else (api/payout_account.py)
    payout_account: PayoutAccountView | None = None


def tier_view(t: RewardTier) -> TierView:
    return TierView(id=t.id, seq=t.seq, title=t.title, description=t.description, price_fen=t.price_fen,
                    units_limit=t.units_limit, units_taken=t.units_taken,
                    units_left=None if t.units_limit is None else t.units_limit - t.units_taken,
                    delivery_date=t.delivery_date, shipping=json.loads(t.shipping))


async def campaign_view(session: AsyncSession, c: Campaign, viewer: Principal | None = None) -> CampaignView:
    """The campaign as `viewer` sees it (no viewer: as the public does)."""
    from sqlalchemy import func

    tiers = (await session.execute(select(RewardTier).where(RewardTier.campaign_id == c.id)
                                   .order_by(col(RewardTier.seq)))).scalars().all()
    backers = (await session.execute(select(func.count(func.distinct(Pledge.backer_id))).where(
        Pledge.campaign_id == c.id, Pledge.state == "paid"))).scalar_one()
    refunds_open = (await session.execute(select(func.count()).select_from(Pledge).where(
        Pledge.campaign_id == c.id, Pledge.state == "refund_requested"))).scalar_one()
    return CampaignView(
        **c.model_dump(include=set(CampaignView.model_fields) - {"tiers", "review_findings", "progress_percent",
                                                                 "backers", "refunds_open", "payout_account"}),
        refunds_open=int(refunds_open),
        payout_account=await payout_account_view(session, c) if sees_payout_account(viewer, c) else None,
        review_findings=json.loads(c.review_findings), progress_percent=c.raised_fen * 100 // c.goal_fen,
        backers=int(backers), tiers=[tier_view(t) for t in tiers])


async def load_campaign(session: AsyncSession, campaign_id: str) -> Campaign:
    campaign = await session.get(Campaign, campaign_id)
    if campaign is None:
        raise HTTPException(404, f"campaign {campaign_id} not found")
    return campaign
