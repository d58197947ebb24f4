"""Consumers: one explicit subscription list per service, applied effect-exactly-once.

Kafka path: fetch, apply each event in its own transaction with its inbox row, then commit the
offset. A crash between the two redelivers the event and the inbox skips it. A handler that keeps
failing is retried a bounded number of times, then the event goes to `<topic>.dlq` with error
headers, is marked dead-lettered in the inbox, and the consumer carries on.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRecord
from pydantic import ValidationError
from sqlalchemy.exc import InterfaceError, OperationalError

from shared.bus import ensure_topics, event_headers, new_producer
from shared.db import Database
from shared.envelope import CloudEvent, EventData
from shared.inbox import Outcome, advance_progress, claim
from shared.settings import dlq_for, topic_for
from shared.tracing import current_traceparent
from shared.uow import CommitListener, UnitOfWork
from shared.worker import BackgroundWorker

log = logging.getLogger(__name__)

# Failures of the database rather than of the event: never dead-letter for these, retry later.
TRANSIENT_ERRORS: tuple[type[BaseException], ...] = (OperationalError, InterfaceError, TimeoutError, OSError)
Handler = Callable[[UnitOfWork, CloudEvent, Any], Awaitable[None]]
CatchAllHandler = Callable[[UnitOfWork, CloudEvent], Awaitable[None]]
BatchHook = Callable[[UnitOfWork, Sequence[CloudEvent]], Awaitable[None]]


@dataclass(frozen=True)
class Subscription:
    """One event type (wire name from the publisher's contract) and the handler that applies it."""

    event_model: type[EventData]
    handler: Handler


@dataclass(frozen=True)
class Subscriptions:
    """Everything a service listens to, in one place: the sources and the handler per event type."""

    sources: tuple[str, ...]
    handlers: Sequence[Subscription] = ()
    catch_all: CatchAllHandler | None = None
    # source service -> the topic to read it from, when not its own (e.g. audit -> sizhong.supervision.orders)
    topic_overrides: Mapping[str, str] = field(default_factory=dict)
    # called once per applied batch (one transaction) with its fresh events, before any handler: a service loads
    # what the batch's handlers will need in a few queries instead of a few per event
    before_batch: BatchHook | None = None
    by_type: dict[str, Subscription] = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "by_type", {sub.event_model.event_type: sub for sub in self.handlers})

    @property
    def topics(self) -> list[str]:
        return [self.topic_of(source) for source in self.sources]

    def topic_of(self, source: str) -> str:
        """The topic this service reads `source` from (its own topic unless overridden)."""
        return self.topic_overrides.get(source) or topic_for(source)


class EventApplier:
    """Applies one event with its inbox row in one transaction; shared by the Kafka path and backfill."""

    def __init__(self, db: Database, service: str, consumer: str, subscriptions: Subscriptions,
                 on_commit: CommitListener | None = None,
                 after_commit: Callable[[CloudEvent], None] | None = None) -> None:
        self.db = db
        self.service = service
        self.consumer = consumer
        self.subscriptions = subscriptions
        self._on_commit = on_commit
        self._after_commit = after_commit
        self._lock = asyncio.Lock()
        self.duplicates_skipped = 0

    async def apply(self, event: CloudEvent) -> bool:
        """True when applied now, False when it had been handled before (a duplicate)."""
        return (await self.apply_batch([event]))[0]

    async def apply_batch(self, events: Sequence[CloudEvent]) -> list[bool]:
        """Apply events in order in one transaction, skipping those handled before (here or by another
        replica); per event, True when applied now. Any failure rolls back the whole batch, and the caller
        then goes one by one."""
        async with self._lock:
            async with UnitOfWork(self.db, self.service, self._on_commit) as uow:
                unique: dict[str, CloudEvent] = {}
                for event in events:
                    unique.setdefault(event.id, event)  # a repeat inside the batch counts once
                claimed = await claim(uow.session, self.consumer, list(unique.values()),
                                      [self._outcome_for(e) for e in unique.values()])
                fresh = [event for event in unique.values() if event.id in claimed]
                results = [event.id in claimed and unique[event.id] is event for event in events]
                if fresh:
                    if self.subscriptions.before_batch is not None:
                        await self.subscriptions.before_batch(uow, fresh)
                    for event in fresh:
                        token = current_traceparent.set(event.traceparent)
                        try:
                            await self._dispatch(uow, event)
                        finally:
                            current_traceparent.reset(token)
                    for source, sequences in _sequences_by_source(fresh).items():
                        await advance_progress(uow.session, self.consumer, source, sequences)
                    await uow.commit()
        self.duplicates_skipped += len(events) - len(fresh)
        if log.isEnabledFor(logging.DEBUG):
            for event in fresh:
                _log_applied(self.consumer, event)
        if self._after_commit is not None:
            for event in fresh:
                self._after_commit(event)
        return results

    def _outcome_for(self, event: CloudEvent) -> Outcome:
        if event.type in self.subscriptions.by_type or self.subscriptions.catch_all is not None:
            return Outcome.APPLIED
        return Outcome.IGNORED

    async def _dispatch(self, uow: UnitOfWork, event: CloudEvent) -> None:
        subscription = self.subscriptions.by_type.get(event.type)
        if subscription is not None:
            await subscription.handler(uow, event, subscription.event_model.model_validate(event.data))
        elif self.subscriptions.catch_all is not None:
            await self.subscriptions.catch_all(uow, event)

    async def mark_dead_lettered(self, event: CloudEvent) -> None:
        async with self._lock, UnitOfWork(self.db, self.service) as uow:
            if not await claim(uow.session, self.consumer, [event], [Outcome.DEAD_LETTERED]):
                return
            await advance_progress(uow.session, self.consumer, event.source, [event.sequence])
            await uow.commit()



def _log_applied(consumer: str, event: CloudEvent) -> None:
    """One DEBUG line per applied event, in the event's trace, so a request can be followed by its trace id
    from the gateway into every service that applied what it caused."""
    token = current_traceparent.set(event.traceparent)
    try:
        log.debug("event applied", extra={"consumer": consumer, "event_id": event.id, "type": event.type,
                                          "source": event.source, "sequence": event.sequence})
    finally:
        current_traceparent.reset(token)


def _sequences_by_source(events: Sequence[CloudEvent]) -> dict[str, list[int]]:
    grouped: dict[str, list[int]] = {}
    for event in events:
        grouped.setdefault(event.source, []).append(event.sequence)
    return grouped


class KafkaEventConsumer(BackgroundWorker):
    """The Kafka side: fetch, apply, then commit offsets; poison events to the dead-letter topic."""

    def __init__(self, applier: EventApplier, *, bootstrap: str, partitions: int, replication: int,
                 max_attempts: int, retry_backoff: float, session_timeout_ms: int = 6000,
                 fault_kill_after_commit_type: str = "") -> None:
        self._applier = applier
        self._bootstrap = bootstrap
        self._partitions = partitions
        self._replication = replication
        self._max_attempts = max_attempts
        self._retry_backoff = retry_backoff
        self._session_timeout_ms = session_timeout_ms
        self._fault_type = fault_kill_after_commit_type
        self._consumer: AIOKafkaConsumer | None = None
        self._producer: AIOKafkaProducer | None = None
        self.dead_lettered = 0

    @property
    def assigned(self) -> bool:
        """True once the group has given this consumer its partitions (readiness)."""
        return self._consumer is not None and bool(self._consumer.assignment())

    @property
    def worker_name(self) -> str:
        return f"consumer:{self._applier.consumer}"

    async def _run(self) -> None:
        backoff = 0.2
        topics = self._applier.subscriptions.topics
        while True:
            consumer: AIOKafkaConsumer | None = None
            producer = None
            try:
                await ensure_topics(self._bootstrap, topics + [dlq_for(t) for t in topics],
                                    self._partitions, self._replication)
                consumer = AIOKafkaConsumer(
                    *topics, bootstrap_servers=self._bootstrap, group_id=self._applier.consumer,
                    enable_auto_commit=False, auto_offset_reset="earliest", metadata_max_age_ms=3000,
                    max_poll_records=500, request_timeout_ms=10000, fetch_max_wait_ms=50,
                    session_timeout_ms=self._session_timeout_ms,
                    heartbeat_interval_ms=max(100, self._session_timeout_ms // 6),
                    rebalance_timeout_ms=10000, max_poll_interval_ms=60000,
                )
                producer = new_producer(self._bootstrap)
                await consumer.start()
                await producer.start()
                backoff = 0.2
                self._consumer, self._producer = consumer, producer
                await self._consume(consumer, producer)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.warning("consumer restarting", extra={"consumer": self._applier.consumer, "error": repr(exc)})
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 5.0)
            finally:
                self._consumer = self._producer = None
                for client in (consumer, producer):
                    if client is not None:
                        try:
                            await asyncio.wait_for(client.stop(), 5)
                        except Exception:
                            log.debug("client stop failed", exc_info=True)

    async def _consume(self, consumer: AIOKafkaConsumer, producer: Any) -> None:
        while True:
            batches = await consumer.getmany(timeout_ms=500, max_records=500)
            if not batches:
                continue
            await self._handle_records([record for records in batches.values() for record in records], producer)
            await consumer.commit({partition: records[-1].offset + 1 for partition, records in batches.items()})

    async def _handle_records(self, records: list[ConsumerRecord[bytes, bytes]], producer: Any) -> None:
        """The whole fetched batch in one transaction; if anything in it fails, one event at a time."""
        parsed: list[tuple[ConsumerRecord[bytes, bytes], CloudEvent]] = []
        for record in records:
            try:
                parsed.append((record, CloudEvent.from_json_bytes(record.value or b"")))
            except (ValidationError, ValueError) as exc:
                await self._dead_letter(producer, record, exc, attempts=1)
        if not parsed:
            return
        try:
            results = await self._applier.apply_batch([event for _, event in parsed])
        except TRANSIENT_ERRORS:
            raise
        except Exception:  # a poison event or a conflict in the batch: isolate it
            for record, event in parsed:
                await self._handle_event(record, event, producer)
            return
        for (_, event), applied in zip(parsed, results, strict=True):
            self._maybe_fail_on_purpose(event, applied)

    async def _handle_event(self, record: ConsumerRecord[bytes, bytes], event: CloudEvent, producer: Any) -> None:
        for attempt in range(1, self._max_attempts + 1):
            try:
                applied = await self._applier.apply(event)
                break
            except asyncio.CancelledError:
                raise
            except TRANSIENT_ERRORS:
                raise  # the database is away: restart the consumer, the offset stays uncommitted
            except Exception as exc:
                log.warning("handler failed", extra={"event_id": event.id, "type": event.type,
                                                     "attempt": attempt, "error": repr(exc)})
                if attempt == self._max_attempts:
                    await self._dead_letter(producer, record, exc, attempts=attempt)
                    await self._applier.mark_dead_lettered(event)
                    return
                await asyncio.sleep(self._retry_backoff * attempt)
        self._maybe_fail_on_purpose(event, applied)

    def _maybe_fail_on_purpose(self, event: CloudEvent, applied: bool) -> None:
        if applied and self._fault_type and event.type == self._fault_type:
            log.error("fault injection: killing the process after commit, before offset commit")
            os.kill(os.getpid(), signal.SIGKILL)

    async def _dead_letter(self, producer: Any, record: ConsumerRecord[bytes, bytes], exc: BaseException,
                           attempts: int) -> None:
        origin = [("original.topic", record.topic.encode()), ("original.partition", str(record.partition).encode()),
                  ("original.offset", str(record.offset).encode())]
        await self._send_dead_letter(producer, record.topic, record.key, record.value,
                                     [*(record.headers or ()), *origin], exc, attempts)

    async def dead_letter_from_feed(self, event: CloudEvent, exc: BaseException, attempts: int) -> None:
        """A backfilled event that keeps failing goes to the same dead-letter topic as a Kafka one."""
        producer = self._producer
        if producer is None:
            raise RuntimeError("no broker connection to dead-letter through; will retry")
        topic = self._applier.subscriptions.topic_of(event.service)  # where a Kafka delivery would have come from
        origin = [("original.topic", topic.encode()), ("original.feed_sequence", str(event.sequence).encode())]
        await self._send_dead_letter(producer, topic, event.partitionkey.encode(), event.to_json_bytes(),
                                     [*event_headers(event.type, event.id), *origin], exc, attempts)

    async def _send_dead_letter(self, producer: Any, topic: str, key: bytes | None, value: bytes | None,
                                headers: list[tuple[str, bytes]], exc: BaseException, attempts: int) -> None:
        headers = [*headers,
                   ("error.type", type(exc).__name__.encode()),
                   ("error.message", str(exc)[:2000].encode()),
                   ("error.consumer", self._applier.consumer.encode()),
                   ("error.attempts", str(attempts).encode())]
        await producer.send_and_wait(dlq_for(topic), value=value, key=key, headers=headers)
        self.dead_lettered += 1
        log.error("event dead-lettered", extra={"topic": topic, "error": repr(exc)})


