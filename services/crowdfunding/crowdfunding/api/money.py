"""Money routes: the payment provider's callback (repeatable), payouts and their re-issue (four eyes to another
party), and the campaign ledger and trial balance for regulators and admins."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Header, Request, Response, status
from pydantic import BaseModel, Field
from sqlmodel import col, select

from crowdfunding import flows
from crowdfunding.api.common import Auditor, Limit, Note, Offset, Reviewer, Strict, load_campaign
from crowdfunding.api.pledges import Party, PledgeView, view
from crowdfunding.callbacks import SIGNATURE_HEADER, PaymentCallbacks
from crowdfunding.custody import CLEARING
from crowdfunding.handlers import payouts
from crowdfunding.handlers import reissue_requests as reissue_requests_handlers
from crowdfunding.models import Payout, ReissueRequest
from shared.auth import CurrentPrincipal, Principal, require_roles
from shared.context import MoneyContextDep
from shared.ledger import balances, money_trail, trial_balance
from shared.service_app import Now, ReadSessionDep, UnitOfWorkDep
from shared.validation import PlainText, ResourceId

router = APIRouter(tags=["ledger"])
# The provider's payment reference, kept on the pledge (`payment_reference`, at most 120 characters): a longer one is
# a 422 naming the field, not a failed write.
Reference = Annotated[PlainText, Field(max_length=120)]


class Callback(Strict):
    pledge_id: ResourceId
    status: Literal["succeeded", "failed"]
    reference: Reference = ""
    failure: Note | None = None


async def _signed(request: Request,
                  signature: Annotated[str | None, Header(alias=SIGNATURE_HEADER)] = None) -> PaymentCallbacks:
    """The provider's signature over the raw body, checked before the body is read (401 missing, 403 wrong)."""
    callbacks: PaymentCallbacks = request.app.state.payment_callbacks
    callbacks.check(await request.body(), signature)
    return callbacks


@router.post("/payments/callback", response_model=PledgeView, tags=["payments"])
async def payment_callback(body: Callback, ctx: MoneyContextDep,
                           provider: Annotated[PaymentCallbacks, Depends(_signed)]) -> PledgeView:
    """The provider's notification of a charge, signed (HMAC-SHA256 of the body, `X-Payment-Signature`): repeated
    or late deliveries are applied once (a success for an expired pledge is refunded)."""
    done = await flows.payment_callback(ctx, body.pledge_id, body.status == "succeeded", body.reference,
                                        body.failure, provider.actor)
    return view(done)


class Reissue(Strict):
    payment_party: Party | None = None  # a corrected account; the same one if omitted
    why: Note | None = None


class ReissueDecision(Strict):
    why: Note = ""


class ReissueRequestView(BaseModel):
    """A re-issue to another payment party, waiting for (or decided by) a second reviewer."""
    id: str
    payout_id: str
    campaign_id: str
    kind: str
    party_id: str
    from_party: str
    party: str
    currency: str
    amount_fen: int
    why: str
    state: str
    requested_by: str
    requested_at: datetime
    expires_at: datetime | None  # past it, undecided, the request lapses (`expired`)
    decided_by: str | None
    decided_at: datetime | None
    decision_note: str | None
    new_payout_id: str | None


FounderOrReviewer = Annotated[Principal, require_roles("founder", "reviewer")]
Supervisors = Annotated[Principal, require_roles(*payouts.SEE_ALL_PAYOUTS)]


async def _issued(ctx: flows.Context, new: Payout) -> Payout:
    """Execute the new payout at once (by its own idempotency key) and read it back as it now stands."""
    await flows.settle_campaign(ctx, new.campaign_id)
    async with ctx.db.reading() as session:
        fresh = await session.get(Payout, new.id)
    assert fresh is not None
    return fresh


@router.post("/payouts/{payout_id}/reissue", response_model=Payout | ReissueRequestView,
             status_code=status.HTTP_201_CREATED, tags=["settlement"],
             responses={202: {"model": ReissueRequestView, "description": "to another party: awaits a second "
                                                                          "reviewer"}})
async def reissue_payout(payout_id: ResourceId, body: Reissue, ctx: MoneyContextDep, now: Now,
                         principal: FounderOrReviewer, response: Response) -> Payout | ReissueRequestView:
    """A declined payout (by its founder or a reviewer) or refund (by a reviewer) issued again, once: to the party
    it was owed to at once (201, the new payout, executed by its own idempotency key); to another payment party a
    request a second reviewer approves (202), and the owner is notified."""
    done = await flows.run(ctx, lambda uow: payouts.reissue(uow, principal, payout_id, body.payment_party,
                                                            body.why or "issued again", now))
    if isinstance(done, ReissueRequest):
        response.status_code = status.HTTP_202_ACCEPTED
        return ReissueRequestView(**done.model_dump())
    return await _issued(ctx, done)


@router.get("/reissue-requests", response_model=list[ReissueRequestView], tags=["settlement"])
async def reissue_requests(session: ReadSessionDep, _supervisor: Supervisors,
                           state: Literal["pending", "approved", "rejected", "expired"] = "pending",
                           limit: Limit = 50,
                           offset: Offset = 0) -> list[ReissueRequestView]:
    """Re-issues to another party, oldest first: the second reviewers' queue (reviewers, regulators, admins)."""
    return [ReissueRequestView(**r.model_dump()) for r in await reissue_requests_handlers.requests(
        session, state, limit, offset)]


@router.post("/reissue-requests/{request_id}/approve", response_model=Payout, status_code=status.HTTP_201_CREATED,
             tags=["settlement"])
async def approve_reissue(request_id: ResourceId, body: ReissueDecision, ctx: MoneyContextDep, now: Now,
                          principal: Reviewer) -> Payout:
    """A second reviewer (not the requester: 403) approves, once (again: 409): the new payout, executed at once."""
    new = await flows.run(ctx, lambda uow: reissue_requests_handlers.approve(uow, principal, request_id, body.why,
                                                                             now))
    return await _issued(ctx, new)


@router.post("/reissue-requests/{request_id}/reject", response_model=ReissueRequestView, tags=["settlement"])
async def reject_reissue(request_id: ResourceId, body: ReissueDecision, uow: UnitOfWorkDep, now: Now,
                         principal: FounderOrReviewer) -> ReissueRequestView:
    """A reviewer rejects, or the requester withdraws, once: nothing moves."""
    rejected = await reissue_requests_handlers.reject(uow, principal, request_id, body.why, now)
    return ReissueRequestView(**rejected.model_dump())


class PayoutView(BaseModel):
    """A payout or refund; `party`, `account` and `failure` are None where the viewer may not see them (another's
    refund)."""
    id: str
    campaign_id: str
    pledge_id: str | None
    kind: str
    party_id: str
    party: str | None
    account: str | None
    currency: str
    amount_fen: int
    idempotency_key: str
    cause: str
    status: str
    reissue_of: str | None
    reference: str | None
    failure: str | None
    created_at: datetime
    settled_at: datetime | None


@router.get("/campaigns/{campaign_id}/payouts", response_model=list[PayoutView])
async def campaign_payouts(campaign_id: ResourceId, session: ReadSessionDep,
                           principal: CurrentPrincipal) -> list[PayoutView]:
    """Reviewers, regulators, admins: all in full; the founder: all, backers' refunds without their instrument and
    account; a backer: their own."""
    return [PayoutView(**row) for row in await payouts.campaign_payouts(session, principal, campaign_id)]


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


