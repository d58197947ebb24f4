"""Re-issuing a declined payout or refund over HTTP (`POST /payouts/{id}/reissue`, SQLite and PostgreSQL): who may
(a reviewer; the founder for the campaign's own payout to the founder) and who may not (403 by role or owner, 401
anonymous), with nothing moved by a refusal."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass

import pytest
from crowdfunding import flows
from crowdfunding.models import Campaign, Payout
from sqlmodel import col, select

from shared.auth import Principal
from shared.payments import Payments
from tests.support.crowdfunding import (
    DAY,
    FOUNDER,
    REVIEWER,
    Api,
    ClosedAccounts,
    api,
    backer,
    live_campaign,
    pledge,
    settle_all,
)

PROBLEM = "application/problem+json"
OTHER_FOUNDER = Principal(subject="founder-2", roles=frozenset({"founder"}))
INVESTOR = Principal(subject="investor-1", roles=frozenset({"investor"}))
BACKER = Principal(subject=backer(1).subject, roles=frozenset({"backer"}))  # the refunded backer


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
    """A campaign that succeeded and missed its delivery date: the founder's payout and backer 1's refund of the
    held share were both declined by the provider."""
    campaign, tier = await live_campaign(ctx, goal=10_000, payout_party="founder-account")
    refunded = await pledge(ctx, campaign, tier, 1, party="card-of-backer-1")
    ctx.clock.advance(31 * DAY)  # type: ignore[attr-defined]
    await settle_all(ctx)  # succeeded: tranche 1 (7,000) to the founder, declined
    ctx.clock.advance(60 * DAY)  # type: ignore[attr-defined]
    await settle_all(ctx)  # the delivery date missed: backer 1 may take the held share back
    async with api(ctx) as http:
        taken = await http.client.post(f"/pledges/{refunded.id}/refund", headers=http.as_(BACKER))
        assert taken.status_code == 200, taken.text
    rows = list((await payouts_of(ctx, campaign.id)).values())
    [payout] = [p for p in rows if p.kind == "payout"]
    [refund] = [p for p in rows if p.kind == "refund"]
    assert (payout.status, payout.amount_fen, refund.status, refund.amount_fen) == ("failed", 7_000, "failed", 3_000)
    return Declined(campaign, payout, refund)


@pytest.fixture
async def closed(ctx: flows.Context) -> flows.Context:
    """The context with a provider that declines payouts and refunds to accounts not ending in "-new"."""
    return flows.Context(ctx.db, ctx.clock, ctx.service, None, Payments(ctx.db, ClosedAccounts(ctx.db),
                                                                        backoff_seconds=0))


@pytest.fixture
async def http(closed: flows.Context) -> AsyncIterator[Api]:
    async with api(closed) as client:
        yield client


async def test_reissue_refuses_wrong_roles_and_owners_over_http(closed: flows.Context, http: Api) -> None:
    declined = await declined_payout_and_refund(closed)
    payout, refund = declined.payout.id, declined.refund.id
    before = await payouts_of(closed, declined.campaign.id)
    refusals = [
        (payout, OTHER_FOUNDER, "payout"),  # a founder, but not this campaign's
        (payout, BACKER, "requires one of the roles"),
        (payout, INVESTOR, "requires one of the roles"),
        (refund, FOUNDER, "refund"),  # the campaign's founder: a backer's refund is not theirs to redirect
        (refund, BACKER, "requires one of the roles"),  # the refund's own backer: through support (a reviewer)
        (refund, INVESTOR, "requires one of the roles"),
        ("no-such-payout", BACKER, "requires one of the roles"),  # the role is checked before the payout is read
    ]
    for payout_id, who, said in refusals:
        response = await http.client.post(f"/payouts/{payout_id}/reissue", headers=http.as_(who),
                                          json={"why": "try"})
        assert response.status_code == 403, (payout_id, who.subject, response.text)
        assert response.headers["content-type"].startswith(PROBLEM) and said in response.json()["detail"]
    for payout_id in (payout, refund):
        anonymous = await http.client.post(f"/payouts/{payout_id}/reissue", json={})
        assert anonymous.status_code == 401
    assert await payouts_of(closed, declined.campaign.id) == before  # nothing closed, nothing issued

    missing = await http.client.post("/payouts/no-such-payout/reissue", headers=http.as_(REVIEWER), json={})
    assert (missing.status_code, missing.json()["errors"][0]["field"]) == (404, "payout_id")

    by_founder = await http.client.post(f"/payouts/{payout}/reissue", headers=http.as_(FOUNDER),
                                        json={"why": "the bank reopened it"})
    assert by_founder.status_code == 201, by_founder.text
    again = by_founder.json()
    assert (again["reissue_of"], again["party"], again["kind"]) == (payout, "founder-account", "payout")
    assert again["status"] == "failed"  # the same closed account: declined again, still owed

    for reissued_id in (again["id"], refund):  # a reviewer re-issues a founder's payout and a backer's refund
        by_reviewer = await http.client.post(f"/payouts/{reissued_id}/reissue", headers=http.as_(REVIEWER), json={})
        assert by_reviewer.status_code == 201, by_reviewer.text
        assert by_reviewer.json()["reissue_of"] == reissued_id
    statuses = [p.status for p in (await payouts_of(closed, declined.campaign.id)).values()]
    assert sorted(statuses) == ["failed", "failed", "reissued", "reissued", "reissued"]
