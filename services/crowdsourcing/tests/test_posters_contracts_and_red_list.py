"""Posters, general contracts and the credit lists' incentives on a real database (SQLite and PostgreSQL):
enterprises, agencies and institutes post as their own kind; only a real-name verified organisation spares its
poster the review; a general contract (总包) starts with its first sub-task (分包) and completes when they are
done; a red-listed solver's commission is relieved on every payout (acceptance, a dispute split about assigned
work, a dispute split about a submission); a red-listed poster's task is reviewed first. The ledger sums to zero
after each (`money`); the replicas are filled as the gateway's and credit's events would fill them."""

from __future__ import annotations

from collections.abc import Awaitable
from datetime import UTC, datetime
from typing import Any

import pytest
from credit.contracts import ListingCurrent, ListingSummary
from crowdsourcing import flows, handlers
from crowdsourcing.models import Task
from sqlmodel import select

from services.crowdsourcing.tests.test_flows_with_database import (
    ADMIN,
    DAY,
    POSTER,
    money,
    person,
    post,
    publish,
    run,
    task_of,
)
from services.crowdsourcing.tests.test_notices_prizes_and_disputes import clock
from shared.auth import Principal
from shared.envelope import CloudEvent
from shared.ledger import balances
from shared.listings import ListingReplica, remember_listing
from shared.outbox import read_feed
from shared.problems import DomainError
from shared.replica import SubjectReplica

AT = datetime(2026, 1, 1, tzinfo=UTC)


async def listed(ctx: flows.Context, subject: str, sequence: int, *, red: bool, relief: int = 50) -> None:
    """Credit's `listing.current` for `subject`, as the consumer applies it to the local replica."""
    summary = ListingSummary(listing_id=f"red-{subject}-{sequence}", tier="general", rule="trustworthy",
                             basis="平台信用管理办法 §8", listed_at=AT, until=AT.replace(year=2027))
    data = ListingCurrent(subject_id=subject, black=None, red=summary if red else None, objection_url="",
                          fast_track_review=red, commission_relief_percent=relief if red else 0, policy_version="v")
    event = CloudEvent(id=f"lc-{subject}-{sequence}", source="/sizhong/credit", type=data.event_type, time=AT,
                       subject=subject, data=data.model_dump(mode="json"), sequence=sequence, partitionkey=subject,
                       actor="service:credit")
    async with ctx.uow() as uow:
        await remember_listing(uow, event, data)
        await uow.commit()


async def organisation(ctx: flows.Context, organisation_id: str, owner: str, *, verified: bool) -> None:
    """The gateway's registration (and, if `verified`, its real-name verification) in the subject replica."""
    async with ctx.db.write_sessions() as session, session.begin():
        session.add(SubjectReplica(subject_id=organisation_id, kind="organisation", name=organisation_id,
                                   owner_id=owner, region_code="110108", registration_number_masked="91**********",
                                   registered_at=AT, source_event_id=f"reg-{organisation_id}",
                                   verified_at=AT if verified else None,
                                   verification_level="sandbox:code_and_name" if verified else None))


async def events(ctx: flows.Context, verb: str) -> list[CloudEvent]:
    async with ctx.db.reading() as session:
        feed, _ = await read_feed(session, 0, 5000)
    return [e for e in feed if e.type == f"cn.sizhong.crowdsourcing.{verb}.v1"]


async def hired_and_accepted(ctx: flows.Context, solver: Principal, amount: int, content: str,
                             **extra: Any) -> Task:
    """A direct hire of `solver`, delivered, accepted and paid."""
    task = await post(ctx, "direct_hire", [amount], solver_id=solver.subject, **extra)
    await publish(ctx, task)
    await run(ctx, handlers.answer_hire, solver, task.id, True, ctx.clock.now())
    work = await run(ctx, handlers.submit, solver, task.id, content, ctx.clock.now())
    await flows.run(ctx, lambda uow: handlers.accept_submission(uow, POSTER, work.id, ctx.clock.now()))
    await flows.settle_task(ctx, task.id)
    return task


async def refusal(command: Awaitable[Any]) -> DomainError:
    with pytest.raises(DomainError) as caught:
        await command
    return caught.value


async def commission(ctx: flows.Context) -> int:
    async with ctx.db.reading() as session:
        return (await balances(session, "revenue/")).get(("revenue/commission", "CNY"), 0)


# ---------------------------------------------------------------- general contracts (总包/分包)


async def test_a_general_contract_starts_with_its_first_sub_task_and_completes_when_all_are_done(
        ctx: flows.Context) -> None:
    now = ctx.clock.now()
    contract = await post(ctx, "general_contract", [], deadline=now + 30 * DAY)
    other = person("poster-2", "enterprise")
    solver, winner = person("gc-solver", "solver"), person("gc-winner", "solver")
    hire = await post(ctx, "direct_hire", [300_000], solver_id=solver.subject, parent_id=contract.id)
    assert (await refusal(post(ctx, "bounty", [100_000], poster=other, parent_id=contract.id))).status == 403
    nested = await refusal(post(ctx, "general_contract", [], deadline=now + 30 * DAY, parent_id=contract.id))
    assert (nested.status, nested.field) == (422, "parent_id")
    under_a_sub_task = await refusal(post(ctx, "bounty", [100_000], parent_id=hire.id))
    assert (under_a_sub_task.status, under_a_sub_task.field) == (422, "parent_id")
    bounty = await post(ctx, "bounty", [600_000], parent_id=contract.id)
    assert (await publish(ctx, contract)).state == "open"
    await publish(ctx, hire)
    await publish(ctx, bounty)
    assert (await task_of(ctx, contract.id)).state == "open"  # published sub-tasks have not started yet

    await run(ctx, handlers.answer_hire, solver, hire.id, True, ctx.clock.now())
    assert (await task_of(ctx, contract.id)).state == "in_progress"  # its first sub-task started
    delivered = await run(ctx, handlers.submit, solver, hire.id, "part design", ctx.clock.now())
    await flows.run(ctx, lambda uow: handlers.accept_submission(uow, POSTER, delivered.id, ctx.clock.now()))
    await flows.settle_task(ctx, hire.id)
    assert (await task_of(ctx, hire.id)).state == "completed"
    assert (await task_of(ctx, contract.id)).state == "in_progress"  # the bounty is not done yet

    entry = await run(ctx, handlers.submit, winner, bounty.id, "assembly plan", ctx.clock.now())
    await run(ctx, handlers.select_winners, POSTER, bounty.id, [entry.id], "refund", ctx.clock.now())
    await flows.settle_task(ctx, bounty.id)
    done = await task_of(ctx, contract.id)
    assert done.state == "completed" and done.completed_at is not None
    # the money is the sub-tasks': each paid less 10% commission, nothing held anywhere, the ledger at zero
    assert await money(ctx, hire.id) == {"payout:gc-solver": 270_000}
    assert await money(ctx, bounty.id) == {"payout:gc-winner": 540_000}
    assert await money(ctx, contract.id) == {}
    steps = [(e.data["from_state"], e.data["to_state"]) for verb in ("task.started", "task.completed")
             for e in await events(ctx, verb) if e.subject == contract.id]
    assert steps == [("open", "in_progress"), ("in_progress", "completed")]


async def test_a_contract_whose_sub_tasks_ended_while_it_was_a_draft_completes_on_publication(
        ctx: flows.Context) -> None:
    now = ctx.clock.now()
    contract = await post(ctx, "general_contract", [], deadline=now + 30 * DAY)
    solver = person("gd-solver", "solver")
    hire = await post(ctx, "direct_hire", [200_000], solver_id=solver.subject, parent_id=contract.id)
    dropped = await post(ctx, "bounty", [800_000], parent_id=contract.id)
    await publish(ctx, hire)
    await publish(ctx, dropped)
    await flows.cancel(ctx, POSTER, dropped.id, ctx.clock.now())
    await run(ctx, handlers.answer_hire, solver, hire.id, True, ctx.clock.now())
    delivered = await run(ctx, handlers.submit, solver, hire.id, "drawings", ctx.clock.now())
    await flows.run(ctx, lambda uow: handlers.accept_submission(uow, POSTER, delivered.id, ctx.clock.now()))
    await flows.settle_task(ctx, hire.id)
    assert (await task_of(ctx, contract.id)).state == "draft"  # a draft does not move with its sub-tasks
    assert (await publish(ctx, contract)).state == "completed"  # one completed, one cancelled: all finished
    assert await money(ctx, hire.id) == {"payout:gd-solver": 180_000}
    assert await money(ctx, dropped.id) == {"refund:poster-1": 800_000}


# ---------------------------------------------------------------- who posts, and who is reviewed


@pytest.mark.parametrize(("roles", "requested", "recorded"), [
    (("institute",), None, "institute"),
    (("agency",), None, "agency"),
    (("enterprise",), None, "enterprise"),
    (("enterprise", "institute"), "institute", "institute"),
    (("admin",), "agency", "agency"),  # an admin acts for a poster of any kind
])
async def test_enterprises_agencies_and_institutes_post_as_their_own_kind(
        ctx: flows.Context, roles: tuple[str, ...], requested: str | None, recorded: str) -> None:
    poster = person(f"kind-{'-'.join(roles)}", *roles)
    task = await post(ctx, "bid", [500_000], poster=poster, poster_type=requested,
                      deadline=ctx.clock.now() + 2 * DAY)
    assert task.poster_type == recorded
    posted = [e.data for e in await events(ctx, "task.posted") if e.subject == task.id]
    assert [(d["poster_type"], d["poster_id"]) for d in posted] == [(recorded, poster.subject)]


@pytest.mark.parametrize(("roles", "requested", "status"), [
    (("enterprise",), "agency", 403),  # public-service purchase is an agency's
    (("enterprise",), "institute", 403),
    (("agency",), "enterprise", 403),
    (("enterprise", "institute"), None, 422),  # holding two poster roles, it names the one it posts as
    (("admin",), None, 422),
])
async def test_a_poster_cannot_post_as_a_kind_it_does_not_hold(
        ctx: flows.Context, roles: tuple[str, ...], requested: str | None, status: int) -> None:
    caught = await refusal(post(ctx, "bounty", [600_000], poster=person("claimant", *roles), poster_type=requested))
    assert (caught.status, caught.field) == (status, "poster_type")
    async with ctx.db.reading() as session:
        assert (await session.execute(select(Task).where(Task.poster_id == "claimant"))).first() is None


@pytest.mark.parametrize(("organisation_id", "mode", "amount", "state", "why"), [
    ("org-verified", "bid", 500_000, "open", None),
    ("org-verified", "bounty", 600_000, "open", None),
    ("org-verified", "bounty", 400_000, "under_review", "bounty_below_500000_fen"),
    ("org-registered", "bid", 500_000, "under_review", "unverified_poster"),  # registered, never verified
    ("org-registered", "bounty", 600_000, "under_review", "unverified_poster"),
    (None, "bid", 500_000, "under_review", "unverified_poster"),
])
async def test_only_a_real_name_verified_organisation_spares_its_poster_the_review(
        ctx: flows.Context, organisation_id: str | None, mode: str, amount: int, state: str, why: str | None) -> None:
    await organisation(ctx, "org-verified", POSTER.subject, verified=True)
    await organisation(ctx, "org-registered", POSTER.subject, verified=False)
    extra: dict[str, Any] = {"deadline": ctx.clock.now() + 2 * DAY} if mode == "bid" else {}
    task = await post(ctx, mode, [amount], organisation_id=organisation_id, **extra)
    assert task.poster_verified is (organisation_id == "org-verified")
    published = await flows.publish(ctx, POSTER, task.id, ctx.clock.now())
    assert published.state == state
    assert [e.data["why"] for e in await events(ctx, "task.sent_to_review")] == ([why] if why else [])
    levels = [e.data["verification_level"] for e in await events(ctx, "task.posted")]
    assert levels == (["sandbox:code_and_name"] if organisation_id == "org-verified" else [None])


async def test_an_organisation_owned_by_another_is_refused(ctx: flows.Context) -> None:
    await organisation(ctx, "org-theirs", "poster-2", verified=True)
    caught = await refusal(post(ctx, "bounty", [600_000], organisation_id="org-theirs"))
    assert (caught.status, caught.field) == (403, "organisation_id")


async def test_an_organisation_not_known_yet_is_refused_until_its_registration_arrives(ctx: flows.Context) -> None:
    """Ownership can only be checked against the replica: an organisation it does not know yet is refused (409,
    retry), not let through unchecked; once its registration arrives, its owner posts and anyone else is 403."""
    now = ctx.clock.now()
    for mode, amounts, extra in (("bounty", [600_000], {}), ("general_contract", [], {"deadline": now + 30 * DAY})):
        caught = await refusal(post(ctx, mode, amounts, organisation_id="org-on-its-way", **extra))
        assert (caught.status, caught.field, caught.extra["rule"]) == (409, "organisation_id", "organisation_unknown")
        assert "retry" in caught.detail
    contract = await post(ctx, "general_contract", [], deadline=now + 30 * DAY)  # a sub-task names one too
    caught = await refusal(post(ctx, "bounty", [600_000], organisation_id="org-on-its-way", parent_id=contract.id))
    assert (caught.status, caught.field) == (409, "organisation_id")
    assert not [e for e in await events(ctx, "task.posted") if e.data["organisation_id"] == "org-on-its-way"]
    async with ctx.db.reading() as session:
        assert (await session.execute(select(Task.id).where(Task.organisation_id == "org-on-its-way"))).first() is None

    await organisation(ctx, "org-on-its-way", POSTER.subject, verified=False)  # the registration arrives
    posted = await post(ctx, "bounty", [600_000], organisation_id="org-on-its-way")
    assert (posted.organisation_id, posted.poster_verified) == ("org-on-its-way", False)
    theirs = await refusal(post(ctx, "bounty", [600_000], poster=person("poster-2", "enterprise"),
                                organisation_id="org-on-its-way"))
    assert (theirs.status, theirs.field) == (403, "organisation_id")


# ---------------------------------------------------------------- the red list's incentives (联合激励)


@pytest.mark.parametrize(("relief", "stored", "commission_fen"), [
    (150, 100, 0),  # more than the whole commission: all of it waived, never a negative commission
    (-20, 0, 30_000),  # a negative relief: no relief, never a surcharge
])
@pytest.mark.parametrize("arrives", ["event", "row"])
async def test_a_relief_outside_0_to_100_from_the_listing_replica_is_clamped_and_the_payout_is_made(
        ctx: flows.Context, arrives: str, relief: int, stored: int, commission_fen: int) -> None:
    """Credit's policy should never say such a thing; if it does, payouts are not all refused with a 500."""
    solver = person(f"odd-relief-{arrives}", "solver")
    await listed(ctx, solver.subject, 1, red=True, relief=relief)
    async with ctx.db.write_sessions() as session, session.begin():
        row = await session.get(ListingReplica, solver.subject)
        assert row is not None and row.commission_relief_percent == stored  # clamped as it entered the replica
        if arrives == "row":  # a row stored before the clamp existed: clamped as it is read
            row.commission_relief_percent = relief
    hire = await hired_and_accepted(ctx, solver, 300_000, f"report {arrives} {relief}")
    assert await money(ctx, hire.id) == {f"payout:{solver.subject}": 300_000 - commission_fen}
    released = [e.data for e in await events(ctx, "escrow.released") if e.subject == hire.id]
    assert [(d["commission_fen"], d["commission_relief_percent"]) for d in released] == [(commission_fen, stored)]


async def test_a_red_listed_solver_pays_half_the_commission_on_acceptance_and_on_both_dispute_splits(
        ctx: flows.Context) -> None:
    red, plain = person("red-solver", "solver"), person("plain-solver", "solver")
    await listed(ctx, red.subject, 1, red=True, relief=50)
    # acceptance: 300,001 -> commission 30,000 (10%, half up), half of it relieved
    hire = await hired_and_accepted(ctx, red, 300_001, "report")
    assert await money(ctx, hire.id) == {"payout:red-solver": 285_001}
    released = [e.data for e in await events(ctx, "escrow.released") if e.subject == hire.id]
    assert [(d["net_fen"], d["commission_fen"], d["commission_relief_percent"]) for d in released] == \
        [(285_001, 15_000, 50)]
    assert await commission(ctx) == 15_000

    # a dispute about assigned work, agreed at 60/40 of 500,000: 300,000 less 15,000 (not 30,000)
    disputed = await post(ctx, "direct_hire", [500_000], solver_id=red.subject)
    await publish(ctx, disputed)
    await run(ctx, handlers.answer_hire, red, disputed.id, True, ctx.clock.now())
    await run(ctx, handlers.submit, red, disputed.id, "half done", ctx.clock.now())
    dispute = await run(ctx, handlers.open_dispute, POSTER, disputed.id, "incomplete", "log", ctx.clock.now())
    await run(ctx, handlers.propose, POSTER, dispute.id, 60, ctx.clock.now())
    await run(ctx, handlers.propose, red, dispute.id, 60, ctx.clock.now())
    await flows.settle_task(ctx, disputed.id)
    assert await money(ctx, disputed.id) == {"payout:red-solver": 285_000, "refund:poster-1": 200_000}

    # a dispute about a bounty submission: the red solver's stake (500,000) split 60/40, the plain winner's
    # prize charged in full
    bounty = await post(ctx, "bounty", [1_000_000], winners=2)
    await publish(ctx, bounty)
    won = await run(ctx, handlers.submit, plain, bounty.id, "entry A", ctx.clock.now())
    held = await run(ctx, handlers.submit, red, bounty.id, "entry B", ctx.clock.now())
    stake = await run(ctx, handlers.open_dispute, red, bounty.id, "ignored", "log", ctx.clock.now(), held.id)
    await run(ctx, handlers.escalate, red, stake.id, None, ctx.clock.now())
    await run(ctx, handlers.assign_mediator, ADMIN, stake.id, "mediator-1", ctx.clock.now())
    await run(ctx, handlers.resolve_dispute, person("mediator-1", "mediator"), stake.id, 60, "部分采用",
              ctx.clock.now())
    await run(ctx, handlers.select_winners, POSTER, bounty.id, [won.id], "refund", ctx.clock.now())
    await flows.settle_task(ctx, bounty.id)
    assert await money(ctx, bounty.id) == {"payout:red-solver": 285_000, "payout:plain-solver": 450_000,
                                           "refund:poster-1": 200_000}
    resolved = [(e.data["commission_fen"], e.data["commission_relief_percent"])
                for e in await events(ctx, "dispute.resolved")]
    assert resolved == [(15_000, 50), (15_000, 50)]
    assert await commission(ctx) == 15_000 + 15_000 + 15_000 + 50_000

    # the listing ends (repair, upheld objection or expiry): the full commission again
    await listed(ctx, red.subject, 2, red=False)
    again = await hired_and_accepted(ctx, red, 300_001, "report 2")
    assert await money(ctx, again.id) == {"payout:red-solver": 270_001}


async def test_a_red_listed_posters_tasks_are_reviewed_first(ctx: flows.Context) -> None:
    red_poster, org_poster = person("red-poster", "enterprise"), person("org-poster", "institute")
    await listed(ctx, red_poster.subject, 1, red=True)
    await organisation(ctx, "org-red", org_poster.subject, verified=True)
    await listed(ctx, "org-red", 1, red=True)  # the organisation itself is red-listed
    plain = await post(ctx, "bounty", [300_000])  # posted and sent to review first
    await flows.publish(ctx, POSTER, plain.id, ctx.clock.now())
    clock(ctx).advance(DAY)
    red = await post(ctx, "bounty", [300_000], poster=red_poster)
    await flows.publish(ctx, red_poster, red.id, ctx.clock.now())
    clock(ctx).advance(DAY)
    org = await post(ctx, "bounty", [300_000], poster=org_poster, poster_type=None, organisation_id="org-red")
    await flows.publish(ctx, org_poster, org.id, ctx.clock.now())

    async def queue() -> list[str]:
        async with ctx.db.reading() as session:
            return [t.id for t in await handlers.review_queue(session, 50, 0)]

    assert await queue() == [red.id, org.id, plain.id]  # fast-tracked first, each group oldest first
    fast = {e.subject: e.data["fast_track"] for e in await events(ctx, "task.sent_to_review")}
    assert fast == {plain.id: False, red.id: True, org.id: True}
    await listed(ctx, red_poster.subject, 2, red=False)  # the red listing ends: back in the common order
    assert await queue() == [org.id, plain.id, red.id]
