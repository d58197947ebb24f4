"""The rest of issue 4 on a real database (SQLite and PostgreSQL): ranked prizes, the public notice (任务公示)
of winners with objections, disputes about one submission of a bounty, contest or piece-rate task, abandonment
escalation ending the assignment, mediators who must hold the role, and a bid cap under 200 concurrent bids.
After each the ledger sums to zero and nothing is left in escrow (`money`)."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest
from crowdsourcing import flows, handlers, jobs
from crowdsourcing.models import MediatorRoster, Submission, Task
from gateway.contracts import PersonRegistered
from sqlmodel import func, select

from services.crowdsourcing.tests.test_flows_with_database import (
    ADMIN,
    DAY,
    MEDIATOR,
    POSTER,
    REVIEWER,
    event_types,
    money,
    person,
    post,
    publish,
    run,
    task_of,
)
from shared.clock import AdjustableClock
from shared.envelope import CloudEvent
from shared.problems import DomainError


async def refused(status: int, ctx: flows.Context, command: object, *args: object) -> DomainError:
    with pytest.raises(DomainError) as caught:
        await run(ctx, command, *args)
    assert caught.value.status == status, caught.value.detail
    return caught.value


def clock(ctx: flows.Context) -> AdjustableClock:
    assert isinstance(ctx.clock, AdjustableClock)
    return ctx.clock


async def submissions(ctx: flows.Context, task_id: str) -> dict[str, str]:
    async with ctx.db.reading() as session:
        return {s.solver_id: s.state for s in (await session.execute(
            select(Submission).where(Submission.task_id == task_id))).scalars()}


# ---------------------------------------------------------------- ranked prizes


async def test_a_contest_pays_ranked_prizes_and_refunds_the_unclaimed_rank(ctx: flows.Context) -> None:
    task = await post(ctx, "contest", [1_000_000], winners=3, prize_ranks=[50, 30, 20])
    await publish(ctx, task)
    solvers = [person(f"rank-{n}", "solver") for n in range(3)]
    subs = [await run(ctx, handlers.submit, s, task.id, f"design {n}", ctx.clock.now()) for n, s in enumerate(solvers)]
    # the first chosen takes the first prize: rank-2 wins 1st, rank-0 wins 2nd; the 3rd prize is unclaimed
    await run(ctx, handlers.select_winners, POSTER, task.id, [subs[2].id, subs[0].id], "refund", ctx.clock.now())
    await flows.settle_task(ctx, task.id)
    assert (await task_of(ctx, task.id)).state == "completed"
    assert await money(ctx, task.id) == {"payout:rank-2": 450_000, "payout:rank-0": 270_000,
                                         "refund:poster-1": 200_000}


async def test_ranked_prize_amounts_in_fen_roll_forward(ctx: flows.Context) -> None:
    task = await post(ctx, "bounty", [600_000, 600_000], winners=2, prize_ranks=[400_000, 200_000],
                      prize_basis="fen")
    await publish(ctx, task)
    solver = person("fen-solver", "solver")
    first = await run(ctx, handlers.submit, solver, task.id, "one", ctx.clock.now())
    await run(ctx, handlers.select_winners, POSTER, task.id, [first.id], "roll_forward", ctx.clock.now())
    second = await run(ctx, handlers.submit, solver, task.id, "two", ctx.clock.now())
    await run(ctx, handlers.select_winners, POSTER, task.id, [second.id], "refund", ctx.clock.now())
    await flows.settle_task(ctx, task.id)
    # round one: 400,000 (360,000 net), 200,000 rolls on; round two 800,000 in the 2:1 ranks: 533,333 (480,000
    # net) to the first; the odd fen goes to the larger remainder, so 266,667 is unclaimed and refunded
    assert await money(ctx, task.id) == {"payout:fen-solver": 360_000 + 480_000, "refund:poster-1": 266_667}


@pytest.mark.parametrize(("mode", "extra", "field"), [
    ("contest", {"winners": 3, "prize_ranks": [50, 30]}, "prize_shares_percent"),
    ("contest", {"winners": 2, "prize_ranks": [30, 70]}, "prize_shares_percent"),
    ("contest", {"winners": 2, "prize_ranks": [60, 30]}, "prize_shares_percent"),
    ("bounty", {"winners": 2, "prize_ranks": [500_000, 400_000], "prize_basis": "fen"}, "prize_amounts_fen"),
    ("direct_hire", {"solver_id": "s", "prize_ranks": [100]}, "prize_shares_percent"),
    ("direct_hire", {"solver_id": "s", "public_notice": True}, "public_notice"),
    ("contest", {"max_bids": 5}, "max_bids"),
])
async def test_bad_prizes_notices_and_caps_name_the_field(ctx: flows.Context, mode: str, extra: dict[str, object],
                                                          field: str) -> None:
    with pytest.raises(DomainError) as caught:
        await post(ctx, mode, [1_000_000], **extra)
    assert (caught.value.status, caught.value.field) == (422, field), caught.value.detail


# ---------------------------------------------------------------- public notice


async def test_public_notice_objection_dismissed_then_the_award_is_final(ctx: flows.Context) -> None:
    task = await post(ctx, "contest", [1_000_000], winners=2, public_notice=True)
    await publish(ctx, task)
    solvers = [person(f"pn-{n}", "solver") for n in range(3)]
    subs = [await run(ctx, handlers.submit, s, task.id, f"entry {n}", ctx.clock.now()) for n, s in enumerate(solvers)]
    chosen_at = ctx.clock.now()
    await run(ctx, handlers.select_winners, POSTER, task.id, [subs[0].id, subs[1].id], "refund", chosen_at)
    assert await submissions(ctx, task.id) == {"pn-0": "submitted", "pn-1": "submitted", "pn-2": "submitted"}
    async with ctx.db.reading() as session:
        from crowdsourcing.models import AwardNotice

        notice = (await session.execute(select(AwardNotice).where(AwardNotice.task_id == task.id))).scalars().one()
    assert notice.state == "published" and notice.ends_at == chosen_at + timedelta(days=5)
    now = ctx.clock.now()
    await refused(409, ctx, handlers.select_winners, POSTER, task.id, [subs[2].id], "refund", now)
    await refused(409, ctx, handlers.submit, person("late", "solver"), task.id, "late entry", now)
    await refused(403, ctx, handlers.object_to_award, person("outsider", "solver"), notice.id, "x", "y", now)
    objection = await run(ctx, handlers.object_to_award, solvers[2], notice.id, "抄袭", "原稿截图", now)
    await refused(409, ctx, handlers.object_to_award, solvers[2], notice.id, "again", "again", now)
    clock(ctx).advance(9 * DAY)  # past the notice and past the round's selection window
    assert await jobs.notices(ctx) == 0  # an objection waits for a reviewer: not final yet
    await jobs.deadlines(ctx)  # the round closes, but no winners are picked over a notice
    assert await submissions(ctx, task.id) == {"pn-0": "submitted", "pn-1": "submitted", "pn-2": "submitted"}
    await refused(409, ctx, handlers.object_to_award, solvers[0], notice.id, "too late", "x", ctx.clock.now())
    await refused(403, ctx, handlers.decide_objection, POSTER, objection.id, False, "mine", ctx.clock.now())
    await run(ctx, handlers.decide_objection, REVIEWER, objection.id, False, "原创", ctx.clock.now())
    await refused(409, ctx, handlers.decide_objection, REVIEWER, objection.id, True, "again", ctx.clock.now())
    assert await jobs.notices(ctx) == 1
    assert await jobs.notices(ctx) == 0
    assert (await task_of(ctx, task.id)).state == "completed"
    assert await money(ctx, task.id) == {"payout:pn-0": 450_000, "payout:pn-1": 450_000}
    types = await event_types(ctx)
    for verb in ("notice.published.v1", "objection.filed.v1", "objection.decided.v1", "notice.finalised.v1"):
        assert verb in types, verb


async def test_an_upheld_objection_reopens_the_selection(ctx: flows.Context) -> None:
    task = await post(ctx, "bounty", [600_000], public_notice=True)
    await publish(ctx, task)
    a, b = person("up-a", "solver"), person("up-b", "solver")
    sub_a = await run(ctx, handlers.submit, a, task.id, "A", ctx.clock.now())
    sub_b = await run(ctx, handlers.submit, b, task.id, "B", ctx.clock.now())
    await run(ctx, handlers.select_winners, POSTER, task.id, [sub_a.id], "refund", ctx.clock.now())
    notices = await task_notices(ctx, task.id)
    objection = await run(ctx, handlers.object_to_award, b, notices[0], "copied my work", "diff", ctx.clock.now())
    await run(ctx, handlers.decide_objection, REVIEWER, objection.id, True, "upheld", ctx.clock.now())
    clock(ctx).advance(6 * DAY)
    assert await jobs.notices(ctx) == 0  # withdrawn: nothing is paid
    assert (await task_of(ctx, task.id)).state == "in_progress"  # no award made; the round is still under way
    await run(ctx, handlers.select_winners, POSTER, task.id, [sub_b.id], "refund", ctx.clock.now())
    clock(ctx).advance(6 * DAY)
    assert await jobs.notices(ctx) == 1
    assert await money(ctx, task.id) == {"payout:up-b": 540_000}
    assert "notice.withdrawn.v1" in await event_types(ctx)


async def task_notices(ctx: flows.Context, task_id: str) -> list[str]:
    from crowdsourcing.models import AwardNotice

    async with ctx.db.reading() as session:
        return list((await session.execute(select(AwardNotice.id).where(AwardNotice.task_id == task_id)
                                           .order_by(AwardNotice.published_at))).scalars())


# ---------------------------------------------------------------- disputes about one submission


async def test_a_bounty_dispute_holds_one_prize_and_is_mediated_to_a_split(ctx: flows.Context) -> None:
    task = await post(ctx, "bounty", [1_000_000], winners=2)
    await publish(ctx, task)
    solvers = [person(f"bd-{n}", "solver") for n in range(3)]
    subs = [await run(ctx, handlers.submit, s, task.id, f"work {n}", ctx.clock.now()) for n, s in enumerate(solvers)]
    now = ctx.clock.now()
    await refused(422, ctx, handlers.open_dispute, solvers[2], task.id, "no submission named", "x", now)
    await refused(403, ctx, handlers.open_dispute, solvers[1], task.id, "not mine", "x", now, subs[2].id)
    dispute = await run(ctx, handlers.open_dispute, solvers[2], task.id, "my entry was ignored", "log", now,
                        subs[2].id)
    assert (dispute.stake_fen, dispute.submission_id) == (500_000, subs[2].id)
    await refused(409, ctx, handlers.select_winners, POSTER, task.id, [subs[0].id], "refund", now)
    await run(ctx, handlers.escalate, POSTER, dispute.id, None, now)
    await refused(422, ctx, handlers.assign_mediator, ADMIN, dispute.id, REVIEWER.subject, now)  # not a mediator
    await refused(422, ctx, handlers.assign_mediator, ADMIN, dispute.id, "nobody-known", now)
    await run(ctx, handlers.assign_mediator, ADMIN, dispute.id, MEDIATOR.subject, now)
    await run(ctx, handlers.resolve_dispute, MEDIATOR, dispute.id, 60, "部分采用", now)
    await refused(422, ctx, handlers.select_winners, POSTER, task.id, [subs[0].id, subs[1].id], "refund", now)
    await run(ctx, handlers.select_winners, POSTER, task.id, [subs[0].id], "refund", now)
    await flows.settle_task(ctx, task.id)
    # the stake (one prize, 500,000) split 60/40: 300,000 less 30,000 commission; 200,000 back; the other prize
    assert await money(ctx, task.id) == {"payout:bd-2": 270_000, "payout:bd-0": 450_000, "refund:poster-1": 200_000}
    assert await submissions(ctx, task.id) == {"bd-0": "accepted", "bd-1": "not_selected", "bd-2": "disputed"}


async def test_the_selection_window_auto_selects_only_the_prizes_a_settled_dispute_left(ctx: flows.Context) -> None:
    task = await post(ctx, "bounty", [1_000_000], winners=2)
    await publish(ctx, task)
    solvers = [person(f"as-{n}", "solver") for n in range(3)]
    subs = [await run(ctx, handlers.submit, s, task.id, f"auto {n}", ctx.clock.now()) for n, s in enumerate(solvers)]
    dispute = await run(ctx, handlers.open_dispute, POSTER, task.id, "copied", "diff", ctx.clock.now(), subs[2].id)
    await run(ctx, handlers.propose, POSTER, dispute.id, 0, ctx.clock.now())
    await run(ctx, handlers.propose, solvers[2], dispute.id, 0, ctx.clock.now())  # the solver concedes
    clock(ctx).advance(8 * DAY + timedelta(seconds=1))  # the round closed at 5 days, its window 3 days later
    assert await jobs.deadlines(ctx) == 1  # the round closes (submitted)
    assert await jobs.deadlines(ctx) == 1  # the window has run: the earliest original entries, one prize left
    assert await money(ctx, task.id) == {"payout:as-0": 450_000, "refund:poster-1": 500_000}
    assert await submissions(ctx, task.id) == {"as-0": "accepted", "as-1": "not_selected", "as-2": "disputed"}


async def test_a_piece_rate_dispute_holds_one_piece_and_the_task_finishes_after_it(ctx: flows.Context) -> None:
    now = ctx.clock.now()
    task = await post(ctx, "piece_rate", [], piece_price_fen=100_000, piece_quantity=2, deadline=now + 5 * DAY)
    await publish(ctx, task)
    a, b = person("pc-a", "solver"), person("pc-b", "solver")
    sub_a = await run(ctx, handlers.submit, a, task.id, "piece A", now)
    sub_b = await run(ctx, handlers.submit, b, task.id, "piece B", now)
    dispute = await run(ctx, handlers.open_dispute, POSTER, task.id, "defective", "photo", now, sub_b.id)
    await run(ctx, handlers.accept_submission, POSTER, sub_a.id, now)
    assert (await task_of(ctx, task.id)).state == "in_progress"  # the disputed piece still holds its unit
    await run(ctx, handlers.propose, POSTER, dispute.id, 50, now)
    await run(ctx, handlers.propose, b, dispute.id, 50, now)  # agreed in negotiation
    await flows.settle_task(ctx, task.id)
    assert (await task_of(ctx, task.id)).state == "completed"
    assert await money(ctx, task.id) == {"payout:pc-a": 90_000, "payout:pc-b": 45_000, "refund:poster-1": 50_000}


async def test_a_dispute_on_a_submission_needs_the_window(ctx: flows.Context) -> None:
    task = await post(ctx, "contest", [1_000_000])
    await publish(ctx, task)
    solver = person("slow-disputer", "solver")
    sub = await run(ctx, handlers.submit, solver, task.id, "early entry", ctx.clock.now())
    clock(ctx).advance(15 * DAY)
    await refused(409, ctx, handlers.open_dispute, solver, task.id, "late", "x", ctx.clock.now(), sub.id)


# ---------------------------------------------------------------- abandonment, roster, bid cap


async def test_abandonment_escalation_ends_the_assignment_and_refunds(ctx: flows.Context) -> None:
    solver = person("vanished", "solver")
    hired = await post(ctx, "direct_hire", [300_000, 200_000], solver_id=solver.subject)
    await publish(ctx, hired)
    await run(ctx, handlers.answer_hire, solver, hired.id, True, ctx.clock.now())
    clock(ctx).advance(6 * DAY)
    assert await jobs.abandonment(ctx) == 1  # warned
    assert (await task_of(ctx, hired.id)).state == "in_progress"
    clock(ctx).advance(3 * DAY + timedelta(seconds=1))
    assert await jobs.abandonment(ctx) == 1  # escalated
    assert await jobs.abandonment(ctx) == 0
    expired = await task_of(ctx, hired.id)
    assert (expired.state, expired.reason) == ("expired", "winner_unresponsive")
    assert await money(ctx, hired.id) == {"refund:poster-1": 500_000}
    async with ctx.db.reading() as session:
        from shared.outbox import read_feed

        feed, _ = await read_feed(session, 0, 1000)
    escalated = [e for e in feed if e.type.endswith("abandonment.escalated.v1")]
    assert len(escalated) == 1 and escalated[0].partitionkey == solver.subject
    assert escalated[0].data["assignment_cancelled"] is True and escalated[0].data["refunded_fen"] == 500_000


async def test_the_roster_follows_identity_events_and_an_older_event_never_wins(ctx: flows.Context) -> None:
    def registered(roles: list[str], at: int) -> tuple[CloudEvent, PersonRegistered]:
        data = PersonRegistered(person_id="roster-1", username="r", roles=roles)
        event = CloudEvent.model_validate({
            "id": f"e-{at}", "source": "/sizhong/gateway", "type": data.event_type, "specversion": "1.0",
            "time": (ctx.clock.now() + timedelta(seconds=at)).isoformat(), "subject": "roster-1",
            "datacontenttype": "application/json", "data": data.model_dump(mode="json"), "sequence": at,
            "partitionkey": "roster-1", "actor": "roster-1"})
        return event, data

    for event, data in (registered(["mediator", "solver"], 2), registered(["solver"], 1)):
        async with ctx.uow() as uow:  # as the consumer runs it: the handler, then the commit
            await handlers.remember_roles(uow, event, data)
            await uow.commit()
    async with ctx.db.reading() as session:
        row = await session.get(MediatorRoster, "roster-1")
    assert row is not None and row.role_set == {"mediator", "solver"}
    await run(ctx, handlers.ensure_mediator, "roster-1")


@pytest.mark.timeout(240)
async def test_two_hundred_concurrent_bids_at_a_task_capped_at_fifty(ctx: flows.Context) -> None:
    now = ctx.clock.now()
    task = await post(ctx, "bid", [500_000], deadline=now + 2 * DAY, max_bids=50)
    await publish(ctx, task)

    async def bid(n: int) -> int:
        try:
            await run(ctx, handlers.place_bid, person(f"racer-{n}", "solver"), task.id, 400_000 + n, 10, "p", now)
        except DomainError as exc:
            return exc.status
        return 201

    outcomes = await asyncio.gather(*(bid(n) for n in range(200)))
    assert outcomes.count(201) == 50 and outcomes.count(409) == 150
    async with ctx.db.reading() as session:
        from crowdsourcing.models import Bid

        placed = (await session.execute(select(func.count()).select_from(Bid).where(Bid.task_id == task.id))
                  ).scalar_one()
        fresh = await session.get(Task, task.id)
    assert placed == 50 and fresh is not None and fresh.bids_placed == 50
