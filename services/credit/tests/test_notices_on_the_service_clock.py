"""Notices are dated by the service's clock, and their working-day deadlines follow it across a national holiday.

The events go through credit's own consumer path (EventApplier with credit's subscriptions, on SQLite and
PostgreSQL); the clock is a controllable one standing on the eve of the 2026 National Day week (国庆节, 1-7 October,
with Saturday 10 October a make-up working day), while the wall clock is somewhere else entirely.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from credit import lists
from credit.consumers import credit_subscriptions
from credit.contracts import ListingNotified
from credit.domain.policy import DEFAULT_POLICY
from credit.jobs import advance_listings
from credit.models import CreditListing
from crowdsourcing import contracts as cs
from sqlmodel import select

from shared.consumer import EventApplier
from shared.context import ServiceContext
from shared.db import Database
from shared.envelope import CloudEvent, EventData
from shared.outbox import read_feed
from shared.uow import UnitOfWork

SHANGHAI = ZoneInfo("Asia/Shanghai")


def shanghai(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=SHANGHAI)


def end_of_day(day: str) -> datetime:
    return shanghai(f"{day}T23:59:59.999999").astimezone(UTC)


def crowdsourcing_events(solver: str, month: str = "2026-09") -> list[CloudEvent]:
    """Two disputes the solver lost and a missed delivery, from the 14th of `month` (September 2026 by default):
    the general black-list rule."""
    def dispute(n: int) -> EventData:
        return cs.DisputeResolved(dispute_id=f"d-{n}", task_id=f"t-{n}", milestone_id="m", poster_id=f"p-{n}",
                                  solver_id=solver, stage="resolved", resolved_by="mediator-1",
                                  solver_share_percent=20, solver_gross_fen=0, solver_net_fen=0, commission_fen=0,
                                  poster_fen=0, lost_by="solver", policy_version="p")

    data = [dispute(1), dispute(2), cs.AbandonmentWarned(task_id="t-3", milestone_id="m", solver_id=solver,
                                                         due_at=shanghai(f"{month}-18T18:00"))]
    return [CloudEvent(id=f"ev-{solver}-{n}", source="/sizhong/crowdsourcing", type=item.event_type,
                       time=shanghai(f"{month}-{14 + n}T10:00"), subject=f"t-{n}", data=item.model_dump(mode="json"),
                       sequence=n + 1, partitionkey=solver, actor="test") for n, item in enumerate(data)]


async def test_notice_and_objection_deadlines_count_working_days_on_the_service_clock(db: Database,
                                                                                   clock: Any) -> None:
    clock.at = shanghai("2026-09-29T10:00")  # a Tuesday; the holiday starts on Thursday
    applier = EventApplier(db, "credit", "credit", credit_subscriptions(clock))
    assert all(await applier.apply_batch(crowdsourcing_events("solver-1")))
    async with db.reading() as session:
        listing = (await session.execute(select(CreditListing))).scalars().one()
        feed, _ = await read_feed(session, 0, 100)
    assert (listing.list_kind, listing.tier, listing.state) == ("black", "general", "notified")
    assert listing.notified_at == clock.at  # the service's clock, not the wall clock
    # five working days after Tuesday 29 September: Wed 30 Sep, Thu 8 Oct, Fri 9 Oct, Sat 10 Oct (调休), Mon 12 Oct
    assert listing.notice_ends_at == end_of_day("2026-10-12")
    notices = [ListingNotified.model_validate(e.data) for e in feed if e.type == ListingNotified.event_type]
    assert [n.notice_ends_at for n in notices] == [listing.notice_ends_at]

    clock.at = shanghai("2026-09-30T09:00")  # the subject objects before the holiday
    async with UnitOfWork(db, "credit") as uow:
        row = await lists.listing_for(uow, listing.id)
        objection = await lists.file_objection(uow, row, "第二次争议系对方违约", clock.now(), DEFAULT_POLICY)
        await uow.commit()
    # ten working days after Wednesday 30 September: 8, 9, 10 (调休), 12, 13, 14, 15, 16, 19 and 20 October
    assert objection.filed_at == clock.at and objection.feedback_due == end_of_day("2026-10-20")
    async with UnitOfWork(db, "credit") as uow:
        await lists.decide_objection(uow, objection, False, "reviewer-1", "证据不足", clock.now(), DEFAULT_POLICY)
        await uow.commit()

    ctx = ServiceContext(db, clock, "credit", None)
    for moment in ("2026-10-04T12:00", "2026-10-09T12:00", "2026-10-12T23:00"):  # five days, and more, have
        clock.at = shanghai(moment)                                              # passed; not five working days
        assert await advance_listings(ctx) == 0, moment
    clock.at = shanghai("2026-10-13T00:00:01")
    assert await advance_listings(ctx) == 1
    async with db.reading() as session:
        listed = await session.get(CreditListing, listing.id)
    assert listed is not None and listed.state == "listed" and listed.listed_at == clock.at
    assert listed.publish_until == clock.at + timedelta(days=DEFAULT_POLICY.tiers["general"].publication_days)
