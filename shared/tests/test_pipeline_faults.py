"""Fault paths of the shared pipeline against a real Tansu broker: a poison event inside a fetched batch, and
a broker outage longer than every timeout of the relay and the consumer."""

from __future__ import annotations

import asyncio
import secrets
import time
from pathlib import Path
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from sqlalchemy import text

from shared.bus import ensure_topics, event_headers
from shared.consumer import EventApplier, KafkaEventConsumer, Subscription, Subscriptions
from shared.db import Database
from shared.envelope import CloudEvent, EventData
from shared.ids import utcnow
from shared.inbox import progress_of
from shared.launcher import Broker, free_port
from shared.migrations import upgrade_to_head
from shared.outbox import read_feed
from shared.relay import SEND_TIMEOUT_SECONDS, OutboxRelay
from shared.settings import dlq_for
from shared.uow import UnitOfWork

MAX_ATTEMPTS = 3


class Counted(EventData):
    event_type = "cn.sizhong.test.item.counted.v1"
    n: int


class Derived(EventData):
    event_type = "cn.sizhong.test.item.derived.v1"
    n: int


def envelope(n: int) -> CloudEvent:
    return CloudEvent(id=f"evt-{secrets.token_hex(8)}", source="/sizhong/gateway", type=Counted.event_type,
                      time=utcnow(), subject=f"s-{n}", data={"n": n}, sequence=n, partitionkey="one-key",
                      actor="test")


async def test_a_handler_failing_for_one_event_of_a_fetched_batch(migrated_db: Any, broker: Broker) -> None:
    """The poison event is retried a bounded number of times, then goes to the dead-letter topic with error
    headers; the good events fetched with it are applied exactly once, and consuming carries on."""
    topic = f"sizhong.gateway.events.poison{secrets.token_hex(4)}"
    group = f"credit-poison-{secrets.token_hex(4)}"
    poison = 4
    calls: dict[int, int] = {}

    async def handler(uow: UnitOfWork, _event: CloudEvent, data: Counted) -> None:
        calls[data.n] = calls.get(data.n, 0) + 1
        uow.publish(Derived(n=data.n), subject=f"d-{data.n}", actor="test")  # the handler's effect
        if data.n == poison:
            raise ValueError(f"poison {data.n}")

    subscriptions = Subscriptions(sources=("gateway",), handlers=(Subscription(Counted, handler),),
                                  topic_overrides={"gateway": topic})
    applier = EventApplier(migrated_db, "credit", group, subscriptions)
    consumer = KafkaEventConsumer(applier, bootstrap=broker.bootstrap, partitions=1, replication=1,
                                  max_attempts=MAX_ATTEMPTS, retry_backoff=0.05)
    batches: list[list[int]] = []
    handle_records = consumer._handle_records

    async def recording(records: list[Any], producer: Any) -> None:
        batches.append([CloudEvent.from_json_bytes(r.value).data["n"] for r in records])
        await handle_records(records, producer)

    consumer._handle_records = recording  # type: ignore[method-assign]
    await ensure_topics(broker.bootstrap, [topic, dlq_for(topic)], 1, 1)
    first = [envelope(n) for n in range(1, 8)]
    await produce(broker, topic, first)  # all on the broker before the consumer starts: one fetch
    consumer.start()
    try:
        await until(lambda: applied_numbers(migrated_db) , lambda got: got == {1, 2, 3, 5, 6, 7}, within=30)
        later = envelope(8)
        await produce(broker, topic, [later])
        await until(lambda: applied_numbers(migrated_db), lambda got: 8 in got, within=15)
    finally:
        await consumer.stop()

    assert [1, 2, 3, 4, 5, 6, 7] in batches  # the poison came in one fetched batch with the good ones
    assert calls[poison] == 1 + MAX_ATTEMPTS  # once in the batch, then the bounded retries alone
    async with migrated_db.reading() as session:
        derived, _ = await read_feed(session, 0, 100)
        outcomes = dict((await session.execute(text(
            "SELECT outcome, COUNT(*) FROM inbox WHERE consumer = :c GROUP BY outcome"), {"c": group})).all())
        progress = (await progress_of(session, group))["/sizhong/gateway"]
    assert sorted(e.data["n"] for e in derived) == [1, 2, 3, 5, 6, 7, 8]  # each good effect once, none of 4
    assert outcomes == {"applied": 7, "dead_lettered": 1}
    assert progress.contiguous_through == 8  # the dead-lettered event does not hold completeness back

    [dead] = await read_all(broker, dlq_for(topic), 1)
    headers = dict(dead.headers)
    assert CloudEvent.from_json_bytes(dead.value) == first[poison - 1]
    assert headers["error.type"] == b"ValueError" and headers["error.message"] == b"poison 4"
    assert headers["error.attempts"] == str(MAX_ATTEMPTS).encode() and headers["error.consumer"] == group.encode()
    assert headers["original.topic"] == topic.encode() and headers["original.offset"] == b"3"
    assert headers["ce_id"] == first[poison - 1].id.encode()


async def produce(broker: Broker, topic: str, events: list[CloudEvent]) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=broker.bootstrap, acks="all", enable_idempotence=False)
    await producer.start()
    try:
        for event in events:
            await producer.send(topic, event.to_json_bytes(), key=event.partitionkey.encode(),
                                headers=event_headers(event.type, event.id))
        await producer.flush()
    finally:
        await producer.stop()


async def applied_numbers(db: Database) -> set[int]:
    async with db.reading() as session:
        derived, _ = await read_feed(session, 0, 1000)
    return {e.data["n"] for e in derived}


async def until(probe: Any, done: Any, within: float) -> Any:
    deadline = time.monotonic() + within
    while True:
        got = await probe()
        if done(got) or time.monotonic() > deadline:
            return got
        await asyncio.sleep(0.1)


async def read_all(broker: Broker, topic: str, expected: int) -> list[Any]:
    reader = AIOKafkaConsumer(topic, bootstrap_servers=broker.bootstrap, group_id=f"r-{secrets.token_hex(4)}",
                              auto_offset_reset="earliest", enable_auto_commit=False)
    await reader.start()
    try:
        records: list[Any] = []
        for _ in range(20):
            for batch in (await reader.getmany(timeout_ms=500)).values():
                records += batch
            if len(records) >= expected:
                break
        return records
    finally:
        await reader.stop()


RELAY_MAX_BACKOFF_SECONDS = 5.0  # OutboxRelay's default
OUTAGE_SECONDS = 35.0


async def test_relay_and_consumer_carry_on_through_a_broker_outage_longer_than_all_their_timeouts(
        tmp_path: Path) -> None:
    """The broker is away for 35 s while events keep being committed; when it is back (empty, as Tansu with
    memory storage forgets everything) every event reaches the consumer once, in order.

    Why 35 s stands for "an outage of minutes": the relay's send deadline is 15 s (SEND_TIMEOUT_SECONDS), its
    backoff tops out at 5 s, and its producer's request timeout and metadata age are 5 s; the consumer's
    request timeout is 10 s and its session 6 s, its backoff tops out at 5 s. After about 20 s every one of
    these has expired at least once and both loops retry at their ceiling, every 5 s. From then on nothing
    changes however long the outage lasts, so 35 s (over twice the longest timeout, several retries at the
    ceiling) exercises the same state as minutes do, at a cost a test run can afford. No completeness
    monitor runs here, so nothing but the relay and the consumer can deliver the events."""
    assert OUTAGE_SECONDS > 2 * max(SEND_TIMEOUT_SECONDS, RELAY_MAX_BACKOFF_SECONDS, 10.0)
    broker = Broker(free_port())
    broker.start()
    producer_db = Database(f"sqlite+aiosqlite:///{tmp_path / 'gateway.db'}")
    consumer_db = Database(f"sqlite+aiosqlite:///{tmp_path / 'credit.db'}")
    for db in (producer_db, consumer_db):
        await upgrade_to_head(db, migrations())
    topic = "sizhong.gateway.events"
    relay = OutboxRelay(producer_db, bootstrap=broker.bootstrap, topic=topic, topics_to_ensure=[topic, dlq_for(topic)],
                        partitions=1, replication=1, max_backoff_seconds=RELAY_MAX_BACKOFF_SECONDS)
    applied: list[int] = []

    async def handler(_uow: UnitOfWork, _event: CloudEvent, data: Counted) -> None:
        applied.append(data.n)

    applier = EventApplier(consumer_db, "credit", "credit", Subscriptions(
        sources=("gateway",), handlers=(Subscription(Counted, handler),)))
    consumer = KafkaEventConsumer(applier, bootstrap=broker.bootstrap, partitions=1, replication=1,
                                  max_attempts=3, retry_backoff=0.1)
    total = 0

    async def commit_one() -> None:
        nonlocal total
        async with UnitOfWork(producer_db, "gateway", relay.wake) as uow:
            uow.publish(Counted(n=total + 1), subject=f"s-{total + 1}", actor="test", partition_key="one-key")
            await uow.commit()
        total += 1

    relay.start()
    consumer.start()
    try:
        for _ in range(10):
            await commit_one()
        await until(lambda: _value(len(applied)), lambda got: got == 10, within=30)
        broker.stop()
        stopped = time.monotonic()
        while time.monotonic() - stopped < OUTAGE_SECONDS:
            await commit_one()  # about one a second throughout the outage
            await asyncio.sleep(1)
        assert relay.last_error is not None and not relay.connected  # it noticed, and it is still trying
        broker.start()  # empty: no topics, no offsets
        for _ in range(10):
            await commit_one()
        await until(lambda: _value(len(applied)), lambda got: got >= total, within=60)
        left = await until(lambda: unsent(producer_db), lambda got: got == 0, within=10)
    finally:
        await consumer.stop()
        await relay.stop()
        for db in (producer_db, consumer_db):
            await db.dispose()
        broker.stop()
    assert applied == list(range(1, total + 1))  # each once, in sequence order
    assert total >= 10 + 30 + 10 and relay.last_error is None
    assert left == 0  # every row marked sent, after the new broker's acknowledgement


async def _value(value: Any) -> Any:
    return value


async def unsent(db: Database) -> int:
    async with db.reading() as session:
        return int((await session.execute(text("SELECT COUNT(*) FROM outbox WHERE sent_at IS NULL"))).scalar_one())


def migrations() -> str:
    import credit

    return str(Path(credit.__file__).parent / "migrations")
