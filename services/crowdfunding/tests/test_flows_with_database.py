"""The crowdfunding commands, flows and jobs on a real database (SQLite and PostgreSQL) with the sandbox provider
and an adjustable clock: success with both tranches, failure with full refunds, a declined charge releasing its
unit, a race for the last units, a duplicated callback, a missed delivery, equity revocation and reconfirmation.
Each campaign's ledger sums to zero and nothing stays in custody at the end."""

from __future__ import annotations

import asyncio
import json
from datetime import date, datetime, timedelta
from typing import Any

import pytest
from crowdfunding import flows, jobs
from crowdfunding.handlers import campaigns, equity, payouts, placing, pledges, reissue_requests
from crowdfunding.models import Campaign, Payout, Pledge, ReissueRequest, RewardTier, RiskFlag
from sqlalchemy import text
from sqlmodel import select

from shared.auth import Principal
from shared.ledger import balances
from shared.payments import Payments
from shared.problems import DomainError
from shared.uow import UnitOfWork
from shared.workdays import SHANGHAI, WorkingCalendar
from tests.support.crowdfunding import (
    DAY,
    FOUNDER,
    REVIEWER,
    ClosedAccounts,
    assert_ledger_zero,
    backer,
    event_types,
    events_of,
    live_campaign,
    organisation,
    pledge,
    run,
    settle_all,
    state_of,
)


async def test_success_ships_and_releases_both_tranches(ctx: flows.Context) -> None:
    campaign, tier = await live_campaign(ctx)
    paid = [await pledge(ctx, campaign, tier, n) for n in range(3)]
    assert [p.state for p in paid] == ["paid"] * 3
    declined = await pledge(ctx, campaign, tier, 9, party="card-declined")
    assert (declined.state, declined.reason) == ("cancelled", "payment_failed")
    async with ctx.db.reading() as session:
        assert (await session.get(RewardTier, tier)).units_taken == 3  # type: ignore[union-attr]
    assert (await state_of(ctx, campaign.id)).progress_mark == 100
    ctx.clock.advance(31 * DAY)  # type: ignore[attr-defined]
    await settle_all(ctx)
    done = await state_of(ctx, campaign.id)
    assert done.state == "fulfilling" and done.first_tranche_at is not None
    async with ctx.db.reading() as session:
        assert (await balances(session, f"held/campaign/{campaign.id}")) == {
            (f"held/campaign/{campaign.id}", "CNY"): 9_000}
    with pytest.raises(DomainError) as early:
        await run(ctx, pledges.request_refund, backer(0), paid[0].id, ctx.clock.now())
    assert early.value.status == 409
    await run(ctx, campaigns.record_delivery, FOUNDER, campaign.id, "shipped", ctx.clock.now())
    for p in paid:
        await run(ctx, pledges.confirm_delivery, backer(int(p.backer_id.split("-")[1])), p.id, ctx.clock.now())
    await settle_all(ctx)
    assert (await state_of(ctx, campaign.id)).state == "fulfilled"
    await assert_ledger_zero(ctx, campaign.id)
    types = await event_types(ctx)
    for expected in ("campaign.launched.v1", "pledge.paid.v1", "campaign.progress_reached.v1",
                     "campaign.succeeded.v1", "custody.tranche_released.v1", "delivery.recorded.v1",
                     "delivery.confirmed.v1", "payout.completed.v1", "campaign.fulfilled.v1"):
        assert expected in types, expected
    assert types.count("custody.tranche_released.v1") == 2


async def test_failure_refunds_everyone_within_the_hour(ctx: flows.Context) -> None:
    campaign, tier = await live_campaign(ctx, goal=100_000)
    for n in range(3):
        await pledge(ctx, campaign, tier, n, region="HK")
    ctx.clock.advance(30 * DAY + timedelta(minutes=1))  # type: ignore[attr-defined]
    await settle_all(ctx)
    failed = await state_of(ctx, campaign.id)
    assert failed.state == "failed"
    assert failed.refunds_started_at is not None and failed.deadline is not None
    assert failed.refunds_started_at - failed.deadline <= timedelta(hours=1)
    async with ctx.db.reading() as session:
        states = set((await session.execute(select(Pledge.state).where(Pledge.campaign_id == campaign.id))).scalars())
    assert states == {"refunded"}
    await assert_ledger_zero(ctx, campaign.id)
    assert failed.refunds_due_by == WorkingCalendar.china().add_working_days(failed.refunds_started_at, 5)
    [event] = await events_of(ctx, "campaign.failed.v1")
    assert event["refunds_due_by"] is not None


async def test_refunds_are_due_five_working_days_after_a_failure_across_national_day(ctx: flows.Context) -> None:
    from crowdfunding.handlers import settlement

    campaign, _tier = await live_campaign(ctx, goal=100_000)
    failed_at = datetime(2026, 9, 28, 10, 0, tzinfo=SHANGHAI)  # Monday before the 国庆 holiday
    async with UnitOfWork(ctx.db, "crowdfunding") as uow:
        row = await uow.session.get(Campaign, campaign.id)
        assert row is not None
        await settlement.fail(uow, row, "system:test", "deadline passed below goal", failed_at)
        await uow.commit()
    failed = await state_of(ctx, campaign.id)
    # Tue 29, Wed 30 Sep; 1-7 Oct are holidays; Thu 8, Fri 9 and the make-up Saturday 10 Oct (调休) work.
    assert failed.refunds_due_by is not None
    assert failed.refunds_due_by.astimezone(SHANGHAI).date() == date(2026, 10, 10)
    await assert_ledger_zero(ctx, campaign.id)


async def test_no_oversell_when_racing_for_the_last_units(ctx: flows.Context) -> None:
    campaign, tier = await live_campaign(ctx, units=15, goal=10**9)
    outcomes = await asyncio.gather(*(pledge(ctx, campaign, tier, n) for n in range(40)), return_exceptions=True)
    ok = [o for o in outcomes if isinstance(o, Pledge)]
    refused = [o for o in outcomes if isinstance(o, DomainError)]
    assert len(ok) == 15 and len(refused) == 25, outcomes
    assert {e.status for e in refused} == {409}
    async with ctx.db.reading() as session:
        assert (await session.get(RewardTier, tier)).units_taken == 15  # type: ignore[union-attr]
        assert (await balances(session, f"custody/campaign/{campaign.id}")) == {
            (f"custody/campaign/{campaign.id}", "CNY"): 150_000}
    await assert_ledger_zero(ctx, campaign.id, in_custody=150_000)


async def test_duplicated_and_late_callbacks_pay_once(ctx: flows.Context) -> None:
    campaign, tier = await live_campaign(ctx)
    async with ctx.uow() as uow:
        placed = await placing.place_reward_pledge(uow, backer(1), campaign.id, placing.PledgeInput(
            tier_id=tier, shipping_region="CN"), ctx.clock.now())
    for _ in range(2):
        done = await flows.payment_callback(ctx, placed.id, True, "ref-1", None, "service:provider")
        assert done.state == "paid"
    async with ctx.db.reading() as session:
        assert (await session.get(Campaign, campaign.id)).raised_fen == 10_000  # type: ignore[union-attr]
    # a pledge that expired unpaid, then the provider says it succeeded after all: refunded, once
    async with ctx.uow() as uow:
        late = await placing.place_reward_pledge(uow, backer(2), campaign.id, placing.PledgeInput(
            tier_id=tier, shipping_region="CN"), ctx.clock.now())
    ctx.clock.advance(timedelta(minutes=31))  # type: ignore[attr-defined]
    assert await jobs.payment_expiry(ctx) == 1
    for _ in range(2):
        await flows.payment_callback(ctx, late.id, True, "ref-2", None, "service:provider")
    async with ctx.db.reading() as session:
        refreshed = await session.get(Pledge, late.id)
        assert refreshed is not None and refreshed.state == "refunded"
        assert refreshed.reason == "late_payment"  # not left at payment_expired: its refund says why
        assert (await session.get(RewardTier, tier)).units_taken == 1  # type: ignore[union-attr]
    assert [(e["pledge_id"], e["reason"], e["refund_fen"]) for e in await events_of(
        ctx, "pledge.refund_requested.v1")] == [(late.id, "late_payment", 10_000)]  # its event, once
    await assert_ledger_zero(ctx, campaign.id, in_custody=10_000)  # the first pledge, paid once


async def test_missed_delivery_opens_refunds_of_the_held_share(ctx: flows.Context) -> None:
    campaign, tier = await live_campaign(ctx, goal=20_000)
    a = await pledge(ctx, campaign, tier, 1)
    await pledge(ctx, campaign, tier, 2)
    ctx.clock.advance(31 * DAY)  # type: ignore[attr-defined]
    await settle_all(ctx)
    ctx.clock.advance(60 * DAY)  # type: ignore[attr-defined]
    await settle_all(ctx)
    assert (await state_of(ctx, campaign.id)).delivery_missed_at is not None
    with pytest.raises(DomainError) as wrong:
        await run(ctx, pledges.request_refund, backer(2), a.id, ctx.clock.now())
    assert wrong.value.status == 403
    await flows.run(ctx, lambda uow: pledges.request_refund(uow, backer(1), a.id, ctx.clock.now()))
    await flows.settle_campaign(ctx, campaign.id)
    async with ctx.db.reading() as session:
        refunded = await session.get(Pledge, a.id)
        assert refunded is not None and refunded.state == "refunded"
        assert (await balances(session, f"held/campaign/{campaign.id}")) == {
            (f"held/campaign/{campaign.id}", "CNY"): 3_000}
    await assert_ledger_zero(ctx, campaign.id, held_allowed=True)


async def test_equity_reflection_period_and_reconfirmation(ctx: flows.Context) -> None:
    campaign, _ = await live_campaign(ctx, kind="equity", profile="eu_ecsp", goal=10**8)
    investors = [backer(n) for n in range(3)]
    for person in investors:
        await organisation(ctx, person.subject)  # real-name verified
        await run(ctx, equity.save_profile, person, equity.ProfileInput(
            kind="person", currency="EUR", annual_income=0, net_worth=100_000_00,
            knowledge_test_passed_at=ctx.clock.now(), loss_simulation_at=ctx.clock.now()), ctx.clock.now())
    decision, none = await flows.invest(ctx, investors[0], campaign.id, 6_000_00, placing.PledgeInput(),
                                        ctx.clock.now())
    assert none is None and decision.rule == "eu.risk_warning"
    _, first = await flows.invest(ctx, investors[0], campaign.id, 6_000_00, placing.PledgeInput(consent=True),
                                  ctx.clock.now())
    _, second = await flows.invest(ctx, investors[1], campaign.id, 1_000_00, placing.PledgeInput(), ctx.clock.now())
    assert first is not None and second is not None and first.state == second.state == "paid"
    ctx.clock.advance(3 * DAY)  # type: ignore[attr-defined]
    await flows.run(ctx, lambda uow: pledges.cancel_pledge(uow, investors[0], first.id, ctx.clock.now()))
    await flows.settle_campaign(ctx, campaign.id)
    await run(ctx, campaigns.post_update, FOUNDER, campaign.id, "新的估值", "估值变更", True, ctx.clock.now())
    ctx.clock.advance(8 * DAY)  # type: ignore[attr-defined]
    assert await jobs.reconfirmations(ctx) == 1
    await jobs.retry_payouts(ctx)
    async with ctx.db.reading() as session:
        rows = {p.id: (p.state, p.reason) for p in (await session.execute(
            select(Pledge).where(Pledge.campaign_id == campaign.id))).scalars()}
    assert rows[first.id] == ("refunded", "revoked_reflection_period")
    assert rows[second.id] == ("refunded", "not_reconfirmed")
    assert "investment.decided.v1" in await event_types(ctx)
    await assert_ledger_zero(ctx, campaign.id)


async def test_self_backing_and_illegal_steps_are_refused(ctx: flows.Context) -> None:
    campaign, tier = await live_campaign(ctx)
    with pytest.raises(DomainError) as self_backing:
        await flows.pledge(ctx, Principal(subject=FOUNDER.subject, roles=frozenset({"backer"})), campaign.id,
                           placing.PledgeInput(tier_id=tier, shipping_region="CN"), ctx.clock.now())
    assert (self_backing.value.status, self_backing.value.extra["rule"]) == (403, "self_backing")
    with pytest.raises(DomainError) as illegal:
        await run(ctx, campaigns.submit, FOUNDER, campaign.id, ctx.clock.now())
    assert illegal.value.status == 409 and illegal.value.extra["current_state"] == "live"
    await pledge(ctx, campaign, tier, 1)
    with pytest.raises(DomainError) as captured:
        await run(ctx, campaigns.cancel, FOUNDER, campaign.id, "", ctx.clock.now())
    assert captured.value.extra["rule"] == "pledge_captured"
    await assert_ledger_zero(ctx, campaign.id, in_custody=10_000)


async def test_twelve_month_limits_count_offerings_under_every_profile(ctx: flows.Context) -> None:
    """EUR 1,000 invested in an EU offering counts (as USD 1,080) towards the investor's Reg CF limit of USD 3,000
    in a US offering, after the investor's profile moved to USD; the decision names both totals."""
    eu_offering, _ = await live_campaign(ctx, kind="equity", profile="eu_ecsp", goal=10**8)
    us_offering, _ = await live_campaign(ctx, kind="equity", profile="us_reg_cf", goal=10**8)
    investor = backer(7)
    await organisation(ctx, investor.subject)  # real-name verified
    now = ctx.clock.now()
    await run(ctx, equity.save_profile, investor, equity.ProfileInput(
        kind="person", currency="EUR", annual_income=0, net_worth=100_000_00, knowledge_test_passed_at=now,
        loss_simulation_at=now), now)
    _, in_eu = await flows.invest(ctx, investor, eu_offering.id, 1_000_00, placing.PledgeInput(), now)
    assert in_eu is not None and in_eu.state == "paid"
    await run(ctx, equity.save_profile, investor, equity.ProfileInput(
        kind="person", currency="USD", annual_income=60_000_00, net_worth=20_000_00), now)
    limited, none = await flows.invest(ctx, investor, us_offering.id, 2_000_00, placing.PledgeInput(), now)
    assert none is None and (limited.outcome, limited.max_amount) == ("limited", 1_920_00), limited
    assert limited.figures["invested_last_12_months"] == 1_080_00
    assert limited.figures["twelve_month_totals"]["investor"]["by_currency"] == {"EUR": 1_000_00}
    allowed, in_us = await flows.invest(ctx, investor, us_offering.id, 1_920_00, placing.PledgeInput(), now)
    assert allowed.allowed and in_us is not None and in_us.state == "paid"
    # a year later neither counts: the whole limit is there again, and not a cent more
    ctx.clock.advance(timedelta(days=366))  # type: ignore[attr-defined]
    later, _ = await live_campaign(ctx, kind="equity", profile="us_reg_cf", goal=10**8)
    over, none = await flows.invest(ctx, investor, later.id, 3_000_00 + 1, placing.PledgeInput(), ctx.clock.now())
    assert none is None and (over.max_amount, over.figures["invested_last_12_months"]) == (3_000_00, 0), over


async def test_cn_offering_visible_to_an_investor_intending_the_single_project_minimum(ctx: flows.Context) -> None:
    offering, _ = await live_campaign(ctx, kind="equity", profile="cn", goal=10**10)
    investor = backer(8)
    await organisation(ctx, investor.subject)
    await run(ctx, equity.save_profile, investor, equity.ProfileInput(
        kind="person", currency="CNY", annual_income=0, net_worth=0), ctx.clock.now())
    async with ctx.db.reading() as session:
        row = await session.get(Campaign, offering.id)
        assert row is not None
        assert (await equity.visibility(session, investor, row)).rule == "cn.not_qualified"
        below = await equity.visibility(session, investor, row, 1_000_000_00 - 1)
        assert below.outcome == "refused"
        at = await equity.visibility(session, investor, row, 1_000_000_00)
        assert (at.outcome, at.rule) == ("allowed", "cn.qualified.single_project_investment")


async def test_review_uses_the_configured_false_advertising_phrases(ctx: flows.Context) -> None:
    from dataclasses import replace

    from crowdfunding.domain.policy import DEFAULT_POLICY

    org = await organisation(ctx, FOUNDER.subject)
    now = ctx.clock.now()
    data = campaigns.CampaignInput(kind="reward", funding_mode="all_or_nothing", title="台灯", summary="护眼",
                                   story="保本，还包赚", industry="hardware", goal_fen=10_000, duration_days=30,
                                   organisation_id=org)
    campaign = await run(ctx, campaigns.create_campaign, FOUNDER, data, now)
    await run(ctx, campaigns.add_tier, FOUNDER, campaign.id, campaigns.TierInput(
        "早鸟", "一台", 10_000, 5, now + 60 * DAY), now)
    configured = replace(DEFAULT_POLICY, forbidden_phrases=("包赚",))
    submitted = await run(ctx, campaigns.submit, FOUNDER, campaign.id, now, configured)
    found = {(f["rule"], f["field"], f["phrase"]) for f in json.loads(submitted.review_findings)}
    assert found == {("false_advertising", "story", "包赚")}  # 保本 is not on this configured list
    with pytest.raises(DomainError) as refused:
        await run(ctx, campaigns.review, REVIEWER, campaign.id, "approve", "", now, configured)
    assert refused.value.status == 422 and "包赚" in refused.value.detail


async def provider_operations(ctx: flows.Context, campaign_id: str) -> list[tuple[str, str, int]]:
    async with ctx.db.reading() as session:
        rows = (await session.execute(text(
            "SELECT kind, status, amount FROM sandbox_provider_operations WHERE idempotency_key LIKE :p "
            "ORDER BY executed_at"), {"p": f"cf:{campaign_id}:%"})).all()
    return [(r.kind, r.status, int(r.amount)) for r in rows]


async def test_a_declined_refund_is_issued_again_once_and_redirected_by_four_eyes_and_paid_once(
        ctx: flows.Context) -> None:
    ctx = flows.Context(ctx.db, ctx.clock, ctx.service, None,
                        Payments(ctx.db, ClosedAccounts(ctx.db), backoff_seconds=0))
    campaign, tier = await live_campaign(ctx, goal=100_000)
    paid = await pledge(ctx, campaign, tier, 1, party="card-old")
    assert paid.state == "paid"
    ctx.clock.advance(30 * DAY + timedelta(minutes=1))  # type: ignore[attr-defined]
    await settle_all(ctx)
    async with ctx.db.reading() as session:
        [declined] = (await session.execute(select(Payout).where(Payout.campaign_id == campaign.id))).scalars()
    assert (declined.kind, declined.status) == ("refund", "failed")
    now = ctx.clock.now()
    for who in (FOUNDER, backer(1)):  # a refund is re-issued by a reviewer only
        with pytest.raises(DomainError) as refused:
            await run(ctx, payouts.reissue, who, declined.id, None, "", now)
        assert refused.value.status == 403
    reviewers = [Principal(subject=f"reviewer-{n}", roles=frozenset({"reviewer"})) for n in (2, 3, 4)]

    async def reissue(reviewer: Principal) -> Payout:  # to the same (closed) card: one reviewer's act
        return await flows.run(ctx, lambda uow: payouts.reissue(uow, reviewer, declined.id, None, "retry", now))

    outcomes = await asyncio.gather(*(reissue(r) for r in reviewers[:2]), return_exceptions=True)
    [retried] = [o for o in outcomes if isinstance(o, Payout)]
    [lost] = [o for o in outcomes if isinstance(o, DomainError)]
    assert lost.status == 409 and lost.extra["current_state"] == "reissued"
    assert (retried.reissue_of, retried.party, retried.amount_fen) == (declined.id, "card-old", declined.amount_fen)
    await flows.settle_campaign(ctx, campaign.id)  # the card is still closed: declined again

    # to the backer's new card: a request, approved by one of two other reviewers at once
    request = await run(ctx, payouts.reissue, reviewers[0], retried.id, "card-old-new", "the backer's new card", now)
    assert isinstance(request, ReissueRequest) and request.state == "pending"

    async def approve(reviewer: Principal) -> Payout:
        return await flows.run(ctx, lambda uow: reissue_requests.approve(uow, reviewer, request.id, "", now))

    outcomes = await asyncio.gather(*(approve(r) for r in reviewers[1:]), return_exceptions=True)
    [new] = [o for o in outcomes if isinstance(o, Payout)]
    [lost] = [o for o in outcomes if isinstance(o, DomainError)]
    assert lost.status == 409 and lost.extra["current_state"] == "approved"
    assert (new.reissue_of, new.party, new.amount_fen) == (retried.id, "card-old-new", declined.amount_fen)
    await flows.settle_campaign(ctx, campaign.id)
    async with ctx.db.reading() as session:
        rows = {p.id: p.status for p in (await session.execute(
            select(Payout).where(Payout.campaign_id == campaign.id))).scalars()}
        refunded = await session.get(Pledge, paid.id)
    assert rows == {declined.id: "reissued", retried.id: "reissued", new.id: "paid"}
    assert refunded is not None and refunded.state == "refunded"
    for again in (declined.id, retried.id, new.id):  # neither the closed ones nor the paid one is issued again
        with pytest.raises(DomainError) as twice:
            await run(ctx, payouts.reissue, reviewers[0], again, None, "", now)
        assert twice.value.status == 409
    await jobs.retry_payouts(ctx)
    assert await provider_operations(ctx, campaign.id) == [("charge", "succeeded", 10_000),
                                                           ("refund", "failed", 10_000),
                                                           ("refund", "failed", 10_000),
                                                           ("refund", "succeeded", 10_000)]
    assert [e["reissue_of"] for e in await events_of(ctx, "payout.reissued.v1")] == [declined.id, retried.id]
    await assert_ledger_zero(ctx, campaign.id)


async def test_a_declined_founder_payout_is_issued_again_to_a_new_account_once_a_reviewer_approves(
        ctx: flows.Context) -> None:
    org = await organisation(ctx, FOUNDER.subject)
    now = ctx.clock.now()
    data = campaigns.CampaignInput(kind="reward", funding_mode="all_or_nothing", title="台灯", summary="护眼",
                                   story="三年研发", industry="hardware", goal_fen=10_000, duration_days=30,
                                   organisation_id=org, payout_party="founder-account-declined")
    created = await run(ctx, campaigns.create_campaign, FOUNDER, data, now)
    tier = await run(ctx, campaigns.add_tier, FOUNDER, created.id, campaigns.TierInput(
        "早鸟", "一台", 10_000, 10, now + 60 * DAY), now)
    for step in (lambda uow: campaigns.submit(uow, FOUNDER, created.id, now),
                 lambda uow: campaigns.review(uow, REVIEWER, created.id, "approve", "", now),
                 lambda uow: campaigns.launch(uow, FOUNDER, created.id, now)):
        await flows.run(ctx, step)
    campaign = await state_of(ctx, created.id)
    await pledge(ctx, campaign, tier.id, 1)
    ctx.clock.advance(31 * DAY)  # type: ignore[attr-defined]
    await settle_all(ctx)
    async with ctx.db.reading() as session:
        [declined] = (await session.execute(select(Payout).where(Payout.campaign_id == campaign.id))).scalars()
    assert (declined.kind, declined.status, declined.amount_fen) == ("payout", "failed", 7_000)
    stranger = Principal(subject="founder-2", roles=frozenset({"founder"}))
    with pytest.raises(DomainError) as not_theirs:
        await run(ctx, payouts.reissue, stranger, declined.id, "founder-2-account", "", ctx.clock.now())
    assert not_theirs.value.status == 403
    request = await run(ctx, payouts.reissue, FOUNDER, declined.id, "founder-account-fixed", "new account",
                        ctx.clock.now())  # another account: a reviewer approves it
    new = await run(ctx, reissue_requests.approve, REVIEWER, request.id, "account checked", ctx.clock.now())
    await flows.settle_campaign(ctx, campaign.id)
    async with ctx.db.reading() as session:
        assert (await session.get(Payout, new.id)).status == "paid"  # type: ignore[union-attr]
    assert [op for op in await provider_operations(ctx, campaign.id) if op[0] == "payout"] == [
        ("payout", "failed", 7_000), ("payout", "succeeded", 7_000)]
    await assert_ledger_zero(ctx, campaign.id, held_allowed=True)  # 30% stays held until delivery


async def test_payment_expiry_asks_the_provider_before_releasing(ctx: flows.Context) -> None:
    campaign, tier = await live_campaign(ctx, goal=10**8)
    late = await pledge(ctx, campaign, tier, 1, party="card-timeout-always")
    assert late.state == "pending"  # the provider executed the charge but never answered
    async with ctx.uow() as uow:  # a pledge whose charge never reached the provider
        lost = await placing.place_reward_pledge(uow, backer(2), campaign.id, placing.PledgeInput(
            tier_id=tier, shipping_region="CN"), ctx.clock.now())
    assert await jobs.payment_expiry(ctx) == 0  # not expired yet: nothing asked, nothing released
    ctx.clock.advance(timedelta(minutes=31))  # type: ignore[attr-defined]
    assert await jobs.payment_expiry(ctx) == 2
    async with ctx.db.reading() as session:
        kept = await session.get(Pledge, late.id)
        released = await session.get(Pledge, lost.id)
        assert kept is not None and (kept.state, kept.reason) == ("paid", None)  # paid late: kept, paid
        assert released is not None and (released.state, released.reason) == ("cancelled", "payment_expired")
        assert (await session.get(RewardTier, tier)).units_taken == 1  # type: ignore[union-attr]
        assert (await session.get(Campaign, campaign.id)).raised_fen == 10_000  # type: ignore[union-attr]
        attempt = (await session.execute(text("SELECT status FROM payment_attempts WHERE idempotency_key = :k"),
                                         {"k": f"cf:{campaign.id}:charge:{late.id}"})).scalar_one()
        assert attempt == "succeeded"  # our record of the charge learnt the provider's answer too
    assert await jobs.payment_expiry(ctx) == 0
    await assert_ledger_zero(ctx, campaign.id, in_custody=10_000)


async def test_risk_flags_velocity_window_and_one_decision_by_two_reviewers(ctx: flows.Context) -> None:
    campaign, tier = await live_campaign(ctx, units=None, goal=10**9)
    for _ in range(5):  # five within ten minutes pass unflagged
        assert not (await pledge(ctx, campaign, tier, 1)).flagged
        ctx.clock.advance(timedelta(minutes=1))  # type: ignore[attr-defined]
    sixth = await pledge(ctx, campaign, tier, 1)
    assert sixth.flagged
    ctx.clock.advance(timedelta(minutes=11))  # type: ignore[attr-defined]
    assert not (await pledge(ctx, campaign, tier, 1)).flagged  # the earlier ones left the window
    async with ctx.db.reading() as session:
        [flag] = (await session.execute(select(RiskFlag).where(RiskFlag.campaign_id == campaign.id))).scalars()
    assert (flag.rule, flag.pledge_id, flag.state) == ("pledge_velocity", sixth.id, "open")
    reviewers = [Principal(subject=f"reviewer-{n}", roles=frozenset({"reviewer"})) for n in (2, 3)]
    outcomes = await asyncio.gather(*(
        flows.run(ctx, lambda uow, r=r, d=d: pledges.review_flag(uow, r, flag.id, d, "checked", ctx.clock.now()))
        for r, d in zip(reviewers, ("cleared", "confirmed"), strict=True)), return_exceptions=True)
    [won] = [o for o in outcomes if isinstance(o, RiskFlag)]
    [lost] = [o for o in outcomes if isinstance(o, DomainError)]
    assert lost.status == 409 and lost.extra["current_state"] == won.state
    async with ctx.db.reading() as session:
        stored = await session.get(RiskFlag, flag.id)
    assert stored is not None and (stored.state, stored.reviewed_by) == (won.state, won.reviewed_by)
    [event] = await events_of(ctx, "risk.flag_reviewed.v1")
    assert (event["flag_id"], event["decision"], event["rule"]) == (flag.id, won.state, "pledge_velocity")
    with pytest.raises(DomainError) as missing:
        await run(ctx, pledges.review_flag, reviewers[0], "no-such-flag", "cleared", "", ctx.clock.now())
    assert missing.value.status == 404
    await assert_ledger_zero(ctx, campaign.id, in_custody=7 * 10_000)


async def test_pledge_refusals_come_in_order_and_never_keep_the_unit(ctx: flows.Context) -> None:
    """The unit is taken first, with every fact; a refusal after that rolls it back with the transaction."""
    from shared.listings import ListingReplica
    from shared.supervision import SupervisionRestriction

    campaign, tier = await live_campaign(ctx, units=3)
    offering, _ = await live_campaign(ctx, kind="equity", profile="cn")
    now = ctx.clock.now()

    async def refused(who: Principal, campaign_id: str, **data: Any) -> DomainError:
        with pytest.raises(DomainError) as caught:
            async with ctx.uow() as uow:
                await placing.place_reward_pledge(uow, who, campaign_id, placing.PledgeInput(**data), now)
        return caught.value

    assert (await refused(backer(1), "no-such-campaign", tier_id=tier)).status == 404
    assert (await refused(backer(1), offering.id, tier_id=tier)).status == 409
    assert (await refused(backer(1), campaign.id, tier_id="no-such-tier")).field == "tier_id"
    wrong_region = await refused(backer(1), campaign.id, tier_id=tier, shipping_region="US")
    assert (wrong_region.status, wrong_region.field) == (422, "shipping_region")
    founder = await refused(Principal(subject=FOUNDER.subject, roles=frozenset({"backer"})), campaign.id,
                            tier_id=tier, shipping_region="CN")
    assert founder.extra["rule"] == "self_backing"
    related = await refused(backer(1), campaign.id, tier_id=tier, shipping_region="CN",
                            organisation_id=await organisation(ctx, FOUNDER.subject))
    assert related.status == 403  # an organisation the backer does not own
    async with ctx.db.writing() as session:
        session.add(ListingReplica(subject_id=backer(2).subject, black_listing_id="listing-1", black_tier="serious",
                                   black_rule="refund_defaulted", source_event_id="e-1"))
        session.add(SupervisionRestriction(target_type="subject", target_id=backer(3).subject, suspended=True,
                                           order_id="order-1", order_number=1, reason="调查", since=now))
    blacklisted = await refused(backer(2), campaign.id, tier_id=tier, shipping_region="CN")
    assert (blacklisted.status, blacklisted.extra["rule"]) == (403, "blacklisted")
    suspended = await refused(backer(3), campaign.id, tier_id=tier, shipping_region="CN")
    assert (suspended.status, suspended.extra["order_id"]) == (423, "order-1")
    async with ctx.db.reading() as session:
        assert (await session.get(RewardTier, tier)).units_taken == 0  # type: ignore[union-attr]
        assert (await session.execute(select(Pledge).where(Pledge.campaign_id == campaign.id))).first() is None
    for n in range(3):
        await pledge(ctx, campaign, tier, 10 + n)
    # sold out is said last: a blacklisted backer on a sold-out tier hears about the black list
    assert (await refused(backer(2), campaign.id, tier_id=tier, shipping_region="CN")).extra["rule"] == "blacklisted"
    assert (await refused(backer(4), campaign.id, tier_id=tier, shipping_region="CN")).extra["rule"] == "sold_out"
    await assert_ledger_zero(ctx, campaign.id, in_custody=30_000)
