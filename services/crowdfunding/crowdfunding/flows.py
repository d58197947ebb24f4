"""Commands that call the payment provider: the provider is called between transactions, never inside one (on
SQLite there is one writer, and the payments module takes its own short transactions).

- Pledges: one transaction takes the unit, writes the pledge, its custody posting and its event; the charge is
  made with the idempotency key `cf:<campaign>:charge:<pledge>`; a second transaction records the outcome (paid,
  or the unit released). A provider that never answers leaves the pledge pending: its callback (repeatable) or
  the payment-expiry job resolves it.
- Payouts and refunds: commands record what is owed (`Payout` rows, with the ledger posting); `settle_campaign`
  executes them by their idempotency keys afterwards, and the `payouts` job retries any left pending (a provider
  timeout), so each is paid exactly once.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import TypeVar

from sqlmodel import col, select

from crowdfunding import custody
from crowdfunding.domain.equity import Decision
from crowdfunding.handlers import equity, placing, pledges, settlement
from crowdfunding.handlers.common import SYSTEM
from crowdfunding.models import Payout, Pledge
from shared.auth import Principal
from shared.context import MoneyContext
from shared.money import Money
from shared.payments import PaymentKind
from shared.uow import UnitOfWork

log = logging.getLogger(__name__)
T = TypeVar("T")
Context = MoneyContext


async def pledge(ctx: Context, principal: Principal, campaign_id: str, data: placing.PledgeInput,
                 now: datetime) -> Pledge:
    async with ctx.uow() as uow:
        placed = await placing.place_reward_pledge(uow, principal, campaign_id, data, now)
    return await charge(ctx, placed)


async def invest(ctx: Context, principal: Principal, campaign_id: str, amount: int, data: placing.PledgeInput,
                 now: datetime) -> tuple[Decision, Pledge | None]:
    async with ctx.uow() as uow:
        decision, placed = await equity.invest(uow, principal, campaign_id, amount, data, now)
    if placed is None:
        return decision, None
    return decision, await charge(ctx, placed)


async def charge(ctx: Context, placed: placing.Placed) -> Pledge:
    """Charge the pledge by its idempotency key and record the outcome; a timeout leaves it pending."""
    try:
        result = await ctx.payments.execute(PaymentKind.CHARGE, custody.charge_key(placed.campaign_id, placed.id),
                                            placed.amount, placed.payment_party)
    except TimeoutError:
        log.warning("charge timed out; the callback or the expiry job resolves it", extra={"pledge": placed.id})
        async with ctx.db.reading() as session:
            pending = await session.get(Pledge, placed.id)
        assert pending is not None  # written and committed before the charge
        return pending
    async with ctx.uow() as uow:
        return await pledges.record_payment(uow, placed.id, result.succeeded, result.reference, result.failure,
                                            SYSTEM, ctx.clock.now())


async def payment_callback(ctx: Context, pledge_id: str, succeeded: bool, reference: str, failure: str | None,
                           actor: str) -> Pledge:
    """The provider's notification (repeatable, possibly late or out of order): applied once."""
    async with ctx.uow() as uow:
        done = await pledges.record_payment(uow, pledge_id, succeeded, reference, failure, actor, ctx.clock.now())
    await settle_campaign(ctx, done.campaign_id)
    return done


async def resolve_unpaid(ctx: Context, pledge_id: str) -> int:
    """A pledge still pending past the payment expiry: the provider is asked how its charge ended before anything
    is released. Paid late: the pledge is paid (kept); declined: released as a failed payment; never executed
    (or unknown to the provider): expired and released. A provider that does not answer leaves it for the next
    run."""
    async with ctx.db.reading() as session:
        pledge = await session.get(Pledge, pledge_id)
    if pledge is None or pledge.state != "pending":
        return 0
    result = await ctx.payments.status(custody.charge_key(pledge.campaign_id, pledge.id))
    async with ctx.uow() as uow:
        if result is None:
            return await settlement.expire_pending(uow, pledge_id, ctx.clock.now())
        done = await pledges.record_payment(uow, pledge_id, result.succeeded, result.reference, result.failure,
                                            SYSTEM, ctx.clock.now())
    return int(done.state != "pending")


async def settle_campaign(ctx: Context, campaign_id: str) -> int:
    """Execute every payout and refund the campaign still owes; returns how many were settled now."""
    async with ctx.db.reading() as session:
        ids = list((await session.execute(select(Payout.id).where(
            Payout.campaign_id == campaign_id, Payout.status == "pending").order_by(col(Payout.created_at),
                                                                                   col(Payout.id)))).scalars())
    settled = 0
    for payout_id in ids:
        settled += await settle_payout(ctx, payout_id)
    return settled


async def settle_payout(ctx: Context, payout_id: str) -> int:
    async with ctx.db.reading() as session:
        payout = await session.get(Payout, payout_id)
    if payout is None or payout.status != "pending":
        return 0
    kind = PaymentKind.PAYOUT if payout.kind == "payout" else PaymentKind.REFUND
    try:
        result = await ctx.payments.execute(kind, payout.idempotency_key, Money(payout.currency, payout.amount_fen),
                                            payout.party)
    except TimeoutError:
        log.warning("payout timed out; the payouts job retries it with the same key", extra={"payout": payout_id})
        return 0
    async with ctx.uow() as uow:
        return await settlement.payout_result(uow, payout_id, result, ctx.clock.now())


async def run(ctx: Context, command: Callable[[UnitOfWork], Awaitable[T]]) -> T:
    """Run one command in its own unit of work (then settle what it made owed)."""
    async with ctx.uow() as uow:
        return await command(uow)
