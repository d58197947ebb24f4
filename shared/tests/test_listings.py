"""The crowd services' listing replica and its guards (shared.listings) on a real database (SQLite and PostgreSQL):
a black listing refuses with a body naming the listing and the objection route; a late, older event does not
overwrite a newer one; red-list benefits, relief rounded in the subject's favour; the removal lifts everything."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from credit.contracts import ListingCurrent, ListingSummary

from shared.envelope import CloudEvent
from shared.listings import ensure_not_blacklisted, red_list_benefits, remember_listing
from shared.problems import DomainError
from shared.uow import UnitOfWork

AT = datetime(2026, 5, 1, tzinfo=UTC)


def current(sequence: int, *, black: bool = False, red: bool = False) -> tuple[CloudEvent, ListingCurrent]:
    summary = ListingSummary(listing_id=f"l-{sequence}", tier="general", rule="disputes_and_missed_delivery",
                             basis="平台信用管理办法 §5", listed_at=AT, until=AT.replace(year=2027))
    data = ListingCurrent(subject_id="solver-1", black=summary if black else None, red=summary if red else None,
                          objection_url=f"/listings/l-{sequence}/objections" if black else "",
                          fast_track_review=red, commission_relief_percent=50 if red else 0, policy_version="v")
    event = CloudEvent(id=f"e-{sequence}", source="/sizhong/credit", type=data.event_type, time=AT, subject="solver-1",
                       data=data.model_dump(mode="json"), sequence=sequence, partitionkey="solver-1", actor="t")
    return event, data


async def apply(db: Any, sequence: int, **kwargs: bool) -> None:
    async with UnitOfWork(db, "crowdfunding") as uow:
        await remember_listing(uow, *current(sequence, **kwargs))
        await uow.commit()


async def test_black_listing_refuses_naming_it_and_a_late_older_event_changes_nothing(money_db: Any) -> None:
    async with money_db.reading() as session:
        await ensure_not_blacklisted(session, "solver-1", "bidding")  # unknown subject: allowed
    await apply(money_db, 5, black=True)
    await apply(money_db, 3)  # an older "not listed", backfilled late
    async with money_db.reading() as session:
        with pytest.raises(DomainError) as refused:
            await ensure_not_blacklisted(session, "solver-1", "bidding")
        assert (await red_list_benefits(session, "solver-1")).red_listed is False
    assert refused.value.status == 403 and "bidding" in refused.value.detail
    assert refused.value.extra["listing"]["id"] == "l-5" and refused.value.extra["listing"]["tier"] == "general"
    assert refused.value.extra["objection"]["path"] == "/listings/l-5/objections"
    await apply(money_db, 7, red=True)
    async with money_db.reading() as session:
        await ensure_not_blacklisted(session, "solver-1", "bidding")
        benefits = await red_list_benefits(session, "solver-1")
    assert benefits.fast_track_review and benefits.commission_relief_percent == 50
    assert benefits.relieved(101) == 50  # half of 101 fen relieved, the odd fen not charged
    await apply(money_db, 8)
    async with money_db.reading() as session:
        assert (await red_list_benefits(session, "solver-1")).red_listed is False
