"""Two equity investments that count against one 12-month total, at once, on SQLite and PostgreSQL: the same
investor in two offerings of different issuers (the US Reg CF investor limit), or two investors in two offerings of
one issuer (its cap). The second is decided on the first: it is limited to what is left, never allowed past the
limit because the two read the totals before either was written."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from crowdfunding import flows
from crowdfunding.handlers import equity, placing

from shared.auth import Principal
from tests.support.crowdfunding import FOUNDER, backer, live_campaign, organisation, run

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
