"""Money routes: the payment provider's callback (repeatable), payouts, and the campaign ledger and trial balance
for regulators and admins."""

from __future__ import annotations

from typing import Any, Literal

from fastapi import APIRouter
from sqlmodel import col, select

from crowdfunding import flows
from crowdfunding.api.common import READ_OVERRIDE, Auditor, Note, Provider, Strict, load_campaign
from crowdfunding.api.pledges import PledgeView, view
from crowdfunding.custody import CLEARING
from crowdfunding.models import Payout
from shared.auth import CurrentPrincipal
from shared.context import MoneyContextDep
from shared.ledger import balances, money_trail, trial_balance
from shared.service_app import ReadSessionDep
from shared.validation import ResourceId

router = APIRouter(tags=["ledger"])


class Callback(Strict):
    pledge_id: ResourceId
    status: Literal["succeeded", "failed"]
    reference: Note = ""
    failure: Note | None = None


@router.post("/payments/callback", response_model=PledgeView, tags=["payments"])
async def payment_callback(body: Callback, ctx: MoneyContextDep, principal: Provider) -> PledgeView:
    """The provider's notification of a charge: repeated or late deliveries are applied once (a success for an
    expired pledge is refunded)."""
    done = await flows.payment_callback(ctx, body.pledge_id, body.status == "succeeded", body.reference,
                                        body.failure, principal.subject)
    return view(done)


@router.get("/campaigns/{campaign_id}/payouts", response_model=list[Payout])
async def campaign_payouts(campaign_id: ResourceId, session: ReadSessionDep,
                           principal: CurrentPrincipal) -> list[Payout]:
    campaign = await load_campaign(session, campaign_id)
    query = select(Payout).where(Payout.campaign_id == campaign_id)
    if principal.subject != campaign.founder_id and not principal.has_any(*READ_OVERRIDE):
        query = query.where(Payout.party_id == principal.subject)
    return list((await session.execute(query.order_by(col(Payout.created_at), col(Payout.id)))).scalars())


@router.get("/campaigns/{campaign_id}/ledger")
async def campaign_ledger(campaign_id: ResourceId, session: ReadSessionDep, _auditor: Auditor) -> dict[str, Any]:
    """Every ledger transaction of the campaign with its entries (each sums to zero, so the whole does), the
    balance of each account, its payouts and the provider calls made for it."""
    campaign = await load_campaign(session, campaign_id)
    trail = await money_trail(session, f"cf:{campaign.id}:")
    payouts = (await session.execute(select(Payout).where(Payout.campaign_id == campaign.id)
                                     .order_by(col(Payout.created_at), col(Payout.id)))).scalars().all()
    return {
        "campaign_id": campaign.id, "currency": campaign.currency, **trail,
        "held": {k: v for k, v in trail["accounts"].items() if v and not k.startswith("provider/")},
        "payouts": [p.model_dump(mode="json") for p in payouts],
    }


@router.get("/ledger/trial-balance")
async def ledger_trial_balance(session: ReadSessionDep, _auditor: Auditor) -> dict[str, Any]:
    clearing = await balances(session, CLEARING)
    custody = await balances(session, "custody/")
    held = await balances(session, "held/")

    def by_currency(rows: dict[tuple[str, str], int]) -> dict[str, int]:
        out: dict[str, int] = {}
        for (_account, currency), amount in rows.items():
            out[currency] = out.get(currency, 0) + amount
        return out

    return {"trial_balance": await trial_balance(session), "clearing": by_currency(clearing),
            "custody": by_currency(custody), "held": by_currency(held)}


