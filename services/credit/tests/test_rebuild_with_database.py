"""The credit handlers on a real database (SQLite and PostgreSQL): a generated history of 10,000 crowd events goes
through the live handler (facts stored, scores kept, changes with causes, listings proposed); the rebuild refolds
the stored facts and equals the live scores. Then the listing lifecycle: notice, listing after the notice period,
objection with its working-day deadline, upheld -> compensating removal; nothing deleted."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import pytest
from credit import lists
from credit.domain.policy import DEFAULT_POLICY
from credit.handlers import Scoring, score_events
from credit.jobs import advance_listings
from credit.models import CreditListing, CreditRecord, CreditRecordChange
from credit.scores import rebuild_and_compare
from credit.synthetic import history
from sqlalchemy import func
from sqlmodel import select

from shared.clock import SystemClock
from shared.context import ServiceContext
from shared.db import Database
from shared.ids import utcnow
from shared.outbox import read_feed
from shared.problems import DomainError
from shared.uow import UnitOfWork


async def test_rebuild_by_replay_equals_the_live_scores_for_ten_thousand_events(db: Database) -> None:
    events = history(10_000, subjects=500, seed=5)
    for start in range(0, len(events), 1000):
        async with UnitOfWork(db, "credit") as uow:
            await score_events(uow, events[start:start + 1000], utcnow())
            await uow.commit()
    async with db.reading() as session:
        report = await rebuild_and_compare(session, DEFAULT_POLICY)
        changes = (await session.execute(select(CreditRecordChange))).scalars().all()
        records = (await session.execute(select(func.count()).select_from(CreditRecord))).scalar_one()
        listings = (await session.execute(select(CreditListing))).scalars().all()
    assert report.facts >= 10_000 and report.subjects == records == 500
    assert report.mismatches == []
    ids = {e.id for e in events}
    assert changes and all(json.loads(c.cause_event_ids)[0] in ids for c in changes)  # every change names its event
    assert {(row.list_kind, row.tier) for row in listings} >= {("black", "general"), ("black", "serious")}
    # tamper with one live score: the rebuild names exactly that subject
    async with UnitOfWork(db, "credit") as uow:
        record = await uow.session.get(CreditRecord, "subject-00007")
        assert record is not None
        record.score += 1
        await uow.commit()
    async with db.reading() as session:
        assert [m["subject_id"] for m in (await rebuild_and_compare(session, DEFAULT_POLICY)).mismatches] == \
            ["subject-00007"]


async def test_notice_listing_objection_upheld_is_a_compensating_removal(db: Database) -> None:
    events = history(1200, subjects=40, seed=9)
    async with UnitOfWork(db, "credit") as uow:
        scoring = Scoring(SystemClock())
        for event in events:
            await scoring.score_event(uow, event, None)
        await uow.commit()
    async with db.reading() as session:
        listing = (await session.execute(select(CreditListing).where(
            CreditListing.list_kind == "black", CreditListing.tier == "general"))).scalars().first()
    assert listing is not None and listing.state == "notified" and json.loads(listing.reasons)
    now = listing.notice_ends_at + timedelta(minutes=1)
    async with UnitOfWork(db, "credit") as uow:
        row = await lists.listing_for(uow, listing.id)
        await lists.list_after_notice(uow, row, now, DEFAULT_POLICY)
        objection = await lists.file_objection(uow, row, "证据不足", now, DEFAULT_POLICY)
        with pytest.raises(DomainError):
            await lists.file_objection(uow, row, "again", now, DEFAULT_POLICY)  # one under review at a time
        await uow.commit()
    assert objection.feedback_due > now + timedelta(days=13)  # ten working days
    async with UnitOfWork(db, "credit") as uow:
        await lists.decide_objection(uow, objection, True, "reviewer-1", "记录有误", now, DEFAULT_POLICY)
        await uow.commit()
    async with db.reading() as session:
        kept = await session.get(CreditListing, listing.id)
        feed, _ = await read_feed(session, 0, 100_000)
    assert kept is not None and (kept.state, kept.end_reason) == ("removed", "objection_upheld")
    types = [e.type for e in feed if e.partitionkey == listing.subject_id]
    for verb in ("listing.notified", "listing.listed", "objection.filed", "objection.decided", "listing.removed"):
        assert f"cn.sizhong.credit.{verb}.v1" in types, verb
    current = [e for e in feed if e.type == "cn.sizhong.credit.listing.current.v1"
               and e.subject == listing.subject_id]
    assert current[-1].data["black"] is None and current[-2].data["black"]["listing_id"] == listing.id


async def test_repair_after_the_minimum_period_and_expiry_by_the_job(db: Database, clock: Any) -> None:
    async with UnitOfWork(db, "credit") as uow:
        await score_events(uow, history(1200, subjects=40, seed=9), utcnow())
        await uow.commit()
    ctx = ServiceContext(db, clock, "credit", None)
    assert await advance_listings(ctx) == 0  # still inside the notice period
    async with db.reading() as session:
        last_notice = (await session.execute(select(func.max(CreditListing.notice_ends_at)))).scalar_one()
    clock.at = last_notice + timedelta(minutes=1)
    listed = await advance_listings(ctx)
    assert listed >= 2 and await advance_listings(ctx) == 0  # a second run finds nothing left
    async with db.reading() as session:
        rows = (await session.execute(select(CreditListing).where(CreditListing.state == "listed",
                                                                  CreditListing.list_kind == "black"))).scalars()
        general, *others = sorted(rows, key=lambda r: r.tier != "general")
    assert general.tier == "general"
    async with UnitOfWork(db, "credit") as uow:
        row = await lists.listing_for(uow, general.id)
        with pytest.raises(DomainError) as early:
            await lists.request_repair(uow, row, "信用承诺书", "已整改", clock.now(), DEFAULT_POLICY)
        assert early.value.status == 409 and "minimum period" in early.value.detail
    clock.at += timedelta(days=91)
    async with UnitOfWork(db, "credit") as uow:
        row = await lists.listing_for(uow, general.id)
        repair = await lists.request_repair(uow, row, "信用承诺书", "已整改", clock.now(), DEFAULT_POLICY)
        await uow.commit()
    assert clock.now() < repair.decide_by <= clock.now() + timedelta(days=7)  # three working days
    async with UnitOfWork(db, "credit") as uow:
        await lists.decide_repair(uow, repair, True, "reviewer-1", "整改到位", clock.now(), DEFAULT_POLICY)
        await uow.commit()
    clock.at += timedelta(days=3 * 365 + 1)  # every window has closed
    expired = await advance_listings(ctx)
    async with db.reading() as session:
        repaired = await session.get(CreditListing, general.id)
        states = {(r.state, r.end_reason) for r in (await session.execute(select(CreditListing))).scalars()}
    assert repaired is not None and (repaired.state, repaired.end_reason) == ("removed", "repaired")
    assert expired >= len(others)
    assert ("listed", None) not in states and ("removed", "expired") in states
