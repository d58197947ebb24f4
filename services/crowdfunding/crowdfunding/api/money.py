"""Money routes: the payment provider's callback (repeatable), payouts, and the campaign ledger and trial balance
for regulators and admins."""

from __future__ import annotations

from typing import Any, Literal

from fastapi import APIRouter
from sqlalchemy import text
from sqlmodel import col, select

from crowdfunding import flows
from crowdfunding.api.common import READ_OVERRIDE, Auditor, Note, Provider, Strict, load_campaign
from crowdfunding.api.pledges import PledgeView, view
from crowdfunding.custody import CLEARING
from crowdfunding.models import Payout
from shared.auth import CurrentPrincipal
from shared.context import ContextDep
from shared.ledger import LedgerEntry, LedgerTransaction, balances, trial_balance
from shared.service_app import ReadSessionDep
from shared.validation import ResourceId

router = APIRouter(tags=["ledger"])


class Callback(Strict):
    pledge_id: ResourceId
    status: Literal["succeeded", "failed"]
    reference: Note = ""
    failure: Note | None = None


@router.post("/payments/callback", response_model=PledgeView, tags=["payments"])
async def payment_callback(body: Callback, ctx: ContextDep, principal: Provider) -> PledgeView:
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
    prefix = f"cf:{campaign.id}:"
    transactions = (await session.execute(select(LedgerTransaction).where(
        col(LedgerTransaction.id).startswith(prefix, autoescape=True)).order_by(
        col(LedgerTransaction.posted_at), col(LedgerTransaction.id)))).scalars().all()
    entries = (await session.execute(select(LedgerEntry).where(
        col(LedgerEntry.transaction_id).startswith(prefix, autoescape=True)).order_by(col(LedgerEntry.id)))).scalars()
    by_transaction: dict[str, list[dict[str, Any]]] = {}
    total: dict[str, int] = {}
    accounts: dict[str, int] = {}
    for entry in entries:
        by_transaction.setdefault(entry.transaction_id, []).append(
            {"account": entry.account, "currency": entry.currency, "amount": entry.amount})
        total[entry.currency] = total.get(entry.currency, 0) + entry.amount
        accounts[entry.account] = accounts.get(entry.account, 0) + entry.amount
    payouts = (await session.execute(select(Payout).where(Payout.campaign_id == campaign.id)
                                     .order_by(col(Payout.created_at), col(Payout.id)))).scalars().all()
    attempts = (await session.execute(text(
        "SELECT idempotency_key, kind, party, amount, status, calls FROM payment_attempts "
        "WHERE idempotency_key LIKE :p ORDER BY created_at"), {"p": prefix + "%"})).all()
    provider = (await session.execute(text(
        "SELECT idempotency_key, kind, amount, status FROM sandbox_provider_operations WHERE idempotency_key LIKE :p"
    ), {"p": prefix + "%"})).all()
    return {
        "campaign_id": campaign.id, "currency": campaign.currency, "sum": total,
        "held": {k: v for k, v in accounts.items() if v and not k.startswith("provider/")},
        "accounts": accounts,
        "transactions": [{"id": t.id, "kind": t.kind, "memo": t.memo, "posted_at": t.posted_at.isoformat(),
                          "entries": by_transaction.get(t.id, [])} for t in transactions],
        "payouts": [p.model_dump(mode="json") for p in payouts],
        "payment_attempts": [dict(r._mapping) for r in attempts],
        "provider_operations": [dict(r._mapping) for r in provider],
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


