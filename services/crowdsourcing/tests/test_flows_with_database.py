"""The crowdsourcing commands and flows on a real database (SQLite and PostgreSQL), with the sandbox provider
and an adjustable clock: escrow funded per milestone, releases minus commission, prizes, dispute splits,
auto-accept, declined charges and timed-out payouts. The ledger sums to zero after each; events are read
back from the outbox."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from crowdsourcing import flows, handlers, jobs
from crowdsourcing.models import Payout, Submission, Task
from sqlmodel import select

from shared.auth import Principal
from shared.clock import AdjustableClock
from shared.db import Database
from shared.ledger import balances, trial_balance
from shared.outbox import read_feed
from shared.payments import SandboxPaymentProvider
from shared.problems import DomainError

DAY = timedelta(days=1)
EPOCH = datetime(2026, 1, 1, tzinfo=UTC)


def person(subject: str, *roles: str) -> Principal:
    return Principal(subject=subject, roles=frozenset(roles))


POSTER = person("poster-1", "enterprise")
REVIEWER = person("reviewer-1", "reviewer")
MEDIATOR = person("mediator-1", "mediator")
ADMIN = person("admin-1", "admin")


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

        executed = (await session.execute(text(
            "SELECT kind, amount FROM sandbox_provider_operations WHERE party = :p"), {"p": solver.subject})).all()
    assert [tuple(row) for row in executed] == [("payout", 540_000)]  # paid to the solver once, for its amount


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


# ---------------------------------------------------------------- review findings: funding must never lose money


async def payment_attempts(ctx: flows.Context, task_id: str) -> list[tuple[str, str, int, str]]:
    from sqlalchemy import text

    async with ctx.db.reading() as session:
        return [tuple(r) for r in (await session.execute(text(
            "SELECT idempotency_key, kind, amount, status FROM payment_attempts WHERE idempotency_key LIKE :p "
            "ORDER BY created_at"), {"p": f"cs:{task_id}:%"})).all()]


async def test_publishing_an_open_bid_task_again_is_refused_and_charges_nothing(ctx: flows.Context) -> None:
    now = ctx.clock.now()
    task = await post(ctx, "bid", [500_000, 500_000], deadline=now + 2 * DAY)
    assert (await publish(ctx, task)).state == "open"
    bid = await run(ctx, handlers.place_bid, person("bidder-1", "solver"), task.id, 800_000, 10, "plan", now)
    with pytest.raises(DomainError) as again:
        await flows.publish(ctx, POSTER, task.id, now)
    assert again.value.status == 409 and again.value.extra.get("current_state") == "open"
    assert await payment_attempts(ctx, task.id) == []
    reread = await task_of(ctx, task.id)
    assert (reread.state, reread.assignee_id) == ("open", None)
    # the task goes on as a bid task: the bid is chosen, funded at its price, and started
    await run(ctx, handlers.choose_bid, POSTER, bid.id, now)
    funded = await flows.publish(ctx, POSTER, task.id, now)
    assert (funded.state, funded.assignee_id, funded.budget_fen) == ("in_progress", "bidder-1", 800_000)
    with pytest.raises(DomainError) as started:
        await flows.publish(ctx, POSTER, task.id, now)
    assert started.value.status == 409
    assert sum(a[2] for a in await payment_attempts(ctx, task.id)) == 800_000


class Flaky(SandboxPaymentProvider):
    """The sandbox, except that the keys in `stuck` never get an answer, and a charge can be held in flight."""

    def __init__(self, db: Database) -> None:
        super().__init__(db)
        self.stuck: set[str] = set()
        self.hold_first_charge = False
        self.entered = asyncio.Event()
        self.release = asyncio.Event()

    async def execute(self, kind: Any, idempotency_key: str, amount: Any, party: str) -> Any:
        if idempotency_key in self.stuck:
            raise TimeoutError("the provider did not answer")
        if self.hold_first_charge and kind == "charge":
            self.hold_first_charge = False
            self.entered.set()
            await self.release.wait()
        return await super().execute(kind, idempotency_key, amount, party)


def flaky(ctx: flows.Context) -> Flaky:
    provider = Flaky(ctx.db)
    ctx.payments.provider = provider
    return provider


async def provider_net(ctx: flows.Context, task_id: str) -> int:
    """What the provider holds for the task: charges in, minus refunds and payouts out."""
    from sqlalchemy import text

    async with ctx.db.reading() as session:
        rows = (await session.execute(text(
            "SELECT kind, amount FROM sandbox_provider_operations WHERE idempotency_key LIKE :p AND status = "
            "'succeeded'"), {"p": f"cs:{task_id}:%"})).all()
    return sum(amount if kind == "charge" else -amount for kind, amount in rows)


async def milestone_ids(ctx: flows.Context, task_id: str) -> list[str]:
    from crowdsourcing.models import Milestone

    async with ctx.db.reading() as session:
        return list((await session.execute(select(Milestone.id).where(Milestone.task_id == task_id)
                                           .order_by(Milestone.seq))).scalars())  # type: ignore[arg-type]


async def test_a_timeout_on_the_second_charge_keeps_the_first_and_cancelling_refunds_both(ctx: flows.Context) -> None:
    provider = flaky(ctx)
    task = await post(ctx, "bounty", [600_000, 400_000])
    first, second = await milestone_ids(ctx, task.id)
    provider.stuck = {f"cs:{task.id}:fund:{second}"}
    with pytest.raises(DomainError) as timed_out:
        await flows.publish(ctx, POSTER, task.id, ctx.clock.now())
    assert timed_out.value.status == 503
    async with ctx.db.reading() as session:  # the first charge succeeded: it is in escrow, not lost
        assert await balances(session, f"escrow/task/{task.id}/") == {
            (f"escrow/task/{task.id}/milestone/{first}", "CNY"): 600_000}
    assert (await task_of(ctx, task.id)).state == "draft"
    provider.stuck = set()  # the provider answers again; the poster cancels instead of publishing again
    cancelled = await flows.cancel(ctx, POSTER, task.id, ctx.clock.now())
    assert (cancelled.state, cancelled.reason) == ("cancelled", "poster_request")
    assert await money(ctx, task.id) == {"refund:poster-1": 1_000_000}
    assert await provider_net(ctx, task.id) == 0


async def test_a_timeout_then_publishing_again_resumes_without_charging_twice(ctx: flows.Context) -> None:
    provider = flaky(ctx)
    task = await post(ctx, "bounty", [600_000, 400_000])
    _, second = await milestone_ids(ctx, task.id)
    provider.stuck = {f"cs:{task.id}:fund:{second}"}
    with pytest.raises(DomainError):
        await flows.publish(ctx, POSTER, task.id, ctx.clock.now())
    provider.stuck = set()
    assert (await publish(ctx, task)).state == "open"
    assert await provider_net(ctx, task.id) == 1_000_000
    assert [a[3] for a in await payment_attempts(ctx, task.id)] == ["succeeded", "succeeded"]


async def test_a_cancel_while_a_charge_is_in_flight_refunds_the_charge(ctx: flows.Context) -> None:
    provider = flaky(ctx)
    provider.hold_first_charge = True
    task = await post(ctx, "bounty", [600_000])
    publishing = asyncio.create_task(flows.publish(ctx, POSTER, task.id, ctx.clock.now()))
    await provider.entered.wait()
    # the cancel does not wait for the charge: the publication finds the task cancelled when it answers
    await run(ctx, handlers.cancel_task, POSTER, task.id, ctx.clock.now())
    provider.release.set()
    finished = await publishing
    assert (finished.state, finished.reason) == ("cancelled", "poster_request")
    assert await money(ctx, task.id) == {"refund:poster-1": 600_000}
    assert await provider_net(ctx, task.id) == 0


async def test_a_cancel_flow_racing_a_publication_refunds_once(ctx: flows.Context) -> None:
    provider = flaky(ctx)
    provider.hold_first_charge = True
    task = await post(ctx, "bounty", [600_000])
    publishing = asyncio.create_task(flows.publish(ctx, POSTER, task.id, ctx.clock.now()))
    await provider.entered.wait()
    # the cancel asks the provider about the charge in flight itself (same key), then refunds it
    await flows.cancel(ctx, POSTER, task.id, ctx.clock.now())
    provider.release.set()
    await publishing
    assert await money(ctx, task.id) == {"refund:poster-1": 600_000}
    assert await provider_net(ctx, task.id) == 0


async def test_an_upheld_spam_report_on_a_bid_being_funded_refunds_every_charge(ctx: flows.Context) -> None:
    provider = flaky(ctx)
    now = ctx.clock.now()
    task = await post(ctx, "bid", [500_000, 500_000], deadline=now + 2 * DAY)
    await publish(ctx, task)
    bid = await run(ctx, handlers.place_bid, person("bidder-1", "solver"), task.id, 800_000, 10, "plan", now)
    _, second = await milestone_ids(ctx, task.id)
    provider.stuck = {f"cs:{task.id}:fund:{second}"}
    await run(ctx, handlers.choose_bid, POSTER, bid.id, now)
    with pytest.raises(DomainError) as timed_out:
        await flows.publish(ctx, POSTER, task.id, now)
    assert timed_out.value.status == 503
    report = await run(ctx, handlers.file_report, person("someone", "solver"), task.id, None, "spam", "", now)
    provider.stuck = set()
    await flows.decide_report(ctx, REVIEWER, report.id, True, "spam", now)
    cancelled = await task_of(ctx, task.id)
    assert (cancelled.state, cancelled.reason) == ("cancelled", "failed_review")
    assert await money(ctx, task.id) == {"refund:poster-1": 800_000}
    assert await provider_net(ctx, task.id) == 0


async def test_choosing_a_bid_never_rescales_a_milestone_already_charged(ctx: flows.Context) -> None:
    from shared.money import Money
    from shared.payments import PaymentKind

    now = ctx.clock.now()
    task = await post(ctx, "bid", [500_000, 500_000], deadline=now + 2 * DAY)
    await publish(ctx, task)
    bid = await run(ctx, handlers.place_bid, person("bidder-1", "solver"), task.id, 800_000, 10, "plan", now)
    first, _ = await milestone_ids(ctx, task.id)
    # a charge attempt already made for the first milestone at its current amount (an earlier funding)
    await ctx.payments.execute(PaymentKind.CHARGE, f"cs:{task.id}:fund:{first}", Money.cny(500_000), POSTER.subject)
    with pytest.raises(DomainError) as refused:
        await run(ctx, handlers.choose_bid, POSTER, bid.id, now)
    assert refused.value.status == 409
    assert (await task_of(ctx, task.id)).budget_fen == 1_000_000
    # cancelling finds the charge in the payment attempts, posts it into escrow and refunds it
    await flows.cancel(ctx, POSTER, task.id, now)
    assert await money(ctx, task.id) == {"refund:poster-1": 500_000}
    assert await provider_net(ctx, task.id) == 0


async def test_a_poster_whose_solver_vanished_after_a_revision_request_disputes_and_recovers_the_escrow(
        ctx: flows.Context) -> None:
    solver = person("vanishing-solver", "solver")
    task = await post(ctx, "direct_hire", [300_000], solver_id=solver.subject)
    await publish(ctx, task)
    await run(ctx, handlers.answer_hire, solver, task.id, True, ctx.clock.now())
    first = await run(ctx, handlers.submit, solver, task.id, "v1", ctx.clock.now())
    assert isinstance(ctx.clock, AdjustableClock)
    await run(ctx, handlers.request_revision, POSTER, first.id, "fix it", ctx.clock.advance(DAY))
    ctx.clock.advance(60 * DAY)  # the solver never delivers again; auto-accept has nothing to accept
    assert await jobs.auto_accept(ctx) == 0
    dispute = await run(ctx, handlers.open_dispute, POSTER, task.id, "the solver is gone", "chat log",
                        ctx.clock.now())
    await run(ctx, handlers.escalate, POSTER, dispute.id, None, ctx.clock.now())
    await run(ctx, handlers.assign_mediator, ADMIN, dispute.id, MEDIATOR.subject, ctx.clock.now())
    await run(ctx, handlers.resolve_dispute, MEDIATOR, dispute.id, 0, "nothing delivered", ctx.clock.now())
    await flows.settle_task(ctx, task.id)
    assert (await task_of(ctx, task.id)).state == "completed"
    assert await money(ctx, task.id) == {"refund:poster-1": 300_000}


async def test_the_dispute_window_still_closes_on_delivered_work_awaiting_acceptance(ctx: flows.Context) -> None:
    solver = person("prompt-solver", "solver")
    task = await post(ctx, "direct_hire", [300_000], solver_id=solver.subject)
    await publish(ctx, task)
    await run(ctx, handlers.answer_hire, solver, task.id, True, ctx.clock.now())
    await run(ctx, handlers.submit, solver, task.id, "v1", ctx.clock.now())
    assert isinstance(ctx.clock, AdjustableClock)
    ctx.clock.advance(14 * DAY + timedelta(seconds=1))
    with pytest.raises(DomainError) as closed:
        await run(ctx, handlers.open_dispute, POSTER, task.id, "late", "e", ctx.clock.now())
    assert closed.value.status == 409 and closed.value.extra.get("current_state") == "submitted"


class DeclinesFirstPayouts(SandboxPaymentProvider):
    """The sandbox, except that a payout or refund is declined unless it is a re-issue."""

    async def execute(self, kind: Any, idempotency_key: str, amount: Any, party: str) -> Any:
        from shared.payments import PaymentResult

        if kind != "charge" and "/retry-" not in idempotency_key:
            return PaymentResult(idempotency_key, "failed", "", "sandbox: declined (account closed)")
        return await super().execute(kind, idempotency_key, amount, party)


async def test_an_admin_reissues_a_declined_payout_with_a_new_key_and_it_is_paid_once(ctx: flows.Context) -> None:
    ctx.payments.provider = DeclinesFirstPayouts(ctx.db)
    solver = person("solver-new-account", "solver")
    task = await post(ctx, "direct_hire", [300_000], solver_id=solver.subject)
    await publish(ctx, task)
    await run(ctx, handlers.answer_hire, solver, task.id, True, ctx.clock.now())
    submission = await run(ctx, handlers.submit, solver, task.id, "work", ctx.clock.now())
    await run(ctx, handlers.accept_submission, POSTER, submission.id, ctx.clock.now())
    await flows.settle_task(ctx, task.id)
    assert await jobs.retry_payouts(ctx) == 0  # a declined payout is not pending: no job retries it
    async with ctx.db.reading() as session:
        declined = (await session.execute(select(Payout).where(Payout.task_id == task.id))).scalars().one()
        assert await balances(session, "payable/") == {("payable/solver/solver-new-account", "CNY"): 270_000}
    assert declined.status == "failed"
    for stranger in (POSTER, solver):
        with pytest.raises(DomainError) as refused:
            await flows.reissue_payout(ctx, stranger, declined.id, ctx.clock.now())
        assert refused.value.status == 403
    reissued = await flows.reissue_payout(ctx, ADMIN, declined.id, ctx.clock.now())
    assert reissued.idempotency_key == f"{declined.idempotency_key}/retry-1"
    assert (reissued.status, reissued.amount_fen, reissued.account) == ("paid", 270_000, declined.account)
    with pytest.raises(DomainError) as twice:
        await flows.reissue_payout(ctx, ADMIN, declined.id, ctx.clock.now())
    assert twice.value.status == 409
    with pytest.raises(DomainError) as paid:
        await flows.reissue_payout(ctx, ADMIN, reissued.id, ctx.clock.now())
    assert paid.value.status == 409
    async with ctx.db.reading() as session:
        assert await trial_balance(session) == {"CNY": 0}
        assert await balances(session, "payable/") == {}
        assert await balances(session, f"escrow/task/{task.id}/") == {}
        statuses = sorted((p.idempotency_key, p.status) for p in (await session.execute(
            select(Payout).where(Payout.task_id == task.id))).scalars())
    assert statuses == [(declined.idempotency_key, "reissued"), (reissued.idempotency_key, "paid")]
    assert "payout.reissued.v1" in await event_types(ctx)


async def test_a_job_that_fails_on_one_task_still_acts_on_the_others(ctx: flows.Context,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    broken, healthy = await post(ctx, "bounty", [600_000]), await post(ctx, "bounty", [600_000])
    await publish(ctx, broken)
    await publish(ctx, healthy)
    original = jobs._deadline_of

    async def failing(uow: Any, task_id: str, now: Any) -> int:
        if task_id == broken.id:
            raise RuntimeError("a bug on this one task")
        return await original(uow, task_id, now)

    monkeypatch.setattr(jobs, "_deadline_of", failing)
    assert isinstance(ctx.clock, AdjustableClock)
    ctx.clock.advance(6 * DAY)
    assert await jobs.deadlines(ctx) == 1
    assert (await task_of(ctx, broken.id)).state == "open"
    expired = await task_of(ctx, healthy.id)
    assert (expired.state, expired.reason) == ("expired", "zero_submissions")
    assert await money(ctx, healthy.id) == {"refund:poster-1": 600_000}


async def test_the_losing_side_of_two_concurrent_publications_reads_the_winners_result(ctx: flows.Context) -> None:
    provider = flaky(ctx)
    provider.hold_first_charge = True
    task = await post(ctx, "bounty", [600_000])
    slow = asyncio.create_task(flows.publish(ctx, POSTER, task.id, ctx.clock.now()))
    await provider.entered.wait()
    fast = await flows.publish(ctx, POSTER, task.id, ctx.clock.now())
    provider.release.set()
    late = await slow
    assert fast.state == late.state == "under_review"
    assert late.id == task.id
    assert await provider_net(ctx, task.id) == 600_000
    async with ctx.db.reading() as session:
        assert await balances(session, f"escrow/task/{task.id}/") == {
            (f"escrow/task/{task.id}/milestone/{(await milestone_ids(ctx, task.id))[0]}", "CNY"): 600_000}


async def test_reports_need_a_task_the_reporter_may_see_and_a_reviewer_never_decides_their_own(
        ctx: flows.Context) -> None:
    invited = person("invited-solver", "solver")
    secret = await post(ctx, "bounty", [600_000], involves_personal_data=True, visibility="invited",
                        invited_solver_ids=[invited.subject])
    await publish(ctx, secret)
    draft = await post(ctx, "bounty", [600_000])
    outsider = person("outsider", "solver")
    for task_id in (secret.id, draft.id):
        with pytest.raises(DomainError) as hidden:
            await run(ctx, handlers.file_report, outsider, task_id, None, "spam", "", ctx.clock.now())
        assert hidden.value.status == 404
    report = await run(ctx, handlers.file_report, invited, secret.id, None, "spam", "", ctx.clock.now())
    # a reviewer who is also a solver files a report, and may not decide it
    reviewing_solver = person("reviewing-solver", "solver", "reviewer")
    own = await run(ctx, handlers.file_report, reviewing_solver, secret.id, None, "spam", "", ctx.clock.now())
    with pytest.raises(DomainError) as own_decision:
        await run(ctx, handlers.decide_report, reviewing_solver, own.id, True, "", ctx.clock.now())
    assert own_decision.value.status == 403
    decided = await run(ctx, handlers.decide_report, REVIEWER, report.id, False, "not spam", ctx.clock.now())
    assert decided.state == "dismissed"


async def test_a_payout_that_timed_out_stays_owed_and_the_job_pays_it_once_by_the_same_key(
        ctx: flows.Context) -> None:
    provider = flaky(ctx)
    solver = person("solver-stuck-payout", "solver")
    task = await post(ctx, "direct_hire", [600_000], solver_id=solver.subject)
    await publish(ctx, task)
    await run(ctx, handlers.answer_hire, solver, task.id, True, ctx.clock.now())
    submission = await run(ctx, handlers.submit, solver, task.id, "work", ctx.clock.now())
    await run(ctx, handlers.accept_submission, POSTER, submission.id, ctx.clock.now())
    async with ctx.db.reading() as session:
        [owed] = (await session.execute(select(Payout).where(Payout.task_id == task.id,
                                                             Payout.kind == "payout"))).scalars().all()
    provider.stuck.add(owed.idempotency_key)
    assert await flows.settle_task(ctx, task.id) == 0  # the provider never answered
    async with ctx.db.reading() as session:
        still = await session.get(Payout, owed.id)
    assert still is not None and still.status == "pending"
    provider.stuck.clear()
    assert await jobs.retry_payouts(ctx) == 1
    assert await jobs.retry_payouts(ctx) == 0  # nothing left owed
    assert await money(ctx, task.id) == {"payout:solver-stuck-payout": 540_000}
    attempts = [a for a in await payment_attempts(ctx, task.id) if a[1] == "payout"]
    assert attempts == [(owed.idempotency_key, "payout", 540_000, "succeeded")]  # one key, one payout
    assert await provider_net(ctx, task.id) == 60_000  # 600,000 charged, 540,000 paid out once
