"""A general contract's (总包) deadline acted on, on a real database (SQLite and PostgreSQL) with the service's
adjustable clock and the `deadlines` job: a contract never split expires when its deadline passes; at the
deadline its draft sub-tasks (分包) are dropped, refunding what an interrupted funding charged, nothing new is
posted or published under it, and it waits only for the sub-tasks under way. Its `task.completed` is computed from
its sub-tasks: their paid solvers, on time only if each completed by the contract's deadline, the work accepted and
whether a dispute settled one. The ledger sums to zero (`money`)."""

from __future__ import annotations

from datetime import timedelta

from crowdsourcing import flows, handlers, jobs

from services.crowdsourcing.tests.test_flows_with_database import (
    DAY,
    POSTER,
    flaky,
    milestone_ids,
    money,
    person,
    post,
    provider_net,
    publish,
    run,
    task_of,
)
from services.crowdsourcing.tests.test_notices_prizes_and_disputes import clock
from services.crowdsourcing.tests.test_posters_contracts_and_red_list import events, refusal

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


async def accepted_hire(ctx: flows.Context, contract_id: str, solver: str) -> str:
    """A direct hire under the contract, answered, delivered and accepted (its solver paid)."""
    hired = person(solver, "solver")
    hire = await post(ctx, "direct_hire", [300_000], solver_id=solver, parent_id=contract_id)
    await publish(ctx, hire)
    await run(ctx, handlers.answer_hire, hired, hire.id, True, ctx.clock.now())
    work = await run(ctx, handlers.submit, hired, hire.id, f"work of {solver}", ctx.clock.now())
    await flows.run(ctx, lambda uow: handlers.accept_submission(uow, POSTER, work.id, ctx.clock.now()))
    await flows.settle_task(ctx, hire.id)
    return hire.id


async def completions(ctx: flows.Context) -> dict[str, dict[str, object]]:
    return {e.subject or "": e.data for e in await events(ctx, "task.completed")}


async def test_a_completed_contract_names_its_sub_tasks_solvers_and_is_on_time_when_they_completed_in_time(
        ctx: flows.Context) -> None:
    contract = await post(ctx, "general_contract", [], deadline=ctx.clock.now() + 30 * DAY)
    await publish(ctx, contract)
    disputed_solver = person("gc-disputed", "solver")
    disputed = await post(ctx, "direct_hire", [400_000], solver_id=disputed_solver.subject, parent_id=contract.id)
    bounty = await post(ctx, "bounty", [600_000], parent_id=contract.id)
    hire = await accepted_hire(ctx, contract.id, "gc-builder")
    for task in (disputed, bounty):
        await publish(ctx, task)
    await run(ctx, handlers.answer_hire, disputed_solver, disputed.id, True, ctx.clock.now())
    dispute = await run(ctx, handlers.open_dispute, POSTER, disputed.id, "half done", "chat log", ctx.clock.now())
    for side in (POSTER, disputed_solver):  # both propose half: settled by the dispute
        await run(ctx, handlers.propose, side, dispute.id, 50, ctx.clock.now())
    await flows.settle_task(ctx, disputed.id)
    winner, loser = person("gc-winner", "solver"), person("gc-runner-up", "solver")
    chosen = await run(ctx, handlers.submit, winner, bounty.id, "assembly plan", ctx.clock.now())
    await run(ctx, handlers.submit, loser, bounty.id, "another plan", ctx.clock.now())
    assert (await task_of(ctx, contract.id)).state == "in_progress"
    await run(ctx, handlers.select_winners, POSTER, bounty.id, [chosen.id], "refund", ctx.clock.now())
    await flows.settle_task(ctx, bounty.id)

    assert (await task_of(ctx, contract.id)).state == "completed"
    done = await completions(ctx)
    subs = [done[t] for t in (hire, disputed.id, bounty.id)]
    assert done[contract.id]["solver_ids"] == ["gc-builder", "gc-disputed", "gc-winner"]  # not the runner-up
    assert done[contract.id]["solver_ids"] == sorted({s for d in subs for s in d["solver_ids"]})  # type: ignore[attr-defined]
    assert done[contract.id]["accepted_submissions"] == sum(d["accepted_submissions"] for d in subs) == 2  # type: ignore[misc]
    assert done[contract.id]["settled_by_dispute"] is True and done[disputed.id]["settled_by_dispute"] is True
    assert done[contract.id]["on_time"] is True


async def test_a_contract_whose_sub_task_completes_after_its_deadline_completes_late(ctx: flows.Context) -> None:
    contract = await post(ctx, "general_contract", [], deadline=ctx.clock.now() + DAY)
    await publish(ctx, contract)
    solver = person("gl-solver", "solver")
    hire = await post(ctx, "direct_hire", [300_000], solver_id=solver.subject, parent_id=contract.id)
    await publish(ctx, hire)
    await run(ctx, handlers.answer_hire, solver, hire.id, True, ctx.clock.now())
    clock(ctx).advance(2 * DAY)
    assert await jobs.deadlines(ctx) == 0  # past the contract's deadline, the hire is under way: it waits
    assert (await task_of(ctx, contract.id)).state == "in_progress"
    work = await run(ctx, handlers.submit, solver, hire.id, "late but in the milestone", ctx.clock.now())
    await flows.run(ctx, lambda uow: handlers.accept_submission(uow, POSTER, work.id, ctx.clock.now()))

    assert (await task_of(ctx, contract.id)).state == "completed"
    done = await completions(ctx)
    assert done[hire.id]["on_time"] is True  # the sub-task's milestone was met ...
    assert (done[contract.id]["on_time"], done[contract.id]["solver_ids"]) == (False, ["gl-solver"])  # not the
    # contract's deadline
    assert done[contract.id]["settled_by_dispute"] is False
