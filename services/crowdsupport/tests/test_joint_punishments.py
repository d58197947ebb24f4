"""Joint punishments (联合奖惩) in crowd-support, from the local listing replica: a black-listed enterprise can
neither apply for nor have a voucher redeemed, a black-listed provider cannot redeem; a removal lifts it."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from credit.contracts import ListingCurrent, ListingSummary
from crowdsupport.handlers import vouchers

from shared.db import Database
from shared.envelope import CloudEvent
from shared.listings import remember_listing
from shared.problems import DomainError
from shared.uow import UnitOfWork

from .test_vouchers_with_database import NOW, PROVIDER, REDEMPTION, a_programme, enterprise, run

AT = datetime(2026, 2, 1, tzinfo=UTC)


async def listing(db: Database, subject: str, sequence: int, *, black: bool) -> None:
    summary = ListingSummary(listing_id=f"l-{subject}-{sequence}", tier="general", rule="voucher_fraud",
                             basis="平台信用管理办法 §5", listed_at=AT, until=AT.replace(year=2027))
    data = ListingCurrent(subject_id=subject, black=summary if black else None, red=None,
                          objection_url=f"/listings/l-{subject}-{sequence}/objections" if black else "",
                          fast_track_review=False, commission_relief_percent=0, policy_version="v")
    event = CloudEvent(id=f"e-{subject}-{sequence}", source="/sizhong/credit", type=data.event_type, time=AT,
                       subject=subject, data=data.model_dump(mode="json"), sequence=sequence, partitionkey=subject,
                       actor="t")
    async with UnitOfWork(db, "crowdsupport") as uow:
        await remember_listing(uow, event, data)
        await uow.commit()


async def refused(command: Any) -> DomainError:
    with pytest.raises(DomainError) as caught:
        await command
    assert caught.value.status == 403 and caught.value.extra["rule"] == "blacklisted"
    return caught.value


async def test_a_blacklisted_enterprise_or_provider_is_refused_and_a_removal_lifts_it(db: Database) -> None:
    programme = await a_programme(db)
    voucher = await run(db, vouchers.apply, enterprise(1), programme.id, 80_000, "testing", NOW)

    await listing(db, "ent-2", 1, black=True)
    error = await refused(run(db, vouchers.apply, enterprise(2), programme.id, 80_000, "testing", NOW))
    assert "applying for an innovation voucher" in error.detail
    assert error.extra["objection"]["path"] == "/listings/l-ent-2-1/objections"

    await listing(db, "ent-1", 2, black=True)  # listed after the voucher was issued: it cannot be redeemed
    await refused(run(db, vouchers.redeem, PROVIDER, voucher.id, REDEMPTION, NOW))
    await listing(db, "ent-1", 3, black=False)
    await listing(db, PROVIDER.subject, 4, black=True)
    await refused(run(db, vouchers.redeem, PROVIDER, voucher.id, REDEMPTION, NOW))
    await listing(db, PROVIDER.subject, 5, black=False)
    redeemed = await run(db, vouchers.redeem, PROVIDER, voucher.id, REDEMPTION, NOW)
    assert redeemed.state == "redeemed"
