"""Pledges racing the closing of their campaign (the deadline job's settlement), on SQLite and PostgreSQL.

A pledge that arrived before the deadline is either taken before the campaign closes, and then it is in the
settlement (refunded in full on failure, paid out and held on success), or it is refused with 409 because the
campaign is no longer live. None is lost: the ledger is at zero and nothing stays in custody.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

import pytest
from crowdfunding import flows, jobs
from crowdfunding.handlers import placing
from crowdfunding.models import Campaign, Pledge
from sqlalchemy import false
from sqlmodel import select

from shared.ledger import balances
from shared.problems import DomainError
from shared.statements import Statement
from tests.support.crowdfunding import DAY, assert_ledger_zero, backer, live_campaign, pledge, settle_all, state_of

PRICE = 10_000
FAILS, SUCCEEDS = 10**9, 2 * PRICE  # goals: never reached; reached by the pledge made before the race and one more


async def settle_until_closed(ctx: flows.Context, campaign_id: str) -> Campaign:
    """Run the jobs until the campaign is decided (a pending payment at the deadline makes it wait a run)."""
    for _ in range(3):
        await settle_all(ctx)
        campaign = await state_of(ctx, campaign_id)
        if campaign.state in ("failed", "fulfilling"):
            return campaign
    raise AssertionError(f"the campaign is still {campaign.state!r}")


async def assert_settled(ctx: flows.Context, campaign: Campaign, accepted: list[str]) -> None:
    """Every accepted pledge is in the settlement: all refunded after a failure; all paid, and counted in the first
    tranche, after a success."""
    async with ctx.db.reading() as session:
        states = {p.id: p.state for p in (await session.execute(
            select(Pledge).where(Pledge.campaign_id == campaign.id))).scalars()}
        held = await balances(session, f"held/campaign/{campaign.id}")
    assert set(states) == set(accepted)
    if campaign.state == "failed":
        assert set(states.values()) == {"refunded"}, states
        await assert_ledger_zero(ctx, campaign.id)
    else:
        assert set(states.values()) == {"paid"}, states
        assert campaign.raised_fen == PRICE * len(accepted)
        assert held == {(f"held/campaign/{campaign.id}", "CNY"): 3_000 * len(accepted)}  # 30% of every pledge
        await assert_ledger_zero(ctx, campaign.id, held_allowed=True)


@pytest.mark.parametrize("goal", [FAILS, SUCCEEDS], ids=["fails", "succeeds"])
async def test_a_pledge_holding_its_unit_makes_the_closing_wait_and_is_settled(
        ctx: flows.Context, monkeypatch: pytest.MonkeyPatch, goal: int) -> None:
    """The pledge is stopped after its first statement (the unit taken, the campaign read live), before it writes
    its row: the closing job waits for it (PostgreSQL: the campaign row's share lock; SQLite: the one writer) and
    then counts it."""
    campaign, tier = await live_campaign(ctx, goal=goal, units=None)
    first = await pledge(ctx, campaign, tier, 1)
    assert campaign.deadline is not None
    before = campaign.deadline - timedelta(seconds=1)  # the racing pledge arrived just before the deadline
    ctx.clock.advance(30 * DAY + timedelta(minutes=1))  # type: ignore[attr-defined]
    taken, go_on = asyncio.Event(), asyncio.Event()
    write = placing._write

    async def stopped(*args: Any) -> Any:
        taken.set()
        await go_on.wait()
        return await write(*args)

    monkeypatch.setattr(placing, "_write", stopped)
    racing = asyncio.create_task(flows.pledge(ctx, backer(2), campaign.id, placing.PledgeInput(
        tier_id=tier, shipping_region="CN"), before))
    await taken.wait()
    monkeypatch.setattr(placing, "_write", write)
    closing = asyncio.create_task(jobs.deadlines(ctx))
    await asyncio.wait({closing}, timeout=1)
    closed_meanwhile = closing.done()
    go_on.set()
    placed = await racing
    await closing
    await assert_settled(ctx, await settle_until_closed(ctx, campaign.id), [first.id, placed.id])
    assert not closed_meanwhile, "the campaign closed under a pledge that read it live"


@pytest.mark.parametrize("goal", [FAILS, SUCCEEDS], ids=["fails", "succeeds"])
async def test_pledges_racing_the_closing_are_settled_or_refused(ctx: flows.Context, goal: int) -> None:
    campaign, tier = await live_campaign(ctx, goal=goal, units=None)
    first = await pledge(ctx, campaign, tier, 1)
    assert campaign.deadline is not None
    before = campaign.deadline - timedelta(seconds=1)
    ctx.clock.advance(30 * DAY + timedelta(minutes=1))  # type: ignore[attr-defined]

    async def racing(n: int) -> Pledge:
        return await flows.pledge(ctx, backer(n), campaign.id, placing.PledgeInput(
            tier_id=tier, shipping_region="CN"), before)

    outcomes = await asyncio.gather(*(racing(n) for n in range(10, 30)), jobs.deadlines(ctx),
                                    *(racing(n) for n in range(30, 40)), return_exceptions=True)
    accepted = [o.id for o in outcomes if isinstance(o, Pledge)]
    refused = [o for o in outcomes if isinstance(o, DomainError)]
    assert len(accepted) + len(refused) == 30, [o for o in outcomes if isinstance(o, Exception)]
    assert {(e.status, e.extra["current_state"]) for e in refused} <= {(409, "waiting_funds"), (409, "failed"),
                                                                        (409, "fulfilling")}
    await assert_settled(ctx, await settle_until_closed(ctx, campaign.id), [first.id, *accepted])


async def test_a_unit_refused_while_the_campaign_was_not_live_is_not_called_sold_out(
        ctx: flows.Context, monkeypatch: pytest.MonkeyPatch) -> None:
    """The UPDATE found the campaign not live under its lock and the SELECT after it finds it live again (suspended
    and reinstated in between): a 409 to try again, not "sold out" for a tier with units left."""
    campaign, tier = await live_campaign(ctx, units=5)
    not_live = Statement(placing._TAKE_UNIT.statement.where(false()))  # as if not live at that moment
    monkeypatch.setattr(placing, "_TAKE_UNIT", not_live)
    with pytest.raises(DomainError) as refused:
        await pledge(ctx, campaign, tier, 1)
    assert (refused.value.status, refused.value.extra.get("rule"), refused.value.extra["current_state"]) == (
        409, None, "live")
    await assert_ledger_zero(ctx, campaign.id)  # the refused pledge posted nothing
