"""The outbox's sequence and the inbox's duplicate handling, on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

import pytest
from sqlalchemy import text

from shared.api_keys import with_api_keys
from shared.consumer import EventApplier, Subscription, Subscriptions
from shared.envelope import CloudEvent, EventData
from shared.inbox import progress_of
from shared.outbox import read_feed
from shared.uow import UnitOfWork


class ThingHappened(EventData):
    event_type = "cn.sizhong.test.thing.happened.v1"
    number: int


async def test_concurrent_commands_get_gapless_increasing_sequences(migrated_db: Any) -> None:
    async def command(number: int) -> None:
        async with UnitOfWork(migrated_db, "gateway") as uow:
            for part in range(number % 3 + 1):
                uow.publish(ThingHappened(number=number * 10 + part), subject=f"s{number}", actor="test")
            if number % 5 == 0:
                return  # leaves without commit: rolled back, must leave no hole
            await uow.commit()

    await asyncio.gather(*(command(n) for n in range(1, 41)))
    async with migrated_db.reading() as session:
        events, head = await read_feed(session, after=0, limit=1000)
    committed = [n for n in range(1, 41) if n % 5 != 0]
    expected_count = sum(n % 3 + 1 for n in committed)
    assert [e.sequence for e in events] == list(range(1, expected_count + 1))
    assert head == expected_count
    assert len({e.id for e in events}) == expected_count
    numbers = {e.data["number"] // 10 for e in events}
    assert numbers == set(committed)


async def test_unit_of_work_rolls_back_state_and_events_unless_committed(migrated_db: Any) -> None:
    with pytest.raises(RuntimeError):
        async with UnitOfWork(migrated_db, "gateway") as uow:
            uow.publish(ThingHappened(number=1), subject="s", actor="test")
            await uow.session.execute(text("INSERT INTO outbox_sequence (source, last_sequence) VALUES ('x', 5)"))
            raise RuntimeError("handler failed")
    async with migrated_db.reading() as session:
        events, head = await read_feed(session, 0, 10)
        counters = (await session.execute(text("SELECT COUNT(*) FROM outbox_sequence"))).scalar_one()
    assert (events, head, counters) == ([], 0, 0)


async def test_feed_pages_in_sequence_order(migrated_db: Any) -> None:
    for number in range(7):
        async with UnitOfWork(migrated_db, "gateway") as uow:
            uow.publish(ThingHappened(number=number), subject="s", actor="test")
            await uow.commit()
    async with migrated_db.reading() as session:
        first, head = await read_feed(session, 0, 3)
        second, _ = await read_feed(session, first[-1].sequence, 3)
        third, _ = await read_feed(session, second[-1].sequence, 3)
    assert [e.data["number"] for e in first + second + third] == list(range(7))
    assert head == 7


def _event(sequence: int, event_id: str | None = None) -> CloudEvent:
    return CloudEvent.model_validate({
        "id": event_id or f"evt-{sequence}", "source": "/sizhong/gateway", "type": ThingHappened.event_type,
        "time": "2026-11-21T10:00:00Z", "subject": "s", "data": {"number": sequence}, "sequence": sequence,
        "partitionkey": "s", "actor": "test",
    })


async def test_duplicate_delivery_is_applied_once_and_gaps_are_tracked(migrated_db: Any) -> None:
    applied: list[int] = []

    async def handler(_uow: UnitOfWork, _event: CloudEvent, data: ThingHappened) -> None:
        applied.append(data.number)

    applier = EventApplier(migrated_db, "credit", "credit", Subscriptions(
        sources=("gateway",), handlers=(Subscription(ThingHappened, handler),)))
    assert await applier.apply(_event(1)) is True
    assert await applier.apply(_event(1)) is False
    assert await applier.apply(_event(3)) is True  # 2 is missing: a gap
    async with migrated_db.reading() as session:
        progress = (await progress_of(session, "credit"))["/sizhong/gateway"]
    assert (progress.contiguous_through, progress.highest_seen) == (1, 3)
    assert await applier.apply(_event(2)) is True  # the gap closes, the mark walks over 3
    async with migrated_db.reading() as session:
        progress = (await progress_of(session, "credit"))["/sizhong/gateway"]
    assert (progress.contiguous_through, progress.highest_seen) == (3, 3)
    assert applied == [1, 3, 2]
    assert applier.duplicates_skipped == 1


async def test_a_failing_handler_leaves_nothing_behind(migrated_db: Any) -> None:
    async def handler(uow: UnitOfWork, _event: CloudEvent, data: ThingHappened) -> None:
        uow.publish(ThingHappened(number=data.number), subject="s", actor="test")
        raise ValueError("poison")

    applier = EventApplier(migrated_db, "credit", "credit", Subscriptions(
        sources=("gateway",), handlers=(Subscription(ThingHappened, handler),)))
    with pytest.raises(ValueError, match="poison"):
        await applier.apply(_event(1))
    await applier.mark_dead_lettered(_event(1))
    async with migrated_db.reading() as session:
        outcome = (await session.execute(text("SELECT outcome FROM inbox"))).scalars().all()
        events, _ = await read_feed(session, 0, 10)
    assert outcome == ["dead_lettered"]
    assert events == []
    assert await applier.apply(_event(1)) is False  # a dead-lettered event counts as handled


async def test_an_empty_batch_is_applied_as_nothing(migrated_db: Any) -> None:
    """A reconcile that finds a source's feed up to date gets an empty page: applying it must not fail (it
    used to send an INSERT of no rows, a syntax error, so every up-to-date reconcile was 'postponed')."""
    async def handler(_uow: UnitOfWork, _event: CloudEvent, _data: ThingHappened) -> None:
        raise AssertionError("nothing to handle")

    applier = EventApplier(migrated_db, "credit", "credit", Subscriptions(
        sources=("gateway",), handlers=(Subscription(ThingHappened, handler),)))
    assert await applier.apply_batch([]) == []
    assert applier.duplicates_skipped == 0


async def test_timestamps_come_back_timezone_aware_utc_on_every_backend(migrated_db: Any) -> None:
    from datetime import UTC

    from sqlmodel import select

    from shared.outbox import OutboxRecord

    async with UnitOfWork(migrated_db, "gateway") as uow:
        uow.publish(ThingHappened(number=1), subject="s", actor="test")
        await uow.commit()
    async with migrated_db.reading() as session:
        row = (await session.execute(select(OutboxRecord))).scalars().one()
    assert row.created_at.tzinfo is not None
    assert row.created_at.utcoffset() == UTC.utcoffset(None)


async def test_two_replicas_applying_side_by_side_keep_the_completeness_mark_moving(migrated_db: Any) -> None:
    """Two appliers (as two replicas would be) racing over one source: the mark reaches the end."""
    async def handler(_uow: UnitOfWork, _event: CloudEvent, data: ThingHappened) -> None:
        await asyncio.sleep(0.002 * (data.number % 3))  # hold transactions open so they overlap

    subscriptions = Subscriptions(sources=("gateway",), handlers=(Subscription(ThingHappened, handler),))
    first = EventApplier(migrated_db, "credit", "credit", subscriptions)
    second = EventApplier(migrated_db, "credit", "credit", subscriptions)
    events = [_event(n) for n in range(1, 41)]
    results = await asyncio.gather(*(first.apply(e) for e in events[0::2]), *(second.apply(e) for e in events[1::2]),
                                   *(second.apply(e) for e in events[0::4]))
    assert sum(results) == 40  # each applied once, the repeats skipped
    async with migrated_db.reading() as session:
        progress = (await progress_of(session, "credit"))["/sizhong/gateway"]
        inbox = (await session.execute(text("SELECT COUNT(*) FROM inbox"))).scalar_one()
    assert (progress.contiguous_through, progress.highest_seen, inbox) == (40, 40, 40)


async def test_a_batch_is_applied_in_order_once_with_repeats_skipped(migrated_db: Any) -> None:
    applied: list[int] = []

    async def handler(_uow: UnitOfWork, _event: CloudEvent, data: ThingHappened) -> None:
        applied.append(data.number)

    applier = EventApplier(migrated_db, "credit", "credit", Subscriptions(
        sources=("gateway",), handlers=(Subscription(ThingHappened, handler),)))
    assert await applier.apply(_event(2)) is True
    results = await applier.apply_batch([_event(1), _event(2), _event(3), _event(1), _event(5)])
    assert results == [True, False, True, False, True]
    assert applied == [2, 1, 3, 5]
    assert applier.duplicates_skipped == 2
    async with migrated_db.reading() as session:
        progress = (await progress_of(session, "credit"))["/sizhong/gateway"]
    assert (progress.contiguous_through, progress.highest_seen) == (3, 5)


async def test_a_failing_event_rolls_back_its_whole_batch(migrated_db: Any) -> None:
    async def handler(uow: UnitOfWork, _event: CloudEvent, data: ThingHappened) -> None:
        uow.publish(ThingHappened(number=data.number), subject="s", actor="test")
        if data.number == 3:
            raise ValueError("poison")

    applier = EventApplier(migrated_db, "credit", "credit", Subscriptions(
        sources=("gateway",), handlers=(Subscription(ThingHappened, handler),)))
    with pytest.raises(ValueError, match="poison"):
        await applier.apply_batch([_event(1), _event(2), _event(3)])
    async with migrated_db.reading() as session:
        inbox = (await session.execute(text("SELECT COUNT(*) FROM inbox"))).scalar_one()
        events, _ = await read_feed(session, 0, 10)
    assert (inbox, events) == (0, [])
    assert [await applier.apply(_event(n)) for n in (1, 2)] == [True, True]  # one by one, the good ones pass


async def test_a_batch_is_prepared_once_and_deferred_writes_land_in_its_transaction(migrated_db: Any) -> None:
    """`before_batch` sees the batch's fresh events once, before any handler; a `before_commit` hook writes
    inside the same transaction (its events are in the outbox), and nothing of it survives a rollback."""
    calls: list[tuple[str, list[int]]] = []

    async def prepare(uow: UnitOfWork, events: Sequence[CloudEvent]) -> None:
        numbers = [int(e.data["number"]) for e in events]
        calls.append(("prepare", numbers))

        async def write_once() -> None:  # what a handler gathered over the batch, written once at commit
            uow.publish(ThingHappened(number=sum(numbers)), subject="sum", actor="test")
            if 13 in numbers:
                raise ValueError("poison at commit")

        uow.before_commit(write_once)

    async def handler(_uow: UnitOfWork, _event: CloudEvent, data: ThingHappened) -> None:
        calls.append(("handle", [data.number]))

    subscriptions = with_api_keys(Subscriptions(sources=("gateway",), handlers=(Subscription(ThingHappened, handler),),
                                                before_batch=prepare))  # composing keeps the hook
    applier = EventApplier(migrated_db, "credit", "credit", subscriptions)
    assert await applier.apply(_event(1))
    assert await applier.apply_batch([_event(1), _event(2), _event(3)]) == [False, True, True]
    assert calls == [("prepare", [1]), ("handle", [1]), ("prepare", [2, 3]), ("handle", [2]), ("handle", [3])]
    with pytest.raises(ValueError, match="poison at commit"):
        await applier.apply_batch([_event(4), _event(13)])
    async with migrated_db.reading() as session:
        events, _ = await read_feed(session, 0, 10)
        progress = (await progress_of(session, "credit"))["/sizhong/gateway"]
    assert [e.data["number"] for e in events] == [1, 5]  # one row per committed batch; the failed one left none
    assert (progress.contiguous_through, progress.highest_seen) == (3, 3)


async def test_the_composed_envelope_is_the_one_the_model_would_write(migrated_db: Any) -> None:
    """The outbox writes each envelope's JSON directly (once, for the table and the broker alike); it must
    parse back to exactly what building the CloudEvent model would have produced, odd characters included."""
    from shared.tracing import current_traceparent, trace_id_of

    subject, actor = 'org "引号" \\ back\nslash', "actor-\u00e9"
    token = current_traceparent.set("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01")
    try:
        async with UnitOfWork(migrated_db, "gateway") as uow:
            uow.publish(ThingHappened(number=7), subject=subject, actor=actor, partition_key="key-1")
            uow.publish(ThingHappened(number=8), subject="s2", actor=actor)
            await uow.commit()
    finally:
        current_traceparent.reset(token)
    async with migrated_db.reading() as session:
        events, _ = await read_feed(session, 0, 10)
    assert events == uow.published
    first, second = events
    rebuilt = CloudEvent(id=first.id, source="/sizhong/gateway", type=ThingHappened.event_type, time=first.time,
                         subject=subject, data=ThingHappened(number=7).model_dump(mode="json"), sequence=1,
                         partitionkey="key-1", actor=actor, traceparent=first.traceparent)
    assert first == rebuilt and first.time.utcoffset() is not None
    assert (second.subject, second.partitionkey, second.sequence, second.data) == ("s2", "s2", 2, {"number": 8})
    # each event is a new span of the publishing request's trace; ids are UUIDs that sort by creation
    assert {trace_id_of(e.traceparent) for e in events} == {"4bf92f3577b34da6a3ce929d0e0e4736"}
    assert len({e.traceparent for e in events}) == 2
    assert first.id < second.id and all(len(e.id) == 36 for e in events)


async def test_an_event_without_subject_or_with_an_overlong_actor_is_refused_when_published(
        migrated_db: Any) -> None:
    async with UnitOfWork(migrated_db, "gateway") as uow:
        with pytest.raises(ValueError, match="subject"):
            uow.publish(ThingHappened(number=1), subject="", actor="test")
        with pytest.raises(ValueError, match="actor"):
            uow.publish(ThingHappened(number=1), subject="s", actor="a" * 201)
