"""Joint punishments (联合奖惩) in crowd-support, from the local listing replica: a black-listed enterprise can
neither apply for nor have a voucher redeemed, a black-listed provider cannot redeem, a black-listed subject
books neither an instrument nor a mentor; each refusal names the listing and how to object; a removal lifts it."""

from __future__ import annotations

import pytest
from credit.domain.policy import DEFAULT_POLICY
from crowdsupport.handlers import instruments, mentors, vouchers

from shared import listings as shared_listings
from shared.auth import Principal
from shared.db import Database
from shared.problems import DomainError
from tests.support.listings import record_listing
from tests.support.listings import refused_for_listing as refused

from .test_services_with_database import INSTRUMENT, MENTOR, OWNER, WEEK, hours
from .test_vouchers_with_database import NOW, PROVIDER, REDEMPTION, a_programme, enterprise, run


async def listing(db: Database, subject: str, sequence: int, *, black: bool) -> str:
    await record_listing(db, "crowdsupport", subject, sequence, black=black, rule="fraud")
    return f"l-black-{subject}-{sequence}"


async def test_a_blacklisted_enterprise_or_provider_is_refused_and_a_removal_lifts_it(db: Database) -> None:
    programme = await a_programme(db)
    voucher = await run(db, vouchers.apply, enterprise(1), programme.id, 80_000, "testing", NOW)

    listed = await listing(db, "ent-2", 1, black=True)
    await refused(run(db, vouchers.apply, enterprise(2), programme.id, 80_000, "testing", NOW),
                  "applying for an innovation voucher", listed)

    listed = await listing(db, "ent-1", 2, black=True)  # listed after the voucher was issued: it cannot be redeemed
    await refused(run(db, vouchers.redeem, PROVIDER, voucher.id, REDEMPTION, NOW), "redeeming", listed)
    await listing(db, "ent-1", 3, black=False)
    listed = await listing(db, PROVIDER.subject, 4, black=True)
    await refused(run(db, vouchers.redeem, PROVIDER, voucher.id, REDEMPTION, NOW), "redeeming", listed)
    await listing(db, PROVIDER.subject, 5, black=False)
    redeemed = await run(db, vouchers.redeem, PROVIDER, voucher.id, REDEMPTION, NOW)
    assert redeemed.state == "redeemed"


async def test_a_blacklisted_subject_books_neither_an_instrument_nor_a_mentor_until_removed(db: Database) -> None:
    instrument = await run(db, instruments.list_instrument, OWNER, INSTRUMENT, NOW)
    await run(db, mentors.save_profile, MENTOR, mentors.MentorInput(
        name="Ms Li", bio="", skills=["fintech"], availability=WEEK, timezone="Asia/Shanghai"), NOW)
    booker = Principal(subject="founder-9", roles=frozenset({"founder"}))
    listed = await listing(db, booker.subject, 1, black=True)
    await refused(run(db, instruments.book, booker, instrument.id, hours(2), NOW), "booking", listed)
    await refused(run(db, mentors.book_session, booker, MENTOR.subject, "pitch", hours(2, 1), NOW), "booking", listed)

    await listing(db, booker.subject, 2, black=False)
    assert (await run(db, instruments.book, booker, instrument.id, hours(2), NOW)).state == "confirmed"
    session = await run(db, mentors.book_session, booker, MENTOR.subject, "pitch", hours(2, 1), NOW)
    assert session.startup_id == booker.subject


async def test_the_refusal_gives_credits_own_objection_deadline(db: Database, monkeypatch: pytest.MonkeyPatch) -> None:
    """The number in "how to object" is the one credit's policy works to, read where it is kept, not written out."""
    programme = await a_programme(db)
    listed = await listing(db, "ent-2", 1, black=True)
    error = await refused(run(db, vouchers.apply, enterprise(2), programme.id, 80_000, "testing", NOW),
                          "applying for an innovation voucher", listed)
    assert DEFAULT_POLICY.objection_working_days == shared_listings.OBJECTION_FEEDBACK_WORKING_DAYS
    assert error.extra["objection"]["how"] == ("file an objection (异议) with your grounds; feedback within "
                                               f"{DEFAULT_POLICY.objection_working_days} working days")
    monkeypatch.setattr(shared_listings, "OBJECTION_FEEDBACK_WORKING_DAYS", 7)  # were the policy to say 7
    with pytest.raises(DomainError) as caught:
        await run(db, vouchers.apply, enterprise(2), programme.id, 80_000, "testing", NOW)
    assert caught.value.extra["objection"]["how"].endswith("feedback within 7 working days")
