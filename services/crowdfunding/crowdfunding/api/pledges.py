"""Pledge routes: pledging (unit taken, charged by idempotency key), the backer's own pledges, a campaign's pledges
(supervisors in full, the founder the fulfilment view: `FulfilmentView`), cancellation, refund requests after a
missed delivery, delivery confirmation and risk flags for reviewers (the CSV exports: `exports.py`)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from fastapi import APIRouter, HTTPException, status
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col, select

from crowdfunding import flows
from crowdfunding.api.common import (
    READ_OVERRIDE,
    Backer,
    Id,
    Limit,
    Note,
    Offset,
    Region,
    Reviewer,
    Strict,
    load_campaign,
)
from crowdfunding.handlers import pledges as handlers
from crowdfunding.handlers.placing import PledgeInput
from crowdfunding.models import Pledge, RewardTier, RiskFlag
from shared.auth import CurrentPrincipal, Principal, require_roles
from shared.context import MoneyContextDep
from shared.problems import DomainError
from shared.service_app import Now, ReadSessionDep, UnitOfWorkDep
from shared.validation import ResourceId

router = APIRouter(tags=["pledges"])
Party = Annotated[str, Field(pattern=r"^[A-Za-z0-9_.:@-]{1,120}$", description="payment instrument (sandbox party)")]
Holder = Annotated[Principal, require_roles("backer", "investor")]
# Who sees every pledge of a campaign in full (risk review, re-issues, supervision); the founder sees the fulfilment
# view, a backer their own pledges.
SEE_ALL_PLEDGES = ("reviewer", *READ_OVERRIDE)


class PledgeCreate(Strict):
    tier_id: Id
    shipping_region: Region | None = None
    payment_party: Party | None = None
    organisation_id: Id | None = None


class PledgeView(BaseModel):
    id: str
    campaign_id: str
    tier_id: str | None
    backer_id: str
    organisation_id: str | None
    kind: str
    currency: str
    amount_fen: int
    shipping_region: str | None
    shipping_fen: int
    state: str
    reason: str | None
    payment_reference: str | None
    payment_failure: str | None  # the provider's reason for a declined charge: the backer's (and supervisors') only
    flagged: bool
    decision_rule: str | None
    policy_version: str
    reconfirm_by: datetime | None
    placed_at: datetime
    paid_at: datetime | None
    closed_at: datetime | None
    delivery_confirmed_at: datetime | None


class FulfilmentView(BaseModel):
    """A backer's pledge as the campaign's founder sees it: what fulfilment needs, by an allow-list (the founder's
    `backers.csv` has the same columns, `exports.FULFILMENT_COLUMNS`, made from this): the pledge, the backer's
    platform account id, the tier, the amount, the shipping region and fee, the state and its dates. Nothing about
    how the backer paid (payment reference, decline reason, why it was cancelled), no risk flag or equity decision,
    no organisation: a field added to pledges appears here only once someone decides it belongs."""

    model_config = ConfigDict(extra="forbid")

    id: str
    backer_id: str
    tier_id: str | None
    tier_title: str | None
    currency: str
    amount_fen: int
    shipping_region: str | None
    shipping_fen: int
    state: str
    placed_at: datetime
    paid_at: datetime | None
    delivery_confirmed_at: datetime | None


def view(p: Pledge) -> PledgeView:
    """The pledge in full: its backer's view, and supervisors' (`SEE_ALL_PLEDGES`)."""
    return PledgeView(**p.model_dump(include=set(PledgeView.model_fields)))


def fulfilment(p: Pledge, tier_title: str | None) -> FulfilmentView:
    return FulfilmentView(**p.model_dump(include=set(FulfilmentView.model_fields)), tier_title=tier_title)


def shown_to(viewer: Principal, p: Pledge, tier_title: str | None) -> PledgeView | FulfilmentView:
    """In full to its backer and to supervisors; to anyone else let read it (the campaign's founder), the fulfilment
    view."""
    if viewer.subject == p.backer_id or viewer.has_any(*SEE_ALL_PLEDGES):
        return view(p)
    return fulfilment(p, tier_title)


async def with_tier_titles(session: AsyncSession, campaign_id: str, backer_id: str | None, limit: int,
                           offset: int) -> list[tuple[Pledge, str | None]]:
    """The campaign's pledges (only `backer_id`'s, if given), oldest first, each with its tier's title."""
    query = (select(Pledge, RewardTier.title).outerjoin(RewardTier, col(RewardTier.id) == col(Pledge.tier_id))
             .where(Pledge.campaign_id == campaign_id))
    if backer_id is not None:
        query = query.where(Pledge.backer_id == backer_id)
    rows = await session.execute(query.order_by(col(Pledge.placed_at), col(Pledge.id)).limit(limit).offset(offset))
    return [(p, title) for p, title in rows.all()]


@router.post("/campaigns/{campaign_id}/pledges", status_code=status.HTTP_201_CREATED, response_model=PledgeView)
async def pledge(campaign_id: ResourceId, body: PledgeCreate, ctx: MoneyContextDep, now: Now,
                 principal: Backer) -> PledgeView:
    """Takes a unit of the tier atomically (409 when sold out), charges it; a declined charge releases the unit
    (402). A charge whose answer never comes stays pending until the callback or the expiry job."""
    data = PledgeInput(tier_id=body.tier_id, shipping_region=body.shipping_region,
                       payment_party=body.payment_party, organisation_id=body.organisation_id)
    placed = await flows.pledge(ctx, principal, campaign_id, data, now)
    if placed.state == "cancelled":
        raise DomainError(402, "the payment was declined; the pledge is cancelled and its unit released",
                          field="payment_party", pledge_id=placed.id, rule="payment_failed",
                          payment_failure=placed.payment_failure)
    return view(placed)


@router.get("/pledges", response_model=list[PledgeView])
async def my_pledges(session: ReadSessionDep, principal: Holder, limit: Limit = 50,
                     offset: Offset = 0) -> list[PledgeView]:
    rows = await session.execute(select(Pledge).where(Pledge.backer_id == principal.subject)
                                 .order_by(col(Pledge.placed_at).desc(), col(Pledge.id)).limit(limit).offset(offset))
    return [view(p) for p in rows.scalars()]


@router.get("/campaigns/{campaign_id}/pledges", response_model=list[PledgeView | FulfilmentView])
async def campaign_pledges(campaign_id: ResourceId, session: ReadSessionDep, principal: CurrentPrincipal,
                           limit: Limit = 50, offset: Offset = 0) -> list[PledgeView | FulfilmentView]:
    """Reviewers, regulators, admins: every pledge in full; the founder: every pledge as the fulfilment list
    (`FulfilmentView`, the fields of `backers.csv`); anyone else: their own pledges, in full."""
    campaign = await load_campaign(session, campaign_id)
    everyone = principal.subject == campaign.founder_id or principal.has_any(*SEE_ALL_PLEDGES)
    rows = await with_tier_titles(session, campaign_id, None if everyone else principal.subject, limit, offset)
    return [shown_to(principal, p, title) for p, title in rows]


@router.get("/pledges/{pledge_id}", response_model=PledgeView | FulfilmentView)
async def read_pledge(pledge_id: ResourceId, session: ReadSessionDep,
                      principal: CurrentPrincipal) -> PledgeView | FulfilmentView:
    """Its backer and supervisors in full; the campaign's founder the fulfilment view; anyone else 403."""
    found = await session.get(Pledge, pledge_id)
    if found is None:
        raise HTTPException(404, f"pledge {pledge_id} not found")
    campaign = await load_campaign(session, found.campaign_id)
    if principal.subject not in (found.backer_id, campaign.founder_id) and not principal.has_any(*SEE_ALL_PLEDGES):
        raise HTTPException(403, "not your pledge")
    tier = await session.get(RewardTier, found.tier_id) if found.tier_id is not None else None
    return shown_to(principal, found, tier.title if tier is not None else None)


@router.post("/pledges/{pledge_id}/cancel", response_model=PledgeView)
async def cancel(pledge_id: ResourceId, ctx: MoneyContextDep, now: Now, principal: Holder) -> PledgeView:
    """Until 48 hours before the deadline and never in the last hour (equity: per the offering's profile,
    including the EU reflection period); a paid pledge is refunded."""
    done = await flows.run(ctx, lambda uow: handlers.cancel_pledge(uow, principal, pledge_id, now))
    await flows.settle_campaign(ctx, done.campaign_id)
    return await _fresh(ctx, pledge_id)


@router.post("/pledges/{pledge_id}/refund", response_model=PledgeView, tags=["settlement"])
async def request_refund(pledge_id: ResourceId, ctx: MoneyContextDep, now: Now, principal: Backer) -> PledgeView:
    """After a missed delivery date: the share still held in custody comes back."""
    done = await flows.run(ctx, lambda uow: handlers.request_refund(uow, principal, pledge_id, now))
    await flows.settle_campaign(ctx, done.campaign_id)
    return await _fresh(ctx, pledge_id)


@router.post("/pledges/{pledge_id}/confirm-delivery", response_model=PledgeView, tags=["settlement"])
async def confirm_delivery(pledge_id: ResourceId, uow: UnitOfWorkDep, now: Now, principal: Backer) -> PledgeView:
    return view(await handlers.confirm_delivery(uow, principal, pledge_id, now))


async def _fresh(ctx: flows.Context, pledge_id: str) -> PledgeView:
    async with ctx.db.reading() as session:
        found = await session.get(Pledge, pledge_id)
        assert found is not None
        return view(found)


class FlagReview(Strict):
    decision: Literal["cleared", "confirmed"]
    note: Note = ""


@router.get("/risk/flags", response_model=list[RiskFlag], tags=["risk"])
async def risk_flags(session: ReadSessionDep, _reviewer: Reviewer,
                     state: Literal["open", "cleared", "confirmed"] = "open", limit: Limit = 50,
                     offset: Offset = 0) -> list[RiskFlag]:
    rows = await session.execute(select(RiskFlag).where(RiskFlag.state == state)
                                 .order_by(col(RiskFlag.created_at), col(RiskFlag.id)).limit(limit).offset(offset))
    return list(rows.scalars())


@router.post("/risk/flags/{flag_id}/review", response_model=RiskFlag, tags=["risk"])
async def review_flag(flag_id: ResourceId, body: FlagReview, uow: UnitOfWorkDep, now: Now,
                      principal: Reviewer) -> RiskFlag:
    """Cleared or confirmed, once (a second decision is a 409 naming the state); `risk.flag_reviewed` records it."""
    return await handlers.review_flag(uow, principal, flag_id, body.decision, body.note, now)


