"""Scheduled jobs: deadlines (settlement), delivery, payment expiry, reconfirmations, payouts and the expiry of
re-issue requests. Each decides from stored state and the service clock, acts on each campaign, pledge or request
in its own transaction and is idempotent: a second run, or a run on another replica, finds nothing left to do.
Run one at once with POST /testing/jobs/<name>/run (on a test platform)."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime

from fastapi import FastAPI
from sqlmodel import col, or_, select

from crowdfunding import flows
from crowdfunding.domain.campaign import CampaignState
from crowdfunding.domain.policy import DEFAULT_POLICY
from crowdfunding.handlers import equity, reissue_requests, settlement
from crowdfunding.models import Campaign, Payout, Pledge, ReissueRequest
from shared.problems import DomainError
from shared.scheduler import Job
from shared.uow import UnitOfWork

log = logging.getLogger(__name__)
S = CampaignState
POLICY = DEFAULT_POLICY
Act = Callable[[UnitOfWork, str, datetime], Awaitable[int]]  # a command on one row, in the transaction given
Step = Callable[[str], Awaitable[int]]  # whatever is done for one row (a command in its transaction, or a flow)


def crowdfunding_jobs(app: FastAPI) -> list[Job]:
    def bound(run: Callable[[flows.Context], Awaitable[int]]) -> Callable[[], Awaitable[int]]:
        return lambda: run(flows.Context.of(app))

    return [
        Job("settlement", bound(deadlines), every_seconds=60),  # refunds start within the hour of a deadline
        Job("payment-expiry", bound(payment_expiry), every_seconds=60),
        Job("delivery", bound(delivery), every_seconds=300),
        Job("reconfirmations", bound(reconfirmations), every_seconds=300),
        Job("payouts", bound(retry_payouts), every_seconds=30),
        Job("reissue-expiry", bound(reissue_expiry), every_seconds=300),
    ]


def _transaction(ctx: flows.Context, act: Act) -> Step:
    """The command, on one row, in a transaction of its own."""
    async def step(row_id: str) -> int:
        async with ctx.uow() as uow:
            return await act(uow, row_id, ctx.clock.now())

    return step


async def _each(ctx: flows.Context, ids: Sequence[tuple[str, str]], step: Step, name: str) -> int:
    """The step for each (campaign, row), then settle what it made owed; a row that fails is logged and left for
    the next run, the others go on."""
    acted = 0
    for campaign_id, row_id in ids:
        try:
            acted += await step(row_id)
        except DomainError as exc:
            log.info("job skipped", extra={"job": name, "id": row_id, "why": exc.detail})
            continue
        except Exception:  # one broken row, or the provider unreachable, must not stop the others (refunds are due)
            log.exception("job step failed; it is retried on the next run", extra={"job": name, "id": row_id})
            continue
        await flows.settle_campaign(ctx, campaign_id)
    return acted


async def deadlines(ctx: flows.Context) -> int:
    now = ctx.clock.now()
    async with ctx.db.reading() as session:
        ids = list((await session.execute(select(Campaign.id).where(
            col(Campaign.state).in_([S.LIVE.value, S.WAITING_FUNDS.value]),
            or_(col(Campaign.deadline) <= now, col(Campaign.round_one_ends) <= now))
            .order_by(col(Campaign.deadline)))).scalars())
    return await _each(ctx, [(i, i) for i in ids], _transaction(ctx, settlement.deadline), "settlement")


async def delivery(ctx: flows.Context) -> int:
    async with ctx.db.reading() as session:
        ids = list((await session.execute(select(Campaign.id).where(Campaign.state == S.FULFILLING.value))).scalars())
    return await _each(ctx, [(i, i) for i in ids], _transaction(ctx, settlement.delivery_check), "delivery")


async def payment_expiry(ctx: flows.Context) -> int:
    """Pending past the payment expiry: the provider's word first (paid late keeps the pledge), then release."""
    cutoff = ctx.clock.now() - POLICY.payment_expiry
    async with ctx.db.reading() as session:
        rows = (await session.execute(select(Pledge.campaign_id, Pledge.id).where(
            Pledge.state == "pending", col(Pledge.placed_at) <= cutoff).limit(1000))).all()
    return await _each(ctx, [(c, p) for c, p in rows], lambda pledge_id: flows.resolve_unpaid(ctx, pledge_id),
                       "payment-expiry")


async def reconfirmations(ctx: flows.Context) -> int:
    now = ctx.clock.now()
    async with ctx.db.reading() as session:
        rows = (await session.execute(select(Pledge.campaign_id, Pledge.id).where(
            col(Pledge.reconfirm_by).is_not(None), col(Pledge.reconfirm_by) < now,
            col(Pledge.state).in_(["pending", "paid"])).limit(1000))).all()
    return await _each(ctx, [(c, p) for c, p in rows], _transaction(ctx, equity.lapse_unconfirmed),
                       "reconfirmations")


async def retry_payouts(ctx: flows.Context) -> int:
    async with ctx.db.reading() as session:
        ids = list((await session.execute(select(Payout.id).where(Payout.status == "pending")
                                          .order_by(col(Payout.created_at)).limit(500))).scalars())
    settled = 0
    for payout_id in ids:
        settled += await flows.settle_payout(ctx, payout_id)
    return settled


async def reissue_expiry(ctx: flows.Context) -> int:
    """Re-issue requests still pending past their deadline lapse (or have none yet: it is set)."""
    now = ctx.clock.now()
    async with ctx.db.reading() as session:
        rows = (await session.execute(select(ReissueRequest.campaign_id, ReissueRequest.id).where(
            ReissueRequest.state == "pending",
            or_(col(ReissueRequest.expires_at).is_(None), col(ReissueRequest.expires_at) < now))
            .order_by(col(ReissueRequest.requested_at)).limit(1000))).all()
    return await _each(ctx, [(c, r) for c, r in rows], _transaction(ctx, reissue_requests.expire), "reissue-expiry")
