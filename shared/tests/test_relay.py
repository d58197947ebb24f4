"""The relay against a real Tansu broker: order, acknowledgement before marking, nothing re-sent after."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from aiokafka import AIOKafkaConsumer
from sqlalchemy import text

from shared.envelope import CloudEvent, EventData
from shared.launcher import Broker, free_port
from shared.relay import OutboxRelay
from shared.uow import UnitOfWork


class Counted(EventData):
    event_type = "cn.sizhong.test.item.counted.v1"
    n: int


def relay_for(db: Any, broker: Broker, topic: str) -> OutboxRelay:
    return OutboxRelay(db, bootstrap=broker.bootstrap, topic=topic, topics_to_ensure=[topic], partitions=1,
                       replication=1, poll_seconds=0.05)


async def test_rows_are_published_in_order_marked_sent_and_not_sent_again(migrated_db: Any, broker: Broker) -> None:
    topic = f"sizhong.gateway.events.relaytest{free_port()}"
    relay = relay_for(migrated_db, broker, topic)
    relay.start()
    for n in range(30):
        async with UnitOfWork(migrated_db, "gateway", relay.wake) as uow:
            uow.publish(Counted(n=n), subject="same-key", actor="test")
            await uow.commit()

    await wait_until_all_marked(migrated_db)
    await relay.stop()
    second = relay_for(migrated_db, broker, topic)
    assert await second.publish_once() == 0  # a restarted relay finds nothing left to send
    await second.stop()
    assert [n for _, _, n in await read_topic(broker, topic, 30)] == list(range(30))


class Routed(EventData):
    event_type = "cn.sizhong.test.order.issued.v1"
    n: int


async def test_a_routed_event_type_goes_to_its_own_topic_and_the_rest_to_the_service_topic(
        migrated_db: Any, broker: Broker) -> None:
    suffix = free_port()
    own, routed = f"sizhong.audit.events.t{suffix}", f"sizhong.supervision.orders.t{suffix}"
    relay = OutboxRelay(migrated_db, bootstrap=broker.bootstrap, topic=own, topics_to_ensure=[own], partitions=1,
                        replication=1, topic_for_type={Routed.event_type: routed})
    async with UnitOfWork(migrated_db, "audit") as uow:
        uow.publish(Counted(n=1), subject="s", actor="test")
        uow.publish(Routed(n=2), subject="s", actor="test")
        uow.publish(Counted(n=3), subject="s", actor="test")
        await uow.commit()
    await relay._connect()  # creates both topics, as at start-up
    assert await relay.publish_once() == 3
    await relay.stop()

    assert [(t, n) for _, t, n in await read_topic(broker, own, 2)] == [(Counted.event_type, 1),
                                                                       (Counted.event_type, 3)]
    assert [(t, n) for _, t, n in await read_topic(broker, routed, 1)] == [(Routed.event_type, 2)]


async def test_an_event_type_published_also_to_a_further_topic_keeps_its_place_on_the_own_topic(
        migrated_db: Any, broker: Broker) -> None:
    """Credit's listing.current: on the service topic (no gap in its sequence) and, same key, on a compacted one."""
    suffix = free_port()
    own, further = f"sizhong.credit.events.t{suffix}", f"sizhong.credit.listings.t{suffix}"
    relay = OutboxRelay(migrated_db, bootstrap=broker.bootstrap, topic=own, topics_to_ensure=[own], partitions=1,
                        replication=1, also_to={Routed.event_type: further})
    async with UnitOfWork(migrated_db, "credit") as uow:
        uow.publish(Counted(n=1), subject="s", actor="test")
        uow.publish(Routed(n=2), subject="subject-7", actor="test")
        await uow.commit()
    await relay._connect()
    assert await relay.publish_once() == 2
    await relay.stop()

    assert [n for _, _, n in await read_topic(broker, own, 2)] == [1, 2]
    assert [(key, n) for key, _, n in await read_topic(broker, further, 1)] == [(b"subject-7", 2)]


async def read_topic(broker: Broker, topic: str, expected: int) -> list[tuple[bytes | None, str, int]]:
    """(key, type, n) of the events on `topic`, from the beginning, once `expected` have arrived (or ~5 s)."""
    consumer = AIOKafkaConsumer(topic, bootstrap_servers=broker.bootstrap, auto_offset_reset="earliest",
                                group_id=f"g{free_port()}", enable_auto_commit=False)
    await consumer.start()
    try:
        got: list[tuple[bytes | None, str, int]] = []
        for _ in range(10):
            for records in (await consumer.getmany(timeout_ms=500)).values():
                for record in records:
                    event = CloudEvent.from_json_bytes(record.value or b"")
                    got.append((record.key, event.type, event.data["n"]))
            if len(got) >= expected:
                break
        return got
    finally:
        await consumer.stop()


def test_a_subscription_reads_a_source_from_its_routed_topic() -> None:
    from shared.consumer import Subscriptions

    subscriptions = Subscriptions(sources=("gateway", "audit"), topic_overrides={"audit": "sizhong.supervision.orders"})
    assert subscriptions.topics == ["sizhong.gateway.events", "sizhong.supervision.orders"]
    # a backfilled event that keeps failing is dead-lettered beside the topic it would have come from
    assert subscriptions.topic_of("audit") == "sizhong.supervision.orders"
    assert subscriptions.topic_of("gateway") == "sizhong.gateway.events"


async def test_rows_handed_over_in_memory_and_rows_only_in_the_table_go_out_once_in_order(
        migrated_db: Any, broker: Broker, monkeypatch: pytest.MonkeyPatch) -> None:
    """Commits in this process hand their rows to the relay; rows it was not handed (another replica's, or
    dropped when the in-memory queue overflowed) leave a gap before the queue, and the relay reads the table
    for them. Either way each row goes out once, in sequence order, and is marked sent."""
    monkeypatch.setattr("shared.relay.MAX_HANDED", 25)
    topic = f"sizhong.gateway.events.handoff{free_port()}"
    relay = OutboxRelay(migrated_db, bootstrap=broker.bootstrap, topic=topic, topics_to_ensure=[topic], partitions=1,
                        replication=1, poll_seconds=30)  # no polling: the table is read at start and on gaps only
    relay.start()
    n = 0

    async def commit(count: int, wake: Any) -> None:
        nonlocal n
        async with UnitOfWork(migrated_db, "gateway", wake) as uow:
            for _ in range(count):
                uow.publish(Counted(n=n), subject="same-key", actor="test")
                n += 1
            await uow.commit()

    await commit(1, relay.wake)  # the relay's first pass reads the table, and may find this row there
    await wait_until_all_marked(migrated_db)
    memory, table = relay.sent_from_memory, relay.sent_from_table
    for _ in range(5):
        await commit(2, relay.wake)  # handed over: 10 rows
    await wait_until_all_marked(migrated_db)
    assert (relay.sent_from_memory - memory, relay.sent_from_table - table) == (10, 0)
    await commit(3, None)  # committed elsewhere: nobody hands these over
    for _ in range(3):
        await commit(2, relay.wake)  # behind a gap of 3
    await commit(30, relay.wake)  # more than the queue holds: dropped, read from the table
    await commit(1, relay.wake)
    await wait_until_all_marked(migrated_db)
    await relay.stop()
    assert relay.sent_from_table - table >= 3 + 30 and relay.sent_from_memory + relay.sent_from_table == n == 51
    assert [number for _, _, number in await read_topic(broker, topic, n)] == list(range(n))


async def wait_until_all_marked(db: Any) -> None:
    for _ in range(200):
        async with db.reading() as session:
            unsent = (await session.execute(text("SELECT COUNT(*) FROM outbox WHERE sent_at IS NULL"))).scalar_one()
        if unsent == 0:
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"{unsent} rows still unsent")


async def test_rows_dropped_from_a_full_in_memory_queue_go_out_without_waiting_for_the_poll(
        migrated_db: Any, broker: Broker, monkeypatch: pytest.MonkeyPatch) -> None:
    """A commit too large for the in-memory queue is not handed over; the relay reads it from the table at once,
    not at the next poll (30 s here), even when no later commit reveals the gap."""
    monkeypatch.setattr("shared.relay.MAX_HANDED", 5)
    topic = f"sizhong.gateway.events.overflow{free_port()}"
    relay = OutboxRelay(migrated_db, bootstrap=broker.bootstrap, topic=topic, topics_to_ensure=[topic], partitions=1,
                        replication=1, poll_seconds=30)
    relay.start()
    try:
        async with UnitOfWork(migrated_db, "gateway", relay.wake) as uow:
            uow.publish(Counted(n=0), subject="k", actor="test")
            await uow.commit()
        await wait_until_all_marked(migrated_db)  # the first pass read the table; now the relay idles
        async with UnitOfWork(migrated_db, "gateway", relay.wake) as uow:
            for n in range(1, 9):
                uow.publish(Counted(n=n), subject="k", actor="test")
            await uow.commit()
        await wait_until_all_marked(migrated_db)
    finally:
        await relay.stop()
    assert [number for _, _, number in await read_topic(broker, topic, 9)] == list(range(9))
