"""A general contract's (总包) deadline acted on, on a real database (SQLite and PostgreSQL) with the service's
adjustable clock and the `deadlines` job: a contract never split expires when its deadline passes; at the
deadline its draft sub-tasks (分包) are dropped, refunding what an interrupted funding charged, nothing new is
posted or published under it, and it waits only for the sub-tasks under way. The ledger sums to zero (`money`)."""

from __future__ import annotations

from datetime import timedelta

from crowdsourcing import flows, jobs

from services.crowdsourcing.tests.test_flows_with_database import (
    DAY,
    POSTER,
    ctx,
    flaky,
    milestone_ids,
    money,
    person,
    post,
    provider_net,
    publish,
    task_of,
)
from services.crowdsourcing.tests.test_notices_prizes_and_disputes import clock
from services.crowdsourcing.tests.test_posters_contracts_and_red_list import events, refusal

__all__ = ["ctx"]
SECOND = timedelta(seconds=1)


async def test_a_general_contract_never_split_expires_when_its_deadline_passes(ctx: flows.Context) -> None:
    contract = await post(ctx, "general_contract", [], deadline=ctx.clock.now() + 10 * DAY)
    assert (await publish(ctx, contract)).state == "open"
    clock(ctx).advance(10 * DAY - 60 * SECOND)
    assert await jobs.deadlines(ctx) == 0  # not yet: a contract with no sub-task waits for its first until then
    assert (await task_of(ctx, contract.id)).state == "open"

    clock(ctx).advance(2 * 60 * SECOND)
    assert await jobs.deadlines(ctx) == 1
    ended = await task_of(ctx, contract.id)
    assert (ended.state, ended.reason) == ("expired", "no_sub_task_completed")
    expired = [e.data for e in await events(ctx, "task.expired") if e.subject == contract.id]
    assert [(d["from_state"], d["reason"]) for d in expired] == [("open", "no_sub_task_completed")]
    assert await jobs.deadlines(ctx) == 0  # a second run finds nothing left to do


async def test_a_general_contract_published_after_its_deadline_with_no_sub_task_expires_at_once(
        ctx: flows.Context) -> None:
    contract = await post(ctx, "general_contract", [], deadline=ctx.clock.now() + DAY)
    clock(ctx).advance(DAY + SECOND)
    published = await publish(ctx, contract)
    assert (published.state, published.reason) == ("expired", "no_sub_task_completed")


async def test_at_its_deadline_a_contract_drops_its_drafts_refunding_them_and_waits_for_the_work_under_way(
        ctx: flows.Context) -> None:
    provider = flaky(ctx)
    contract = await post(ctx, "general_contract", [], deadline=ctx.clock.now() + DAY)
    solver = person("gd-solver", "solver")
    hire = await post(ctx, "direct_hire", [300_000], solver_id=solver.subject, parent_id=contract.id)
    draft = await post(ctx, "bounty", [600_000], parent_id=contract.id)
    for task in (contract, hire):
        await publish(ctx, task)
    (milestone,) = await milestone_ids(ctx, draft.id)
    provider.stuck = {f"cs:{draft.id}:fund:{milestone}"}  # the draft's funding is interrupted: no answer yet
    assert (await refusal(flows.publish(ctx, POSTER, draft.id, ctx.clock.now()))).status == 503
    assert (await task_of(ctx, draft.id)).state == "draft"

    clock(ctx).advance(DAY + SECOND)
    late = await refusal(post(ctx, "bounty", [100_000], parent_id=contract.id))
    assert (late.status, late.field, late.extra["rule"]) == (409, "parent_id", "contract_deadline_passed")
    unpublished = await refusal(flows.publish(ctx, POSTER, draft.id, ctx.clock.now()))
    assert (unpublished.status, unpublished.field, unpublished.extra["rule"]) == (
        409, "task_id", "contract_deadline_passed")
    assert await jobs.deadlines(ctx) == 0  # the draft's charge is still unanswered: skipped, retried next run
    assert (await task_of(ctx, draft.id)).state == "draft"

    provider.stuck = set()
    assert await jobs.deadlines(ctx) == 1
    dropped = await task_of(ctx, draft.id)
    assert (dropped.state, dropped.reason) == ("cancelled", "contract_deadline_passed")
    assert await money(ctx, draft.id) == {"refund:poster-1": 600_000}  # the charge that went through comes back
    assert await provider_net(ctx, draft.id) == 0
    assert (await task_of(ctx, contract.id)).state == "open"  # the hire is published: it ends by its own rules
    assert await jobs.deadlines(ctx) == 0

    clock(ctx).advance(2 * DAY)  # the hired solver never answered: the selection window has passed
    assert await jobs.deadlines(ctx) == 1
    assert ((await task_of(ctx, hire.id)).reason, (await task_of(ctx, contract.id)).reason) == (
        "winner_unresponsive", "no_sub_task_completed")
    assert (await task_of(ctx, contract.id)).state == "expired"
    assert await money(ctx, hire.id) == {"refund:poster-1": 300_000}
