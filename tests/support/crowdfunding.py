"""Crowdfunding test helpers on a real database (the `ctx` fixture is in services/crowdfunding/tests/conftest.py):
principals, a live campaign, a pledge through the flow, every job once, the ledger check every scenario ends
with, a provider that declines payouts to closed accounts, and the service's HTTP API on the same database."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import timedelta
from types import SimpleNamespace
from typing import Any

import httpx
from crowdfunding import flows, jobs
from crowdfunding.handlers import campaigns, placing
from crowdfunding.main import create_app
from crowdfunding.models import Campaign, Payout, Pledge
from crowdfunding.settings import CrowdfundingSettings
from sqlalchemy import text
from sqlmodel import col, select

from shared.auth import Principal, issue_token
from shared.ids import new_id, utcnow
from shared.ledger import balances, trial_balance
from shared.money import Money
from shared.outbox import read_feed
from shared.payments import PaymentKind, PaymentResult, Payments, SandboxPaymentProvider
from shared.replica import SubjectReplica

DAY = timedelta(days=1)
FOUNDER = Principal(subject="founder-1", roles=frozenset({"founder"}))
REVIEWER = Principal(subject="reviewer-1", roles=frozenset({"reviewer"}))


def backer(n: int) -> Principal:
    return Principal(subject=f"backer-{n}", roles=frozenset({"backer", "investor"}))


async def run(ctx: flows.Context, command: Any, *args: Any) -> Any:
    async with ctx.uow() as uow:
        return await command(uow, *args)


async def organisation(ctx: flows.Context, owner: str) -> str:
    org = new_id()
    async with ctx.db.writing() as session:
        session.add(SubjectReplica(subject_id=org, kind="organisation", name="示例科技", owner_id=owner,
                                   region_code="350100", registration_number_masked="9135****0Y43",
                                   registered_at=utcnow(), source_event_id=new_id(), verified_at=utcnow(),
                                   verification_level="sandbox:uscc_name_and_representative"))
    return org


async def live_campaign(ctx: flows.Context, *, goal: int = 30_000, units: int | None = 10,
                        mode: str = "all_or_nothing", kind: str = "reward", profile: str | None = None,
                        days: int = 30, founder: Principal = FOUNDER,
                        payout_party: str | None = None) -> tuple[Campaign, str | None]:
    now = ctx.clock.now()
    org = await organisation(ctx, founder.subject)
    data = campaigns.CampaignInput(kind=kind, funding_mode=mode, title="智能台灯", summary="护眼", story="三年研发",
                                   industry="hardware", goal_fen=goal, duration_days=days, organisation_id=org,
                                   equity_profile=profile, key_information_sheet="KIIS", risk_statement="可能亏损",
                                   payout_party=payout_party)
    campaign = await run(ctx, campaigns.create_campaign, founder, data, now)
    tier_id = None
    if kind == "reward":
        tier = await run(ctx, campaigns.add_tier, founder, campaign.id, campaigns.TierInput(
            "早鸟", "一台", 10_000, units, now + 60 * DAY, {"CN": 0, "HK": 2_000}), now)
        tier_id = tier.id
    await run(ctx, campaigns.submit, founder, campaign.id, now)
    await run(ctx, campaigns.review, REVIEWER, campaign.id, "approve", "ok", now)
    campaign = await run(ctx, campaigns.launch, founder, campaign.id, now)
    return campaign, tier_id


async def pledge(ctx: flows.Context, campaign: Campaign, tier_id: str | None, n: int, party: str | None = None,
                 region: str = "CN") -> Pledge:
    return await flows.pledge(ctx, backer(n), campaign.id, placing.PledgeInput(
        tier_id=tier_id, shipping_region=region, payment_party=party), ctx.clock.now())


async def settle_all(ctx: flows.Context) -> None:
    for job in (jobs.deadlines, jobs.payment_expiry, jobs.delivery, jobs.reconfirmations, jobs.retry_payouts,
                jobs.reissue_expiry):
        await job(ctx)


async def assert_ledger_zero(ctx: flows.Context, campaign_id: str, *, held_allowed: bool = False,
                             in_custody: int = 0) -> None:
    """The ledger balances to zero (the whole, and the campaign's own transactions); nothing is left owed or
    committed; custody holds exactly `in_custody` (the paid pledges of a campaign not settled yet, else 0)."""
    async with ctx.db.reading() as session:
        assert set((await trial_balance(session)).values()) <= {0}
        total = (await session.execute(text("SELECT COALESCE(SUM(amount), 0) FROM ledger_entries WHERE "
                                            "transaction_id LIKE :p"), {"p": f"cf:{campaign_id}:%"})).scalar_one()
        assert int(total) == 0
        custody = {k: v for k, v in (await balances(session, "custody/")).items() if campaign_id in k[0]}
        assert sum(custody.values()) == in_custody, custody
        if in_custody:
            paid = (await session.execute(text("SELECT COALESCE(SUM(amount_fen), 0) FROM pledges WHERE "
                                               "campaign_id = :c AND state = 'paid'"), {"c": campaign_id})).scalar_one()
            assert int(paid) == in_custody  # custody holds exactly the paid pledges
        for prefix in ("receivable/", "commitments/", "payable/") + (() if held_allowed else ("held/",)):
            left = {k: v for k, v in (await balances(session, prefix)).items() if campaign_id in k[0]}
            assert left == {}, (prefix, left)


async def state_of(ctx: flows.Context, campaign_id: str) -> Campaign:
    async with ctx.db.reading() as session:
        found = await session.get(Campaign, campaign_id)
        assert found is not None
        return found


async def event_types(ctx: flows.Context) -> list[str]:
    async with ctx.db.reading() as session:
        events, _ = await read_feed(session, 0, 1000)
    return [e.type.removeprefix("cn.sizhong.crowdfunding.") for e in events]


async def events_of(ctx: flows.Context, suffix: str) -> list[dict[str, Any]]:
    async with ctx.db.reading() as session:
        events, _ = await read_feed(session, 0, 1000)
    return [e.data for e in events if e.type.endswith(suffix)]


class ClosedAccounts(SandboxPaymentProvider):
    """The provider's view of closed accounts: a payout or refund to a party not ending in "-new" is declined (not
    executed); charges go through as in the sandbox."""

    async def execute(self, kind: PaymentKind, idempotency_key: str, amount: Money, party: str) -> PaymentResult:
        if kind is not PaymentKind.CHARGE and not party.endswith("-new"):
            party = f"{party}-declined"
        return await super().execute(kind, idempotency_key, amount, party)


JWT_SECRET = "crowdfunding-http-tests-" + "j" * 16


@dataclass(frozen=True)
class Api:
    """The crowdfunding service's routes over HTTP (httpx's ASGI transport) on the test's database, provider and
    clock; `as_(principal)` is the bearer token the gateway would have issued."""

    client: httpx.AsyncClient
    settings: CrowdfundingSettings

    def as_(self, principal: Principal) -> dict[str, str]:
        token = issue_token(self.settings.jwt_secret, self.settings.jwt_issuer, principal.subject, principal.roles)
        return {"authorization": f"Bearer {token}"}


@asynccontextmanager
async def api(ctx: flows.Context) -> AsyncIterator[Api]:
    """The app built as at start, its state pointed at `ctx` (no relay, scheduler or consumer: the test runs the
    jobs itself)."""
    settings = CrowdfundingSettings(jwt_secret=JWT_SECRET)
    app = create_app(settings)
    app.state.db, app.state.clock, app.state.payments = ctx.db, ctx.clock, ctx.payments
    app.state.relay = SimpleNamespace(wake=ctx.wake)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://crowdfunding") as client:
        yield Api(client, settings)


def closed_accounts(ctx: flows.Context) -> flows.Context:
    """`ctx` with a provider that declines payouts and refunds to accounts not ending in "-new"."""
    return flows.Context(ctx.db, ctx.clock, ctx.service, None, Payments(ctx.db, ClosedAccounts(ctx.db),
                                                                        backoff_seconds=0))


async def provider_operations(ctx: flows.Context, campaign_id: str) -> list[tuple[str, str, str, int]]:
    """What the sandbox provider was asked to do for the campaign (kind, party, status, amount), in order."""
    async with ctx.db.reading() as session:
        rows = (await session.execute(text(
            "SELECT kind, party, status, amount FROM sandbox_provider_operations WHERE idempotency_key LIKE :p "
            "ORDER BY executed_at, idempotency_key"), {"p": f"cf:{campaign_id}:%"})).all()
    return [(r.kind, r.party, r.status, int(r.amount)) for r in rows]


@dataclass(frozen=True)
class Declined:
    campaign: Campaign
    payout: Payout  # the founder's tranche 1, declined (the founder's account is closed)
    refund: Payout  # backer 1's held share after a missed delivery, declined (the card is closed)


async def payouts_of(ctx: flows.Context, campaign_id: str) -> dict[str, Payout]:
    async with ctx.db.reading() as session:
        rows = (await session.execute(select(Payout).where(Payout.campaign_id == campaign_id)
                                      .order_by(col(Payout.created_at), col(Payout.id)))).scalars().all()
    return {p.id: p for p in rows}


async def declined_payout_and_refund(ctx: flows.Context) -> Declined:
    """On a `closed_accounts` context: a campaign that succeeded (one pledge of 10,000 by backer 1) and missed its
    delivery date; the founder's payout (7,000) and backer 1's refund of the held share (3,000) both declined."""
    campaign, tier = await live_campaign(ctx, goal=10_000, payout_party="founder-account")
    refunded = await pledge(ctx, campaign, tier, 1, party="card-of-backer-1")
    ctx.clock.advance(31 * DAY)  # type: ignore[attr-defined]
    await settle_all(ctx)  # succeeded: tranche 1 (7,000) to the founder, declined
    ctx.clock.advance(60 * DAY)  # type: ignore[attr-defined]
    await settle_all(ctx)  # the delivery date missed: backer 1 may take the held share back
    async with api(ctx) as http:
        taken = await http.client.post(f"/pledges/{refunded.id}/refund", headers=http.as_(backer(1)))
        assert taken.status_code == 200, taken.text
    rows = list((await payouts_of(ctx, campaign.id)).values())
    [payout] = [p for p in rows if p.kind == "payout"]
    [refund] = [p for p in rows if p.kind == "refund"]
    assert (payout.status, payout.amount_fen, refund.status, refund.amount_fen) == ("failed", 7_000, "failed", 3_000)
    return Declined(campaign, payout, refund)
