"""Credit's `listing.current` events for a crowd service's listing replica, written straight into a service's
database (the way its consumer would), so a service test can black- or red-list a subject without the broker."""

from __future__ import annotations

from collections.abc import Awaitable
from datetime import UTC, datetime
from typing import Any

import pytest
from credit.contracts import ListingCurrent, ListingSummary

from shared.db import Database
from shared.envelope import CloudEvent
from shared.listings import remember_listing
from shared.problems import DomainError
from shared.uow import UnitOfWork

AT = datetime(2026, 2, 1, tzinfo=UTC)


def listing_current(subject: str, sequence: int, *, black: bool = False, red: bool = False,
                    rule: str = "disputes_and_missed_delivery") -> tuple[CloudEvent, ListingCurrent]:
    """Subject `subject`'s current listing as credit publishes it; neither list = a removal. A red listing carries
    the default policy's benefits (fast-track review, half the commission relieved)."""
    def summary(kind: str) -> ListingSummary:
        return ListingSummary(listing_id=f"l-{kind}-{subject}-{sequence}", tier="general", rule=rule,
                              basis="平台信用管理办法 §5", listed_at=AT, until=AT.replace(year=AT.year + 1))

    data = ListingCurrent(subject_id=subject, black=summary("black") if black else None,
                          red=summary("red") if red else None,
                          objection_url=f"/listings/l-black-{subject}-{sequence}/objections" if black else "",
                          fast_track_review=red, commission_relief_percent=50 if red else 0, policy_version="v")
    event = CloudEvent(id=f"e-{subject}-{sequence}", source="/sizhong/credit", type=data.event_type, time=AT,
                       subject=subject, data=data.model_dump(mode="json"), sequence=sequence, partitionkey=subject,
                       actor="service:credit")
    return event, data


async def record_listing(db: Database, service: str, subject: str, sequence: int, *, black: bool = False,
                         red: bool = False, rule: str = "disputes_and_missed_delivery") -> None:
    """Apply the event to `service`'s replica in `db` (a later `sequence` replaces an earlier one)."""
    async with UnitOfWork(db, service) as uow:
        await remember_listing(uow, *listing_current(subject, sequence, black=black, red=red, rule=rule))
        await uow.commit()


async def refused_for_listing(command: Awaitable[Any], action: str, listing_id: str) -> DomainError:
    """`command` is refused as a joint punishment: a 403 naming the action, the listing and how to object."""
    with pytest.raises(DomainError) as caught:
        await command
    error = caught.value
    assert (error.status, error.extra["rule"]) == (403, "blacklisted") and action in error.detail, error.detail
    assert error.extra["listing"]["id"] == listing_id and error.extra["listing"]["tier"] == "general"
    assert error.extra["objection"]["path"] == f"/listings/{listing_id}/objections"
    assert error.extra["objection"]["service"] == "credit" and "10 working days" in error.extra["objection"]["how"]
    return error
