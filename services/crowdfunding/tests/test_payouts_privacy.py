"""Who sees a campaign's payouts and refunds, and how much of them (SQLite and PostgreSQL): the founder sees their
own payouts in full and the backers' refunds without the backer's payment instrument, account and decline reason;
a reviewer or a regulator sees every row in full; a backer only their own rows."""

from __future__ import annotations

import pytest
from crowdfunding import custody, flows
from crowdfunding.api.money import PayoutView
from crowdfunding.handlers import payouts, pledges

from shared.auth import Principal
from shared.problems import DomainError
from tests.support.crowdfunding import (
    DAY,
    FOUNDER,
    REVIEWER,
    api,
    backer,
    closed_accounts,
    declined_payout_and_refund,
    live_campaign,
    pledge,
    settle_all,
)

REGULATOR = Principal(subject="regulator-1", roles=frozenset({"regulator"}))


async def _seen(ctx: flows.Context, principal: Principal, campaign_id: str) -> list[PayoutView]:
    async with ctx.db.reading() as session:
        return [PayoutView(**row) for row in await payouts.campaign_payouts(session, principal, campaign_id)]


async def test_the_founder_sees_backers_refunds_without_their_instrument_a_reviewer_sees_all(
        ctx: flows.Context) -> None:
    campaign, tier = await live_campaign(ctx, goal=20_000)
    refunded = await pledge(ctx, campaign, tier, 1, party="card-of-backer-1")
    await pledge(ctx, campaign, tier, 2, party="card-of-backer-2")
    ctx.clock.advance(31 * DAY)  # type: ignore[attr-defined]
    await settle_all(ctx)  # succeeded: tranche 1 paid out to the founder
    ctx.clock.advance(60 * DAY)  # type: ignore[attr-defined]
    await settle_all(ctx)  # the delivery date missed: backer 1 takes the held share back
    await flows.run(ctx, lambda uow: pledges.request_refund(uow, backer(1), refunded.id, ctx.clock.now()))
    await flows.settle_campaign(ctx, campaign.id)

    founder_view = await _seen(ctx, FOUNDER, campaign.id)
    [own] = [p for p in founder_view if p.kind == "payout"]
    assert (own.party_id, own.party, own.account) == (
        FOUNDER.subject, f"founder:{FOUNDER.subject}", custody.founder_payable(campaign))
    [refund] = [p for p in founder_view if p.kind == "refund"]
    assert (refund.party_id, refund.amount_fen, refund.status) == (backer(1).subject, 3_000, "paid")
    assert (refund.party, refund.account) == (None, None)  # the backer's instrument and account withheld

    for supervisor in (REVIEWER, REGULATOR):
        full = {p.kind: p for p in await _seen(ctx, supervisor, campaign.id)}
        assert full["refund"].party == "card-of-backer-1" and backer(1).subject in str(full["refund"].account)
        assert full["payout"].party == f"founder:{FOUNDER.subject}"

    [mine] = await _seen(ctx, backer(1), campaign.id)  # a backer: only their own refund, in full
    assert (mine.id, mine.party) == (refund.id, "card-of-backer-1")
    assert await _seen(ctx, backer(2), campaign.id) == []
    with pytest.raises(DomainError) as missing:
        await _seen(ctx, REVIEWER, "no-such-campaign")
    assert (missing.value.status, missing.value.field) == (404, "campaign_id")


async def test_a_declined_payout_s_reason_is_shown_to_its_payee_and_supervisors_over_http(ctx: flows.Context) -> None:
    """The provider's `failure` is kept on the declined payout or refund: the founder reads why their payout was
    declined, the backer why their refund was; the founder does not see why a backer's card refused it."""
    closed = closed_accounts(ctx)
    declined = await declined_payout_and_refund(closed)
    reason = "sandbox: declined (test party)"
    path = f"/campaigns/{declined.campaign.id}/payouts"
    async with api(closed) as http:
        founder = {p["kind"]: p for p in (await http.client.get(path, headers=http.as_(FOUNDER))).json()}
        assert (founder["payout"]["status"], founder["payout"]["failure"]) == ("failed", reason)
        assert (founder["refund"]["status"], founder["refund"]["failure"], founder["refund"]["party"]) == (
            "failed", None, None)
        [own] = (await http.client.get(path, headers=http.as_(backer(1)))).json()
        assert (own["kind"], own["failure"]) == ("refund", reason)
        for supervisor in (REVIEWER, REGULATOR):
            full = (await http.client.get(path, headers=http.as_(supervisor))).json()
            assert [p["failure"] for p in full] == [reason, reason]
