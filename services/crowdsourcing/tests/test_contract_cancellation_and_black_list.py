"""A general contract (总包) cancelled with its sub-tasks (分包), or ended when none of them completed; a black-listed
organisation posts and publishes nothing (联合惩戒), on a real database (SQLite and PostgreSQL). The ledger sums
to zero after each (`money`); the listing replica is filled as credit's `listing.current` would fill it."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from datetime import timedelta
from typing import Any

import pytest
from credit.contracts import ListingCurrent, ListingSummary
from crowdsourcing import flows, handlers, jobs
from crowdsourcing.models import Bid, Task
from sqlalchemy import text
from sqlmodel import select

from services.crowdsourcing.tests.test_flows_with_database import (
    DAY,
    POSTER,
    REVIEWER,
    money,
    person,
    post,
    publish,
    run,
    task_of,
)
from services.crowdsourcing.tests.test_notices_prizes_and_disputes import clock
from services.crowdsourcing.tests.test_posters_contracts_and_red_list import (
    AT,
    events,
    listed,
    organisation,
    refusal,
)
from shared.envelope import CloudEvent
from shared.ledger import balances
from shared.listings import fast_tracked, remember_listing
from shared.problems import DomainError


async def black_listed(ctx: flows.Context, subject: str) -> None:
    """Credit's `listing.current` putting `subject` on the black list (general tier), applied to the replica."""
    summary = ListingSummary(listing_id=f"black-{subject}", tier="general", rule="lost_disputes",
                             basis="平台信用管理办法 §12", listed_at=AT, until=AT.replace(year=2027))
    data = ListingCurrent(subject_id=subject, black=summary, red=None, objection_url=f"/objections/{subject}",
                          fast_track_review=False, commission_relief_percent=0, policy_version="v")
    event = CloudEvent(id=f"lc-black-{subject}", source="/sizhong/credit", type=data.event_type, time=AT,
                       subject=subject, data=data.model_dump(mode="json"), sequence=1, partitionkey=subject,
                       actor="service:credit")
    async with ctx.uow() as uow:
        await remember_listing(uow, event, data)
        await uow.commit()


async def held(ctx: flows.Context, task_id: str) -> int:
    async with ctx.db.reading() as session:
        return sum((await balances(session, f"escrow/task/{task_id}/")).values())


def reasons(cancelled: list[CloudEvent]) -> dict[str, str]:
    return {e.subject: e.data["reason"] for e in cancelled}


# ---------------------------------------------------------------- cancelling a general contract


async def test_cancelling_a_general_contract_cancels_its_open_sub_tasks_and_refunds_their_escrow(
        ctx: flows.Context) -> None:
    now = ctx.clock.now()
    contract = await post(ctx, "general_contract", [], deadline=now + 30 * DAY)
    solver = person("cc-solver", "solver")
    bounty = await post(ctx, "bounty", [600_000], parent_id=contract.id)
    hire = await post(ctx, "direct_hire", [300_000, 100_000], solver_id=solver.subject, parent_id=contract.id)
    bids = await post(ctx, "bid", [500_000], parent_id=contract.id, deadline=now + 2 * DAY)
    draft = await post(ctx, "bounty", [700_000], parent_id=contract.id)  # never published: nothing charged
    dropped = await post(ctx, "bounty", [800_000], parent_id=contract.id)
    await publish(ctx, contract)
    for sub in (bounty, hire, bids, dropped):
        await publish(ctx, sub)
    await flows.cancel(ctx, POSTER, dropped.id, ctx.clock.now())  # cancelled by itself, before the contract
    bid = await run(ctx, handlers.place_bid, solver, bids.id, 450_000, 10, "plan", ctx.clock.now())
    assert await held(ctx, bounty.id) == 600_000 and await held(ctx, hire.id) == 400_000

    stranger = await refusal(flows.cancel(ctx, person("poster-2", "enterprise"), contract.id, ctx.clock.now()))
    assert (stranger.status, stranger.field) == (403, "task_id")
    assert (await task_of(ctx, bounty.id)).state == "open"

    cancelled = await flows.cancel(ctx, POSTER, contract.id, ctx.clock.now())
    assert (cancelled.state, cancelled.reason) == ("cancelled", "poster_request")
    states = {t: ((s := await task_of(ctx, t)).state, s.reason) for t in (bounty.id, hire.id, bids.id, draft.id)}
    assert set(states.values()) == {("cancelled", "contract_cancelled")}
    assert (await task_of(ctx, dropped.id)).reason == "poster_request"  # a finished sub-task keeps its end
    # every sub-task's escrow back with the poster, paid out, once; nothing held, the ledger at zero
    assert await money(ctx, bounty.id) == {"refund:poster-1": 600_000}
    assert await money(ctx, hire.id) == {"refund:poster-1": 400_000}
    assert await money(ctx, bids.id) == {} and await money(ctx, draft.id) == {}
    assert await money(ctx, dropped.id) == {"refund:poster-1": 800_000}
    assert reasons(await events(ctx, "task.cancelled")) == {
        dropped.id: "poster_request", contract.id: "poster_request", bounty.id: "contract_cancelled",
        hire.id: "contract_cancelled", bids.id: "contract_cancelled", draft.id: "contract_cancelled"}
    refunded = sorted((e.subject, e.data["amount_fen"], e.data["why"]) for e in await events(ctx, "escrow.refunded")
                      if e.subject != dropped.id)
    assert refunded == sorted([(bounty.id, 600_000, "contract_cancelled"), (hire.id, 300_000, "contract_cancelled"),
                               (hire.id, 100_000, "contract_cancelled")])
    async with ctx.db.reading() as session:
        assert (await session.get(Bid, bid.id)).state == "not_chosen"  # type: ignore[union-attr]
    again = await refusal(flows.cancel(ctx, POSTER, contract.id, ctx.clock.now()))
    assert (again.status, again.extra["current_state"]) == (409, "cancelled")
    late = await refusal(post(ctx, "bounty", [600_000], parent_id=contract.id))
    assert (late.status, late.field) == (409, "parent_id")


async def test_a_general_contract_with_a_started_sub_task_is_not_cancelled_and_nothing_moves(
        ctx: flows.Context) -> None:
    now = ctx.clock.now()
    contract = await post(ctx, "general_contract", [], deadline=now + 30 * DAY)  # stays a draft
    solver = person("cs-solver", "solver")
    hire = await post(ctx, "direct_hire", [300_000], solver_id=solver.subject, parent_id=contract.id)
    bounty = await post(ctx, "bounty", [600_000], parent_id=contract.id)
    await publish(ctx, hire)
    await publish(ctx, bounty)
    await run(ctx, handlers.answer_hire, solver, hire.id, True, ctx.clock.now())  # a draft does not roll up

    caught = await refusal(flows.cancel(ctx, POSTER, contract.id, ctx.clock.now()))
    assert (caught.status, caught.extra["rule"], caught.extra["sub_task_id"]) == (409, "sub_task_started", hire.id)
    # one transaction: neither the contract nor the open bounty was cancelled, its escrow is still held
    assert (await task_of(ctx, contract.id)).state == "draft"
    assert (await task_of(ctx, bounty.id)).state == "open" and await held(ctx, bounty.id) == 600_000
    assert await events(ctx, "task.cancelled") == []

    await publish(ctx, contract)  # now it rolls up: in progress, and no longer cancelled at all
    started = await refusal(flows.cancel(ctx, POSTER, contract.id, ctx.clock.now()))
    assert (started.status, started.extra["current_state"]) == (409, "in_progress")


async def test_spam_upheld_on_a_general_contract_cancels_its_sub_tasks_too(ctx: flows.Context) -> None:
    contract = await post(ctx, "general_contract", [], deadline=ctx.clock.now() + 30 * DAY)
    bounty = await post(ctx, "bounty", [600_000], parent_id=contract.id)
    await publish(ctx, contract)
    await publish(ctx, bounty)
    report = await run(ctx, handlers.file_report, person("reporter", "solver"), contract.id, None, "spam", "",
                       ctx.clock.now())
    await flows.decide_report(ctx, REVIEWER, report.id, True, "spam", ctx.clock.now())
    assert ((await task_of(ctx, contract.id)).reason, (await task_of(ctx, bounty.id)).reason) == (
        "failed_review", "contract_cancelled")
    assert await money(ctx, bounty.id) == {"refund:poster-1": 600_000}


# ---------------------------------------------------------------- a contract none of whose sub-tasks completed


async def test_a_general_contract_whose_sub_tasks_all_ended_undone_expires(ctx: flows.Context) -> None:
    contract = await post(ctx, "general_contract", [], deadline=ctx.clock.now() + 30 * DAY)
    solver = person("gx-solver", "solver")
    hire = await post(ctx, "direct_hire", [300_000], solver_id=solver.subject, parent_id=contract.id)
    bounty = await post(ctx, "bounty", [600_000], parent_id=contract.id)
    for task in (contract, hire, bounty):
        await publish(ctx, task)
    await run(ctx, handlers.answer_hire, solver, hire.id, True, ctx.clock.now())
    assert (await task_of(ctx, contract.id)).state == "in_progress"

    clock(ctx).advance(6 * DAY)
    await jobs.deadlines(ctx)  # the bounty's round closes with no submission
    assert await jobs.abandonment(ctx) == 1  # the hired solver is warned
    assert ((await task_of(ctx, bounty.id)).state, (await task_of(ctx, contract.id)).state) == (
        "expired", "in_progress")  # the hire may still deliver
    clock(ctx).advance(3 * DAY + timedelta(seconds=1))
    assert await jobs.abandonment(ctx) == 1  # escalated: the hire expires too
    ended = await task_of(ctx, contract.id)
    assert (ended.state, ended.reason) == ("expired", "no_sub_task_completed")
    expired = [e.data for e in await events(ctx, "task.expired") if e.subject == contract.id]
    assert [(d["from_state"], d["reason"]) for d in expired] == [("in_progress", "no_sub_task_completed")]
    assert await money(ctx, hire.id) == {"refund:poster-1": 300_000}
    assert await money(ctx, bounty.id) == {"refund:poster-1": 600_000}
    late = await refusal(post(ctx, "bounty", [600_000], parent_id=contract.id))
    assert (late.status, late.field) == (409, "parent_id")


# ---------------------------------------------------------------- a black-listed organisation (联合惩戒)


async def test_a_black_listed_organisation_neither_posts_nor_publishes_and_is_told_how_to_object(
        ctx: flows.Context) -> None:
    await organisation(ctx, "org-black", POSTER.subject, verified=True)
    draft = await post(ctx, "bounty", [600_000], organisation_id="org-black")  # before the listing
    contract = await post(ctx, "general_contract", [], deadline=ctx.clock.now() + 30 * DAY,
                          organisation_id="org-black")
    await black_listed(ctx, "org-black")

    posted = await refusal(post(ctx, "bounty", [600_000], organisation_id="org-black"))
    assert (posted.status, posted.extra["rule"]) == (403, "blacklisted")
    assert posted.extra["listing"]["id"] == "black-org-black" and posted.extra["listing"]["tier"] == "general"
    assert posted.extra["objection"]["path"] == "/objections/org-black"
    sub_task = await refusal(post(ctx, "bounty", [600_000], parent_id=contract.id))  # the contract's organisation
    assert (sub_task.status, sub_task.extra["listing"]["id"]) == (403, "black-org-black")
    published = await refusal(flows.publish(ctx, POSTER, draft.id, ctx.clock.now()))
    assert (published.status, published.extra["listing"]["id"]) == (403, "black-org-black")
    assert (await refusal(flows.publish(ctx, POSTER, contract.id, ctx.clock.now()))).status == 403
    assert (await task_of(ctx, draft.id)).state == "draft"
    async with ctx.db.reading() as session:  # nothing charged, nothing posted after the listing
        charges = (await session.execute(text("SELECT count(*) FROM payment_attempts"))).scalar_one()
        tasks = (await session.execute(select(Task.id).where(Task.organisation_id == "org-black"))).scalars().all()
    assert charges == 0 and sorted(tasks) == sorted([draft.id, contract.id])
    assert (await flows.cancel(ctx, POSTER, draft.id, ctx.clock.now())).state == "cancelled"  # may still withdraw

    alone = await post(ctx, "bounty", [600_000])  # the person itself is not listed: it posts for itself
    assert alone.organisation_id is None


async def test_another_owners_black_listed_organisation_is_refused_without_showing_its_listing(
        ctx: flows.Context) -> None:
    await organisation(ctx, "org-theirs-black", "poster-2", verified=True)
    await black_listed(ctx, "org-theirs-black")
    caught = await refusal(post(ctx, "bounty", [600_000], organisation_id="org-theirs-black"))
    assert (caught.status, caught.field) == (403, "organisation_id") and "listing" not in caught.extra


@pytest.mark.parametrize("who", ["poster", "organisation"])
async def test_a_black_listed_poster_or_organisation_does_not_publish_a_bid_task(
        ctx: flows.Context, who: str) -> None:
    await organisation(ctx, "org-bid", POSTER.subject, verified=True)
    draft = await post(ctx, "bid", [500_000], organisation_id="org-bid", deadline=ctx.clock.now() + 2 * DAY)
    await black_listed(ctx, POSTER.subject if who == "poster" else "org-bid")
    caught = await refusal(flows.publish(ctx, POSTER, draft.id, ctx.clock.now()))
    assert (caught.status, caught.extra["rule"]) == (403, "blacklisted")
    assert (await task_of(ctx, draft.id)).state == "draft"


async def test_a_contract_cancelled_while_its_sub_task_is_accepted_ends_one_way_only(ctx: flows.Context) -> None:
    """The two transactions race: either the hire started and the contract is no longer cancelled, or both were
    cancelled and the hire's escrow refunded; never a contract cancelled over a sub-task at work."""
    contract = await post(ctx, "general_contract", [], deadline=ctx.clock.now() + 30 * DAY)
    solver = person("race-solver", "solver")
    hire = await post(ctx, "direct_hire", [300_000], solver_id=solver.subject, parent_id=contract.id)
    await publish(ctx, contract)
    await publish(ctx, hire)

    async def attempt(command: Awaitable[Any]) -> Any:
        try:
            return await command
        except DomainError as exc:
            return exc

    cancelled, answered = await asyncio.gather(  # the two transactions themselves, racing
        attempt(run(ctx, handlers.cancel_task, POSTER, contract.id, ctx.clock.now())),
        attempt(run(ctx, handlers.answer_hire, solver, hire.id, True, ctx.clock.now())))
    await flows.settle_task(ctx, hire.id)
    refused = [r for r in (cancelled, answered) if isinstance(r, DomainError)]
    assert [r.status for r in refused] == [409], (cancelled, answered)
    ends = ((await task_of(ctx, contract.id)).state, (await task_of(ctx, hire.id)).state)
    if refused[0] is cancelled:
        assert ends == ("in_progress", "in_progress")
        assert await held(ctx, hire.id) == 300_000
    else:
        assert ends == ("cancelled", "cancelled")
        assert await money(ctx, hire.id) == {"refund:poster-1": 300_000}


async def test_a_black_listed_organisation_loses_its_red_listed_posters_fast_track(ctx: flows.Context) -> None:
    red_poster = person("red-with-org", "enterprise")
    await organisation(ctx, "org-soon-black", red_poster.subject, verified=True)
    await listed(ctx, red_poster.subject, 1, red=True)
    plain = await post(ctx, "bounty", [300_000])  # sent to review first
    await flows.publish(ctx, POSTER, plain.id, ctx.clock.now())
    clock(ctx).advance(DAY)
    red = await post(ctx, "bounty", [300_000], poster=red_poster, organisation_id="org-soon-black")
    await flows.publish(ctx, red_poster, red.id, ctx.clock.now())

    async def queue() -> list[str]:
        async with ctx.db.reading() as session:
            return [t.id for t in await handlers.review_queue(session, 50, 0)]

    assert await queue() == [red.id, plain.id]  # the poster's red listing fast-tracks it
    await black_listed(ctx, "org-soon-black")
    assert await queue() == [plain.id, red.id]  # its organisation's black listing outweighs it
    async with ctx.uow() as uow:
        task = await handlers.task_for_update(uow, red.id)
        assert await fast_tracked(uow.session, task.poster_id, task.organisation_id) is False
