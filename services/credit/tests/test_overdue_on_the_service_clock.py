"""Missed deadlines on the service clock (SQLite and PostgreSQL): an objection without feedback in 10 working days
and a repair request undecided in 3 are marked overdue by the `overdue` job just after the deadline and not a
moment before (the holiday calendar with its 调休 make-up day, as the deadlines were computed), announced once
across runs and a restart, shown in the reviewers' queues, the subject's listings and the regulators' list, and
still decidable afterwards, recorded as late."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from types import SimpleNamespace
from typing import Any

import httpx
import pytest
from credit import lists
from credit.consumers import credit_subscriptions
from credit.contracts import ObjectionDecided, ObjectionOverdue, RepairDecided, RepairOverdue
from credit.domain.policy import DEFAULT_POLICY
from credit.jobs import advance_listings, credit_jobs, mark_overdue
from credit.main import create_app
from credit.models import CreditListing, CreditObjection, CreditRepair
from credit.settings import CreditSettings
from sqlmodel import select

from services.credit.tests.test_notices_on_the_service_clock import crowdsourcing_events, end_of_day, shanghai
from shared.auth import issue_token
from shared.consumer import EventApplier
from shared.context import ServiceContext
from shared.db import Database
from shared.envelope import CloudEvent
from shared.outbox import read_feed
from shared.scheduler import Scheduler
from shared.uow import UnitOfWork

SOLVER = "solver-late"
JWT_SECRET = "credit-overdue-tests-" + "k" * 16
MICROSECOND = timedelta(microseconds=1)


async def notified(db: Database, clock: Any, month: str, at: str) -> CreditListing:
    """The solver's general black-list entry, notified at `at` on the service clock from events of `month`."""
    clock.at = shanghai(at)
    applier = EventApplier(db, "credit", "credit", credit_subscriptions(clock))
    assert all(await applier.apply_batch(crowdsourcing_events(SOLVER, month)))
    async with db.reading() as session:
        return (await session.execute(select(CreditListing))).scalars().one()


async def listed_in_june(db: Database, clock: Any) -> CreditListing:
    """Notified on Monday 22 June 2026 (after the 端午 holiday), listed by the job on 1 July: from 29 September on
    the entry may be repaired (90 days, general tier)."""
    listing = await notified(db, clock, "2026-06", "2026-06-22T10:00")
    clock.at = shanghai("2026-07-01T09:00")
    assert await advance_listings(ServiceContext(db, clock, "credit", None)) == 1
    return listing


async def feed(db: Database, *types: str) -> list[CloudEvent]:
    async with db.reading() as session:
        events, _ = await read_feed(session, 0, 1000)
    return [e for e in events if e.type in types]


async def test_an_objection_without_feedback_in_10_working_days_is_overdue_once_and_may_still_be_decided(
        db: Database, clock: Any, database_url: str) -> None:
    listing = await notified(db, clock, "2026-09", "2026-09-29T10:00")
    clock.at = shanghai("2026-09-30T09:00")  # the day before the National Day week
    async with UnitOfWork(db, "credit") as uow:
        objection = await lists.file_objection(uow, await lists.listing_for(uow, listing.id), "第二次争议系对方违约",
                                               clock.now(), DEFAULT_POLICY)
        await uow.commit()
    due = end_of_day("2026-10-20")  # 8, 9, 10 (调休), 12 .. 16, 19, 20 October
    assert objection.feedback_due == due
    ctx = ServiceContext(db, clock, "credit", None)
    # 9 and 16 calendar days later (Monday to Friday alone would have made it due on 14 October), then the
    # deadline itself: not overdue
    for moment in (shanghai("2026-10-09T12:00"), shanghai("2026-10-16T12:00"), due - MICROSECOND, due):
        clock.at = moment
        assert await mark_overdue(ctx) == 0, moment
    clock.at = due + MICROSECOND  # 00:00 on Wednesday 21 October in Shanghai
    assert await mark_overdue(ctx) == 1
    assert await mark_overdue(ctx) == 0  # the next run
    restarted = Database(database_url)  # a restart: nothing but the database carries over
    try:
        clock.at += timedelta(days=3)
        assert await mark_overdue(ServiceContext(restarted, clock, "credit", None)) == 0
    finally:
        await restarted.dispose()
    [announced] = await feed(db, ObjectionOverdue.event_type)
    assert ObjectionOverdue.model_validate(announced.data) == ObjectionOverdue(
        objection_id=objection.id, listing_id=listing.id, subject_id=SOLVER, filed_at=objection.filed_at,
        feedback_due=due, overdue_at=due + MICROSECOND)
    assert (announced.subject, announced.partitionkey) == (objection.id, SOLVER)

    async with UnitOfWork(db, "credit") as uow:  # the reviewer answers late: allowed, and recorded so
        row = await uow.session.get(CreditObjection, objection.id)
        assert row is not None and row.overdue_at == due + MICROSECOND and not row.decided_late
        await lists.decide_objection(uow, row, False, "reviewer-1", "证据不足", clock.now(), DEFAULT_POLICY)
        await uow.commit()
    async with db.reading() as session:
        decided = await session.get(CreditObjection, objection.id)
    assert decided is not None and (decided.state, decided.decided_at, decided.decided_late) == (
        "dismissed", clock.at, True)
    assert decided.overdue_at == due + MICROSECOND  # the mark stays as it was
    assert len(await feed(db, ObjectionOverdue.event_type)) == 1 and len(await feed(db, ObjectionDecided.event_type))
    assert await mark_overdue(ctx) == 0


async def decide(db: Database, repair_id: str, approved: bool, now: datetime) -> None:
    async with UnitOfWork(db, "credit") as uow:
        repair = await uow.session.get(CreditRepair, repair_id)
        assert repair is not None
        await lists.decide_repair(uow, repair, approved, "reviewer-1", "决定", now, DEFAULT_POLICY)
        await uow.commit()


async def test_a_repair_decided_on_its_last_working_day_is_on_time_and_one_decided_after_it_late(
        db: Database, clock: Any) -> None:
    listing = await listed_in_june(db, clock)
    clock.at = shanghai("2026-10-04T10:00")  # Sunday, in the National Day week
    requests = []
    for n in range(2):
        async with UnitOfWork(db, "credit") as uow:
            repair = await lists.request_repair(uow, await lists.listing_for(uow, listing.id), "信用承诺书",
                                                "已整改", clock.now(), DEFAULT_POLICY)
            requests.append(repair)
            await uow.commit()
        if n == 0:
            due = end_of_day("2026-10-10")  # 8, 9 and Saturday 10 October, a make-up working day (调休)
            assert repair.decide_by == due
            clock.at = due  # decided at the deadline itself: on time, nothing overdue
            await decide(db, repair.id, False, clock.now())
            clock.at = shanghai("2026-10-12T10:00")  # Monday: asks again, due Thursday 15 October
    on_time, late = requests
    assert late.decide_by == end_of_day("2026-10-15")
    ctx = ServiceContext(db, clock, "credit", None)
    clock.at = late.decide_by
    assert await mark_overdue(ctx) == 0
    clock.at = late.decide_by + MICROSECOND  # the reviewer decides before the job's next run: the decision
    await decide(db, late.id, True, clock.now())  # marks it overdue (and announces it) itself
    assert await mark_overdue(ctx) == 0
    async with db.reading() as session:
        rows = {r.id: r for r in (await session.execute(select(CreditRepair))).scalars()}
        ended = await session.get(CreditListing, listing.id)
    assert (rows[on_time.id].state, rows[on_time.id].decided_late, rows[on_time.id].overdue_at) == (
        "refused", False, None)
    assert (rows[late.id].state, rows[late.id].decided_late, rows[late.id].overdue_at) == ("approved", True, clock.at)
    assert ended is not None and (ended.state, ended.end_reason) == ("removed", "repaired")  # the late decision took
    assert [RepairOverdue.model_validate(e.data).repair_id for e in await feed(db, RepairOverdue.event_type)] == \
        [late.id]
    order = [e.type for e in await feed(db, RepairOverdue.event_type, RepairDecided.event_type)]
    assert order == [RepairDecided.event_type, RepairOverdue.event_type, RepairDecided.event_type]


async def test_two_replicas_running_the_job_at_once_announce_each_item_once(db: Database, clock: Any,
                                                                           database_url: str) -> None:
    listing = await listed_in_june(db, clock)
    clock.at = shanghai("2026-10-04T10:00")
    async with UnitOfWork(db, "credit") as uow:
        row = await lists.listing_for(uow, listing.id)
        await lists.file_objection(uow, row, "争议有误", clock.now(), DEFAULT_POLICY)
        await lists.request_repair(uow, row, "信用承诺书", "已整改", clock.now(), DEFAULT_POLICY)
        await uow.commit()
    clock.at = shanghai("2026-10-21T00:00")  # both deadlines passed
    other = Database(database_url)  # a second replica of the service on the same database
    try:
        runs = await asyncio.gather(*(mark_overdue(ServiceContext(d, clock, "credit", None))
                                      for d in (db, other, db, other)))
    finally:
        await other.dispose()
    assert sum(runs) == 2, runs
    assert len(await feed(db, ObjectionOverdue.event_type)) == len(await feed(db, RepairOverdue.event_type)) == 1


# ---------------------------------------------------------------- over HTTP


@dataclass(frozen=True)
class Api:
    client: httpx.AsyncClient
    app: Any

    @staticmethod
    def as_(subject: str, *roles: str) -> dict[str, str]:
        return {"authorization": f"Bearer {issue_token(JWT_SECRET, 'sizhong-gateway', subject, set(roles))}"}

    async def run_job(self, name: str) -> int:
        """The job as the app's scheduler runs it."""
        scheduler = self.app.state.scheduler
        return int(await scheduler.run_now(name))


@pytest.fixture
async def api(db: Database, clock: Any) -> AsyncIterator[Api]:
    """Credit's app built as at start, its state on the test's database and clock (no relay, consumer or running
    scheduler: the test runs the jobs itself, through the scheduler's own list)."""
    app = create_app(CreditSettings(jwt_secret=JWT_SECRET))
    app.state.db, app.state.clock, app.state.relay = db, clock, SimpleNamespace(wake=None)
    app.state.scheduler = Scheduler(credit_jobs(app))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://credit") as client:
        yield Api(client, app)


async def test_overdue_items_show_in_the_queues_the_subjects_view_and_the_regulators_list(
        db: Database, clock: Any, api: Api) -> None:
    subject, reviewer = Api.as_(SOLVER, "solver"), Api.as_("reviewer-1", "reviewer")
    regulator, admin = Api.as_("regulator-1", "regulator"), Api.as_("admin-1", "admin")
    listing = await listed_in_june(db, clock)
    http = api.client
    clock.at = shanghai("2026-10-04T10:00")
    objected = await http.post(f"/listings/{listing.id}/objections", headers=subject, json={"grounds": "争议有误"})
    repair = await http.post(f"/listings/{listing.id}/repairs", headers=subject,
                             json={"commitment": "信用承诺书", "correction": "已整改"})
    assert objected.status_code == repair.status_code == 201, (objected.text, repair.text)
    objection_id, repair_id = objected.json()["id"], repair.json()["id"]

    clock.at = shanghai("2026-10-11T00:00")  # the repair's 3 working days are over, the objection's 10 are not
    assert await api.run_job("overdue") == 1
    repairs = (await http.get("/repairs/pending", headers=reviewer)).json()
    objections = (await http.get("/objections/pending", headers=reviewer)).json()
    assert [(r["id"], r["overdue_at"] is not None) for r in repairs] == [(repair_id, True)]
    assert [(o["id"], o["overdue_at"]) for o in objections] == [(objection_id, None)]
    for who in (regulator, reviewer, admin):
        listed = await http.get("/overdue", headers=who)
        assert listed.status_code == 200, listed.text
        assert [(i["kind"], i["id"], i["state"]) for i in listed.json()] == [("repair", repair_id, "pending")]
    for who in (subject, Api.as_("poster-1", "enterprise"), Api.as_("mediator-1", "mediator")):
        refused = await http.get("/overdue", headers=who)
        assert refused.status_code == 403, refused.text
        assert refused.headers["content-type"].startswith("application/problem+json")
    assert (await http.get("/overdue")).status_code == 401
    assert (await http.get("/repairs/pending", headers=regulator)).status_code == 403  # a regulator supervises

    clock.at = shanghai("2026-10-21T00:00")
    assert await api.run_job("overdue") == 1  # the objection now; the repair was announced already
    assert await api.run_job("overdue") == 0
    decided = await http.post(f"/repairs/{repair_id}/decision", headers=reviewer,
                              json={"approved": False, "note": "整改材料不全"})
    assert decided.status_code == 200, decided.text
    assert (decided.json()["state"], decided.json()["decided_late"]) == ("refused", True)

    own = (await http.get(f"/subjects/{SOLVER}/listings", headers=subject)).json()
    [entry] = [row for row in own if row["id"] == listing.id]
    assert [(o["id"], o["state"], o["overdue_at"] is not None, o["decided_late"]) for o in entry["objections"]] \
        == [(objection_id, "pending", True, False)]
    assert [(r["id"], r["state"], r["overdue_at"] is not None, r["decided_late"]) for r in entry["repairs"]] \
        == [(repair_id, "refused", True, True)]
    everything = (await http.get("/overdue", headers=regulator)).json()
    assert [(i["kind"], i["id"]) for i in everything] == [("repair", repair_id), ("objection", objection_id)]
    assert [datetime.fromisoformat(i["due"]) for i in everything] == [end_of_day("2026-10-10"),
                                                                       end_of_day("2026-10-20")]
    undecided = (await http.get("/overdue", headers=regulator, params={"pending": "true"})).json()
    late = (await http.get("/overdue", headers=regulator, params={"pending": "false"})).json()
    objections_only = (await http.get("/overdue", headers=regulator, params={"kind": "objection"})).json()
    assert [i["id"] for i in undecided] == [objection_id] == [i["id"] for i in objections_only]
    assert [(i["id"], i["decided_late"]) for i in late] == [(repair_id, True)]
    bad = await http.get("/overdue", headers=regulator, params={"kind": "listing"})
    assert bad.status_code == 422 and "kind" in bad.text
    announced = await feed(db, ObjectionOverdue.event_type, RepairOverdue.event_type)
    assert [e.subject for e in announced] == [repair_id, objection_id]
