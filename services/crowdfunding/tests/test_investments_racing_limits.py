"""Two equity investments that count against one 12-month total, at once, on SQLite and PostgreSQL: the same
investor in two offerings of different issuers (the US Reg CF investor limit), or two investors in two offerings of
one issuer (its cap). The second is decided on the first: it is limited to what is left, never allowed past the
limit because the two read the totals before either was written. And an investment is flagged for review like a
reward pledge."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from crowdfunding import flows
from crowdfunding.handlers import equity, placing
from crowdfunding.models import RiskFlag
from sqlmodel import select

from shared.auth import Principal
from tests.support.crowdfunding import FOUNDER, assert_ledger_zero, backer, live_campaign, organisation, run

OTHER_FOUNDER = Principal(subject="founder-2", roles=frozenset({"founder"}))
MODEST = equity.ProfileInput(kind="person", currency="USD", annual_income=60_000_00, net_worth=20_000_00)  # USD 3,000
ACCREDITED = equity.ProfileInput(kind="person", currency="USD", annual_income=0, net_worth=0, accredited=True)
CASES = {  # founders of the two offerings, the two investors and their profile, each amount, what is left for one
    "investor_limit": ((FOUNDER, OTHER_FOUNDER), (backer(1), backer(1)), MODEST, 2_000_00, 1_000_00),
    "issuer_cap": ((FOUNDER, FOUNDER), (backer(1), backer(2)), ACCREDITED, 3_000_000_00, 2_000_000_00),
}


@pytest.mark.parametrize("case", list(CASES))
async def test_two_investments_against_one_limit_are_decided_one_after_the_other(
        ctx: flows.Context, monkeypatch: pytest.MonkeyPatch, case: str) -> None:
    founders, investors, profile, amount, left = CASES[case]
    offerings = [(await live_campaign(ctx, kind="equity", profile="us_reg_cf", goal=10**11, founder=f))[0]
                 for f in founders]
    now = ctx.clock.now()
    for investor in {i.subject: i for i in investors}.values():
        await organisation(ctx, investor.subject)  # real-name verified
        await run(ctx, equity.save_profile, investor, profile, now)
    decided, go_on = asyncio.Event(), asyncio.Event()
    insert_pledge = equity.insert_pledge

    async def held(*args: Any, **kwargs: Any) -> Any:  # the first is decided and stops before writing its pledge
        decided.set()
        await go_on.wait()
        return await insert_pledge(*args, **kwargs)

    monkeypatch.setattr(equity, "insert_pledge", held)
    first = asyncio.create_task(flows.invest(ctx, investors[0], offerings[0].id, amount, placing.PledgeInput(), now))
    await decided.wait()
    monkeypatch.setattr(equity, "insert_pledge", insert_pledge)
    second = asyncio.create_task(flows.invest(ctx, investors[1], offerings[1].id, amount, placing.PledgeInput(), now))
    await asyncio.wait({second}, timeout=1)
    decided_meanwhile = second.done()
    go_on.set()
    (allowed, placed), (limited, none) = await first, await second
    assert allowed.allowed and placed is not None and placed.state == "paid"
    assert (limited.outcome, limited.max_amount, none) == ("limited", left, None), limited
    assert not decided_meanwhile, "the second investment was decided without the first"
    await assert_ledger_zero(ctx, offerings[0].id, in_custody=amount)  # the first investment, paid
    await assert_ledger_zero(ctx, offerings[1].id)  # the limited one wrote nothing


async def test_an_investment_is_flagged_like_a_pledge_when_backers_share_an_instrument(ctx: flows.Context) -> None:
    """The anomaly counts of a reward pledge apply to an equity investment: the third investor paying with the same
    instrument is flagged for review (not refused), and the flag names that investment."""
    offering, _ = await live_campaign(ctx, kind="equity", profile="eu_ecsp", goal=10**8)
    now = ctx.clock.now()
    placed = []
    for n in (21, 22, 23):
        investor = backer(n)
        await organisation(ctx, investor.subject)  # real-name verified
        await run(ctx, equity.save_profile, investor, equity.ProfileInput(
            kind="person", currency="EUR", annual_income=0, net_worth=100_000_00, knowledge_test_passed_at=now,
            loss_simulation_at=now), now)
        _, investment = await flows.invest(ctx, investor, offering.id, 100_00,
                                           placing.PledgeInput(payment_party="shared-card"), now)
        assert investment is not None and investment.state == "paid"
        placed.append(investment)
    assert [p.flagged for p in placed] == [False, False, True]
    async with ctx.db.reading() as session:
        flags = (await session.execute(select(RiskFlag).where(RiskFlag.campaign_id == offering.id))).scalars().all()
    assert [(f.rule, f.pledge_id, f.subject_id) for f in flags] == [
        ("same_instrument", placed[2].id, backer(23).subject)]
    await assert_ledger_zero(ctx, offering.id, in_custody=3 * 100_00)
