"""A person's credit record from the gateway's identity events (SQLite and PostgreSQL): opened at sign-up under the
name the person chose, given the masked resident identity number at real-name verification, whatever arrives
first; the public list shows the name masked and the number masked, and only published tiers inside their
publication window."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from credit import lists
from credit.api_lists import public_list
from credit.consumers import credit_subscriptions
from credit.domain.policy import DEFAULT_POLICY
from credit.models import CreditListing, CreditRecord
from crowdsupport.contracts import VoucherVoided
from gateway.contracts import PersonRegistered, PersonVerified
from makerspace.contracts import NoShowRecorded
from sqlmodel import select

from shared.clock import SystemClock
from shared.consumer import EventApplier
from shared.db import Database
from shared.envelope import CloudEvent, EventData
from shared.masking import mask_person_name
from shared.uow import UnitOfWork

SIGNED_UP = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


def envelope(data: EventData, source: str, sequence: int, at: datetime) -> CloudEvent:
    return CloudEvent(id=f"{source}-{sequence}", source=f"/sizhong/{source}", type=data.event_type, time=at,
                      subject="s", data=data.model_dump(mode="json"), sequence=sequence, partitionkey="k",
                      actor="test")


def test_a_persons_name_is_masked_after_its_first_character() -> None:
    assert [mask_person_name(n) for n in ("张三", "张三丰", "欧阳娜娜", "Alice", "王", "")] == \
        ["张*", "张*丰", "欧**娜", "A***e", "*", ""]


async def test_identity_events_fill_the_record_whatever_arrives_first(db: Database) -> None:
    applier = EventApplier(db, "credit", "credit", credit_subscriptions(SystemClock()))
    fraud = VoucherVoided(voucher_id="v-1", programme_id="p", agency_id="a", enterprise_id="e", provider_id="p-1",
                          reason="fraud", fraud=True, fraud_by=["person-1"], clawed_back_fen=0, currency="CNY")
    registered = PersonRegistered(person_id="person-1", username="wangwu", roles=["provider"], display_name="王五一")
    verified = PersonVerified(person_id="person-1", display_name="王五一", resident_id_masked="110105********002X",
                              verified_at=SIGNED_UP + timedelta(hours=1), level="sandbox:id_and_name")
    # the fact first (crowd-support's feed ahead of the gateway's), then the registration and the verification
    assert all(await applier.apply_batch([envelope(fraud, "crowdsupport", 1, SIGNED_UP + timedelta(days=30))]))
    assert all(await applier.apply_batch([envelope(registered, "gateway", 1, SIGNED_UP),
                                          envelope(verified, "gateway", 2, SIGNED_UP + timedelta(hours=1))]))
    async with db.reading() as session:
        record = await session.get(CreditRecord, "person-1")
        listing = (await session.execute(select(CreditListing))).scalars().one()
    assert record is not None
    assert (record.subject_kind, record.owner_id, record.name) == ("person", "person-1", "王五一")
    assert record.registration_number_masked == "110105********002X"
    assert record.opened_at == SIGNED_UP  # the registration's time, though the fact opened the record
    assert record.score == DEFAULT_POLICY.opening_score - 300  # the fraud counted once
    assert (listing.list_kind, listing.tier) == ("black", "serious")

    now = listing.notice_ends_at + timedelta(minutes=1)
    async with UnitOfWork(db, "credit") as uow:
        await lists.list_after_notice(uow, await lists.listing_for(uow, listing.id), now, DEFAULT_POLICY)
        await uow.commit()
    async with db.reading() as session:
        public = await public_list("black", session, now, limit=50, offset=0)
    assert [(e.subject_id, e.name, e.registration_number) for e in public] == \
        [("person-1", "王*一", "110105********002X")]


async def test_a_registration_and_a_fact_in_one_consumer_batch_in_either_order(db: Database) -> None:
    applier = EventApplier(db, "credit", "credit", credit_subscriptions(SystemClock()))
    later = SIGNED_UP + timedelta(days=3)

    def no_show(person: str) -> EventData:
        return NoShowRecorded(booking_id=f"b-{person}", resource_id="r", space_id="s", member_id=person, start=later,
                              end=later, state="no_show", policy_version="p", penalty_points=1)

    batch = [envelope(PersonRegistered(person_id="p-a", username="a", roles=[], display_name="甲"), "gateway", 1,
                      SIGNED_UP),
             envelope(no_show("p-a"), "makerspace", 1, later), envelope(no_show("p-b"), "makerspace", 2, later),
             envelope(PersonRegistered(person_id="p-b", username="b", roles=[], display_name="乙"), "gateway", 2,
                      SIGNED_UP)]
    assert await applier.apply_batch(batch) == [True] * 4  # one transaction (a fetch mixing the topics)
    async with db.reading() as session:
        rows = {s: await session.get(CreditRecord, s) for s in ("p-a", "p-b")}
    for subject, name in (("p-a", "甲"), ("p-b", "乙")):
        row = rows[subject]
        assert row is not None and (row.name, row.opened_at, row.as_of) == (name, SIGNED_UP, later), row
        assert row.score == DEFAULT_POLICY.opening_score - 15  # the no-show, counted once


async def test_a_person_signed_up_has_a_record_at_the_opening_score(db: Database) -> None:
    applier = EventApplier(db, "credit", "credit", credit_subscriptions(SystemClock()))
    registered = PersonRegistered(person_id="person-2", username="zl", roles=["solver"], display_name="赵六")
    assert await applier.apply(envelope(registered, "gateway", 1, SIGNED_UP))
    async with db.reading() as session:
        record = await session.get(CreditRecord, "person-2")
    assert record is not None and record.score == DEFAULT_POLICY.opening_score
    assert (record.name, record.registration_number_masked, record.opened_at) == ("赵六", "", SIGNED_UP)


async def test_the_public_list_shows_published_tiers_inside_their_window_only(db: Database) -> None:
    applier = EventApplier(db, "credit", "credit", credit_subscriptions(SystemClock()))
    shows = [NoShowRecorded(booking_id=f"b-3-{n}", resource_id="r", space_id="s", member_id="person-3",
                            start=SIGNED_UP, end=SIGNED_UP, state="no_show", policy_version="p", penalty_points=1)
             for n in range(3)]  # three no-shows: a minor black listing, never published
    fraud = VoucherVoided(voucher_id="v-4", programme_id="p", agency_id="a", enterprise_id="e", provider_id="p-4",
                          reason="fraud", fraud=True, fraud_by=["person-4"], clawed_back_fen=0, currency="CNY")
    batch = [*(envelope(s, "makerspace", n + 1, SIGNED_UP + timedelta(days=n)) for n, s in enumerate(shows)),
             envelope(fraud, "crowdsupport", 1, SIGNED_UP)]
    assert all(await applier.apply_batch(batch))
    async with db.reading() as session:
        notified = (await session.execute(select(CreditListing))).scalars().all()
    assert sorted((row.subject_id, row.tier) for row in notified) == [("person-3", "minor"), ("person-4", "serious")]
    now = max(row.notice_ends_at for row in notified) + timedelta(minutes=1)
    async with UnitOfWork(db, "credit") as uow:
        for row in notified:
            await lists.list_after_notice(uow, await lists.listing_for(uow, row.id), now, DEFAULT_POLICY)
        await uow.commit()
    async with db.reading() as session:
        serious = (await session.execute(select(CreditListing).where(CreditListing.tier == "serious"))).scalar_one()
        assert serious.publish_until is not None
        shown = [e.subject_id for e in await public_list("black", session, now, limit=50, offset=0)]
        before = await public_list("black", session, now - timedelta(seconds=1), limit=50, offset=0)
        after = await public_list("black", session, serious.publish_until, limit=50, offset=0)
    assert shown == ["person-4"]  # the minor entry is listed, but not published
    assert before == [] and after == []  # outside the window, even while the entry is still listed
