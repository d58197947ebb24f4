"""The crowdsourcing commands and flows on a real database (SQLite and PostgreSQL), with the sandbox provider
and an adjustable clock: escrow funded per milestone, releases minus commission, prizes, dispute splits,
auto-accept, declined charges and timed-out payouts. The ledger sums to zero after each; events are read
back from the outbox."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import crowdsourcing
import pytest
from crowdsourcing import flows, handlers, jobs
from crowdsourcing.models import Payout, Submission, Task
from sqlmodel import select

from shared.auth import Principal
from shared.clock import AdjustableClock
from shared.db import Database
from shared.ledger import balances, trial_balance
from shared.migrations import upgrade_to_head
from shared.outbox import read_feed
from shared.payments import Payments, SandboxPaymentProvider
from shared.problems import DomainError

DAY = timedelta(days=1)


def person(subject: str, *roles: str) -> Principal:
    return Principal(subject=subject, roles=frozenset(roles))


POSTER = person("poster-1", "enterprise")
REVIEWER = person("reviewer-1", "reviewer")
MEDIATOR = person("mediator-1", "mediator")
ADMIN = person("admin-1", "admin")


@pytest.fixture
async def ctx(database_url: str) -> AsyncIterator[flows.Context]:
    db = Database(database_url)
    await upgrade_to_head(db, str(Path(crowdsourcing.__file__).parent / "migrations"))
    try:
        yield flows.Context(db, Payments(db, SandboxPaymentProvider(db), backoff_seconds=0), AdjustableClock(),
                            service="crowdsourcing")
    finally:
        await db.dispose()


async def run(ctx: flows.Context, command: Any, *args: Any, **kwargs: Any) -> Any:
    async with ctx.uow() as uow:
        return await command(uow, *args, **kwargs)


async def post(ctx: flows.Context, mode: str, amounts: list[int], poster: Principal = POSTER, **extra: Any) -> Task:
    now = ctx.clock.now()
    data: dict[str, Any] = dict(
        mode=mode, kind="rd_solution", title="T", description="", poster_type="enterprise", organisation_id=None,
        milestones=[handlers.MilestoneInput(f"M{n}", fen, now + (n + 1) * 5 * DAY) for n, fen in enumerate(amounts)],
        deadline=None, winners=1, piece_price_fen=None, piece_quantity=None, solver_id=None,
        involves_personal_data=False, visibility="public", invited_solver_ids=[], parent_id=None)
    data.update(extra)
    return await run(ctx, handlers.create_task, poster, handlers.TaskInput(**data), now)


async def publish(ctx: flows.Context, task: Task, poster: Principal = POSTER, review: bool = True) -> Task:
    published = await flows.publish(ctx, poster, task.id, ctx.clock.now())
    if review and published.state == "under_review":
        published = await run(ctx, handlers.review_task, REVIEWER, task.id, True, "ok", ctx.clock.now())
    return published


async def task_of(ctx: flows.Context, task_id: str) -> Task:
    async with ctx.db.reading() as session:
        task = await session.get(Task, task_id)
        assert task is not None
        return task


async def money(ctx: flows.Context, task_id: str) -> dict[str, int]:
    async with ctx.db.reading() as session:
        assert await trial_balance(session) in ({"CNY": 0}, {})
        held = await balances(session, f"escrow/task/{task_id}/")
        owed = await balances(session, "payable/")
        payouts = (await session.execute(select(Payout).where(Payout.task_id == task_id))).scalars().all()
    assert not held, held
    assert not owed, owed
    assert all(p.status == "paid" for p in payouts), payouts
    paid: dict[str, int] = {}
    for p in payouts:
        paid[f"{p.kind}:{p.party_id}"] = paid.get(f"{p.kind}:{p.party_id}", 0) + p.amount_fen
    return paid


async def event_types(ctx: flows.Context) -> list[str]:
    async with ctx.db.reading() as session:
        feed, _ = await read_feed(session, 0, 1000)
    return [e.type.split("crowdsourcing.", 1)[1] for e in feed]


async def test_direct_hire_two_milestones_revision_and_a_double_acceptance_paid_once(ctx: flows.Context) -> None:
    solver = person("solver-1", "solver")
    task = await post(ctx, "direct_hire", [300_000, 700_000], solver_id=solver.subject)
    published = await publish(ctx, task)
    assert published.state == "open"
    with pytest.raises(DomainError) as stranger:
        await run(ctx, handlers.answer_hire, person("solver-2", "solver"), task.id, True, ctx.clock.now())
    assert stranger.value.status == 403
    await run(ctx, handlers.answer_hire, solver, task.id, True, ctx.clock.now())
    first = await run(ctx, handlers.submit, solver, task.id, "design v1", ctx.clock.now())
    await run(ctx, handlers.request_revision, POSTER, first.id, "more detail", ctx.clock.now())
    assert (await task_of(ctx, task.id)).state == "revision_requested"
    with pytest.raises(DomainError) as same:
        await run(ctx, handlers.submit, solver, task.id, "design v1", ctx.clock.now())
    assert same.value.status == 409
    second = await run(ctx, handlers.submit, solver, task.id, "design v2", ctx.clock.now())
    accepted = await flows.run(ctx, lambda uow: handlers.accept_submission(uow, POSTER, second.id,
                                                                            ctx.clock.now()))
    await flows.settle_task(ctx, task.id)
    assert accepted.state == "in_progress" and accepted.current_seq == 2
    last = await run(ctx, handlers.submit, solver, task.id, "final", ctx.clock.now())

    async def accept() -> Any:
        try:
            return await flows.run(ctx, lambda uow: handlers.accept_submission(uow, POSTER, last.id,
                                                                                ctx.clock.now()))
        except DomainError as exc:
            return exc

    results = await asyncio.gather(accept(), accept())
    assert sum(isinstance(r, DomainError) and r.status == 409 for r in results) == 1, results
    await asyncio.gather(flows.settle_task(ctx, task.id), flows.settle_task(ctx, task.id))
    assert (await task_of(ctx, task.id)).state == "completed"
    assert await money(ctx, task.id) == {"payout:solver-1": 270_000 + 630_000}
    async with ctx.db.reading() as session:
        assert await balances(session, "revenue/") == {("revenue/commission", "CNY"): 100_000}
    types = await event_types(ctx)
    for wanted in ("task.posted.v1", "milestone.funded.v1", "task.escrow_funded.v1", "task.sent_to_review.v1",
                   "task.reviewed.v1", "task.opened.v1", "hire.answered.v1", "task.started.v1",
                   "submission.received.v1", "submission.revision_requested.v1", "task.revision_requested.v1",
                   "escrow.released.v1", "submission.accepted.v1", "task.accepted.v1", "payout.completed.v1",
                   "task.completed.v1"):
        assert wanted in types, (wanted, types)
    assert types.count("payout.completed.v1") == 2

    # ratings both ways, then the task is rated
    await run(ctx, handlers.rate, POSTER, task.id, solver.subject, 5, "great", ctx.clock.now())
    with pytest.raises(DomainError) as twice:
        await run(ctx, handlers.rate, POSTER, task.id, solver.subject, 4, "", ctx.clock.now())
    assert twice.value.status == 409
    await run(ctx, handlers.rate, solver, task.id, POSTER.subject, 4, "", ctx.clock.now())
    assert (await task_of(ctx, task.id)).state == "rated"


async def test_contest_three_submissions_two_winners_and_a_duplicate(ctx: flows.Context) -> None:
    task = await post(ctx, "contest", [1_000_000], winners=2)
    await publish(ctx, task)
    solvers = [person(f"c-solver-{n}", "solver") for n in range(4)]
    subs = [await run(ctx, handlers.submit, s, task.id, f"logo {n}", ctx.clock.now())
            for n, s in enumerate(solvers[:3])]
    copy = await run(ctx, handlers.submit, solvers[3], task.id, "logo 0", ctx.clock.now())
    assert copy.duplicate_of == subs[0].id
    with pytest.raises(DomainError) as duplicate:
        await run(ctx, handlers.select_winners, POSTER, task.id, [copy.id], "refund", ctx.clock.now())
    assert duplicate.value.status == 409
    with pytest.raises(DomainError) as stranger:
        await run(ctx, handlers.select_winners, person("poster-2", "enterprise"), task.id, [subs[0].id], "refund",
                  ctx.clock.now())
    assert stranger.value.status == 403
    await run(ctx, handlers.select_winners, POSTER, task.id, [subs[0].id, subs[2].id], "refund", ctx.clock.now())
    await flows.settle_task(ctx, task.id)
    assert (await task_of(ctx, task.id)).state == "completed"
    assert await money(ctx, task.id) == {"payout:c-solver-0": 450_000, "payout:c-solver-2": 450_000}
    async with ctx.db.reading() as session:
        states = {s.solver_id: s.state for s in (await session.execute(
            select(Submission).where(Submission.task_id == task.id))).scalars()}
    assert states == {"c-solver-0": "accepted", "c-solver-1": "not_selected", "c-solver-2": "accepted",
                      "c-solver-3": "not_selected"}


async def test_bounty_with_one_winner_of_two_refunds_the_unclaimed_prize_and_rolls_forward(
        ctx: flows.Context) -> None:
    task = await post(ctx, "bounty", [400_000, 600_000], winners=2)
    await publish(ctx, task)
    solver = person("b-solver", "solver")
    first = await run(ctx, handlers.submit, solver, task.id, "round one", ctx.clock.now())
    await run(ctx, handlers.select_winners, POSTER, task.id, [first.id], "roll_forward", ctx.clock.now())
    opened = await task_of(ctx, task.id)
    assert opened.state == "open" and opened.current_seq == 2
    second = await run(ctx, handlers.submit, solver, task.id, "round two", ctx.clock.now())
    await run(ctx, handlers.select_winners, POSTER, task.id, [second.id], "refund", ctx.clock.now())
    await flows.settle_task(ctx, task.id)
    # round one: 200,000 prize (180,000 net), 200,000 rolled into round two (800,000): prize 400,000 (360,000)
    assert await money(ctx, task.id) == {"payout:b-solver": 540_000, "refund:poster-1": 400_000}


async def test_bid_dispute_mediated_to_sixty_forty(ctx: flows.Context) -> None:
    now = ctx.clock.now()
    task = await post(ctx, "bid", [500_000, 500_000], deadline=now + 2 * DAY)
    published = await publish(ctx, task)
    assert published.state == "open"
    bidders = [person(f"bidder-{n}", "solver") for n in range(2)]
    bids = [await run(ctx, handlers.place_bid, b, task.id, 800_000 + n, 10, "plan", now)
            for n, b in enumerate(bidders)]
    with pytest.raises(DomainError) as again:
        await run(ctx, handlers.place_bid, bidders[0], task.id, 1, 1, "again", now)
    assert again.value.status == 409
    await run(ctx, handlers.choose_bid, POSTER, bids[1].id, now)
    funded = await flows.publish(ctx, POSTER, task.id, now)
    assert funded.state == "in_progress" and funded.assignee_id == "bidder-1" and funded.budget_fen == 800_001
    solver = bidders[1]
    await run(ctx, handlers.submit, solver, task.id, "part one", now)
    dispute = await run(ctx, handlers.open_dispute, solver, task.id, "no answer", "chat log", now)
    with pytest.raises(DomainError):
        await run(ctx, handlers.resolve_dispute, MEDIATOR, dispute.id, 60, "x", now)
    await run(ctx, handlers.propose, solver, dispute.id, 80, now)
    await run(ctx, handlers.propose, POSTER, dispute.id, 30, now)
    await run(ctx, handlers.escalate, POSTER, dispute.id, None, now)
    await run(ctx, handlers.assign_mediator, ADMIN, dispute.id, MEDIATOR.subject, now)
    with pytest.raises(DomainError) as other_mediator:
        await run(ctx, handlers.resolve_dispute, person("mediator-2", "mediator"), dispute.id, 60, "x", now)
    assert other_mediator.value.status == 403
    await run(ctx, handlers.resolve_dispute, MEDIATOR, dispute.id, 60, "evidence weighed", now)
    await flows.settle_task(ctx, task.id)
    assert (await task_of(ctx, task.id)).state == "completed"
    # the bid of 800,001 scaled over two equal milestones: 400,001 (half up) + 400,000; milestone one split
    # 60/40: 240,001 (half up) to the solver, less 24,000 commission; 160,000 back, and milestone two refunded
    assert await money(ctx, task.id) == {"payout:bidder-1": 216_001, "refund:poster-1": 160_000 + 400_000}
    assert "dispute.resolved.v1" in await event_types(ctx)


async def test_auto_accept_after_the_window_and_default_ratings(ctx: flows.Context) -> None:
    solver = person("quiet-solver", "solver")
    task = await post(ctx, "direct_hire", [600_000], solver_id=solver.subject)
    await publish(ctx, task)
    await run(ctx, handlers.answer_hire, solver, task.id, True, ctx.clock.now())
    await run(ctx, handlers.submit, solver, task.id, "done", ctx.clock.now())
    assert await jobs.auto_accept(ctx) == 0
    assert isinstance(ctx.clock, AdjustableClock)
    ctx.clock.advance(14 * DAY + timedelta(seconds=1))
    assert await jobs.auto_accept(ctx) == 1
    assert await jobs.auto_accept(ctx) == 0
    assert (await task_of(ctx, task.id)).state == "completed"
    assert await money(ctx, task.id) == {"payout:quiet-solver": 540_000}
    assert await jobs.rating_defaults(ctx) == 0
    ctx.clock.advance(12 * DAY + timedelta(seconds=1))
    assert await jobs.rating_defaults(ctx) == 1
    assert (await task_of(ctx, task.id)).state == "rated"


async def test_declined_charge_cancels_and_timed_out_payout_is_paid_once(ctx: flows.Context) -> None:
    declined = person("poster-declined", "enterprise")
    task = await post(ctx, "bounty", [600_000], poster=declined)
    cancelled = await flows.publish(ctx, declined, task.id, ctx.clock.now())
    assert (cancelled.state, cancelled.reason) == ("cancelled", "payment_failed")

    solver = person("solver-timeout-once", "solver")
    task = await post(ctx, "direct_hire", [600_000], solver_id=solver.subject)
    await publish(ctx, task)
    await run(ctx, handlers.answer_hire, solver, task.id, True, ctx.clock.now())
    submission = await run(ctx, handlers.submit, solver, task.id, "work", ctx.clock.now())
    await run(ctx, handlers.accept_submission, POSTER, submission.id, ctx.clock.now())
    await asyncio.gather(flows.settle_task(ctx, task.id), jobs.retry_payouts(ctx))
    assert await money(ctx, task.id) == {"payout:solver-timeout-once": 540_000}
    async with ctx.db.reading() as session:
        from sqlalchemy import text

        calls = (await session.execute(text("SELECT count(*) FROM sandbox_provider_operations WHERE party = :p"),
                                       {"p": solver.subject})).scalar_one()
    assert calls == 1


async def test_deadlines_expire_and_abandonment_warns_then_escalates(ctx: flows.Context) -> None:
    task = await post(ctx, "bounty", [600_000])
    await publish(ctx, task)
    solver = person("late-solver", "solver")
    hired = await post(ctx, "direct_hire", [600_000], solver_id=solver.subject)
    await publish(ctx, hired)
    await run(ctx, handlers.answer_hire, solver, hired.id, True, ctx.clock.now())
    assert isinstance(ctx.clock, AdjustableClock)
    ctx.clock.advance(6 * DAY)
    assert await jobs.deadlines(ctx) >= 1
    expired = await task_of(ctx, task.id)
    assert (expired.state, expired.reason) == ("expired", "zero_submissions")
    assert await money(ctx, task.id) == {"refund:poster-1": 600_000}
    assert await jobs.abandonment(ctx) == 1
    assert await jobs.abandonment(ctx) == 0
    ctx.clock.advance(3 * DAY + timedelta(seconds=1))
    assert await jobs.abandonment(ctx) == 1
    types = await event_types(ctx)
    assert "abandonment.warned.v1" in types and "abandonment.escalated.v1" in types
