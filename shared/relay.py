"""The outbox relay: publishes unsent rows in sequence order, marks them sent after the broker's ack.

Committed rows reach it two ways. A unit of work that commits in this process hands its rows over in
memory (`wake(entries)`), and the relay sends those without reading them back, as long as they continue
exactly where its acknowledged sequence stands. Anything else (rows committed before a restart, by
another replica, or while the in-memory queue overflowed or was dropped after a failure) shows up as a
gap before the queue's head, and the relay then reads unsent rows from the table, the source of truth.
Either way a row is marked sent only after the broker has acknowledged it.

While a batch waits for its acknowledgement, the rows committed meanwhile gather and go out together in the
next one: a broker request costs more than the events in it. Only when a full batch is waiting is it sent
before the previous one is acknowledged, up to MAX_IN_FLIGHT batches (acknowledged in order, since the
producer keeps one request per broker in flight), so a busy process does not pay a round trip per batch.
The acknowledged mark only moves over a batch once it and every batch before it are acknowledged; on any
failure, everything after the mark is sent again.

It survives the broker being away for minutes: every failure drops the producer, waits with
exponential backoff, re-creates the topics (the dev broker forgets them when it restarts) and
tries the same rows again. A row is marked sent only after its ack, so the worst case is a
duplicate, which the consumers' inbox absorbs.

Events go to the service's own topic unless the service routes a type elsewhere (`topic_for_type`,
from `ServiceDefinition.event_topics`), e.g. audit's supervision orders to `sizhong.supervision.orders`.
They keep the service's one gapless sequence; a consumer that reads only the routed topic sees gaps
in it and closes them from the source's feed (small as long as the routed types are few).
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from aiokafka import AIOKafkaProducer
from aiokafka.partitioner import DefaultPartitioner
from aiokafka.producer.message_accumulator import BatchBuilder
from sqlalchemy import bindparam, select, update
from sqlmodel import col

from shared.bus import event_headers, started_producer, stop_quietly
from shared.db import Database
from shared.ids import utcnow
from shared.outbox import OUTBOX_TABLE, OutboxEntry, OutboxRecord
from shared.worker import BackgroundWorker

log = logging.getLogger(__name__)
SEND_TIMEOUT_SECONDS = 15.0
MAX_HANDED = 20_000  # rows held in memory for sending; beyond that the table is read instead
MAX_IN_FLIGHT = 8  # batches sent and not yet acknowledged
MARK_EVERY_SECONDS = 0.02
_PARTITIONER = DefaultPartitioner()
_OUTBOX = OUTBOX_TABLE
_MARK_SENT = (update(_OUTBOX).where(_OUTBOX.c.sequence <= bindparam("through"), _OUTBOX.c.sent_at.is_(None))
              .values(sent_at=bindparam("now", type_=_OUTBOX.c.sent_at.type)))


@dataclass(frozen=True)
class _InFlight:
    through: int  # the batch's last sequence
    count: int
    acked: asyncio.Future[Any]
    deadline: float


def _forget(future: asyncio.Future[Any]) -> None:
    """Drop a batch after a failure without an 'exception never retrieved' warning."""
    if future.done():
        if not future.cancelled():
            future.exception()
    else:
        future.cancel()


class OutboxRelay(BackgroundWorker):
    def __init__(
        self,
        db: Database,
        *,
        bootstrap: str,
        topic: str,
        topics_to_ensure: Iterable[str],
        partitions: int,
        topic_for_type: Mapping[str, str] | None = None,
        replication: int,
        batch_size: int = 500,
        poll_seconds: float = 0.5,
        max_backoff_seconds: float = 5.0,
        also_to: Mapping[str, str] | None = None,
    ) -> None:
        self._db = db
        self._bootstrap = bootstrap
        self._topic = topic
        self._topic_for_type = dict(topic_for_type or {})
        self._also_to = dict(also_to or {})  # event type -> a further topic it is also published on (same key)
        self._topics_to_ensure = sorted({*topics_to_ensure, *self._topic_for_type.values(),
                                         *self._also_to.values()})
        self._partitions = partitions
        self._replication = replication
        self._batch_size = batch_size
        self._poll_seconds = poll_seconds
        self._max_backoff = max_backoff_seconds
        self._wake = asyncio.Event()
        self._producer: AIOKafkaProducer | None = None
        self.published_total = 0
        self.last_error: str | None = None
        self._published_through = 0  # acknowledged by the broker, in this process's lifetime
        self._sent_through = 0  # handed to the producer (acknowledged or in flight)
        self._in_flight: deque[_InFlight] = deque()
        self._marked_through = 0
        self._marks_due = asyncio.Event()
        self._marker: asyncio.Task[None] | None = None
        self._handed: deque[OutboxEntry] = deque()
        self._table_due = True  # unsent rows may be in the table that were not handed over
        self._backoff = 0.1
        self.sent_from_memory = 0
        self.sent_from_table = 0

    def wake(self, committed: Sequence[OutboxEntry] = ()) -> None:
        """Called after a commit that wrote outbox rows, with those rows, so they are sent at once and
        without being read back. Bounded: past MAX_HANDED rows waiting (a broker outage), the queue is
        dropped and the rows are read from the table when the broker is back."""
        if committed:
            if len(self._handed) + len(committed) > MAX_HANDED:
                self._handed.clear()
                self._table_due = True  # read them now, not at the next poll
            else:
                self._handed.extend(committed)
        self._wake.set()

    @property
    def worker_name(self) -> str:
        return f"relay:{self._topic}"

    def start(self) -> None:
        self._marker = asyncio.create_task(self._mark_sent_forever(), name=f"relay-marks:{self._topic}")
        super().start()

    async def _mark_sent_forever(self) -> None:
        while True:
            try:
                await self._mark_sent()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.warning("could not mark rows sent; will retry", exc_info=True)
                await asyncio.sleep(1)
                self._marks_due.set()

    async def _cleanup(self) -> None:
        log.info("relay stopped", extra={"topic": self._topic, "published_total": self.published_total,
                                         "sent_from_memory": self.sent_from_memory,
                                         "sent_from_table": self.sent_from_table})
        if self._marker is not None:
            self._marker.cancel()
            await asyncio.gather(self._marker, return_exceptions=True)
        try:  # best effort: what is left unmarked (or still unacknowledged) is only sent again
            await self._settle(wait=False)
            await asyncio.wait_for(self._mark_once(), 5)
        except Exception:
            log.info("rows left unmarked at shutdown will be sent again", exc_info=True)
        self._reset()
        await self._drop_producer()

    async def _connect(self) -> AIOKafkaProducer:
        if self._producer is None:
            self._producer = await started_producer(self._bootstrap, self._topics_to_ensure, self._partitions,
                                                    self._replication)
        return self._producer

    async def _drop_producer(self) -> None:
        producer, self._producer = self._producer, None
        await stop_quietly(producer)

    @property
    def connected(self) -> bool:
        return self._producer is not None

    async def _run(self) -> None:
        while True:
            try:
                await self._connect()
                if self._in_flight and len(self._handed) < self._batch_size:
                    # Less than a batch waiting: wait for the acknowledgement and send what gathered meanwhile
                    # together. A broker request costs more than the events in it; only full batches overlap.
                    await self._settle(wait=True)
                sent = await self._send_next()
                await self._settle(wait=sent == 0 or len(self._in_flight) >= MAX_IN_FLIGHT)
                if not self._in_flight:
                    self._recovered()
                    if sent == 0:  # nothing to send: wait for a commit or the poll
                        await self._idle()
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                if self.last_error is None:
                    log.warning("relay cannot publish, will retry", extra={"topic": self._topic,
                                                                         "error": repr(exc)})
                self.last_error = repr(exc)
                self._reset()
                await self._drop_producer()
                await asyncio.sleep(self._backoff)
                self._backoff = min(self._backoff * 2, self._max_backoff)

    def _recovered(self) -> None:
        if self.last_error is not None:
            log.info("relay recovered", extra={"topic": self._topic})
            self.last_error = None
        self._backoff = 0.1

    async def _idle(self) -> None:
        """Wait for a commit's rows or the poll interval (after which the table is read: rows committed
        without being handed over, e.g. by another replica)."""
        try:
            await asyncio.wait_for(self._wake.wait(), self._poll_seconds)
        except TimeoutError:
            self._table_due = True
        self._wake.clear()

    def _reset(self) -> None:
        """After a failure: forget what is in flight and what was handed over; the table has it all."""
        for batch in self._in_flight:
            _forget(batch.acked)
        self._in_flight.clear()
        self._handed.clear()
        self._sent_through = self._published_through
        self._table_due = True

    async def publish_once(self) -> int:
        """Publish one batch of unsent rows in sequence order and wait for its acknowledgement; returns
        how many rows it held."""
        sent = await self._send_next()
        try:
            await self._settle(wait=True)
        except BaseException:
            self._reset()
            raise
        return sent

    async def _send_next(self) -> int:
        """Hand the next batch to the producer without waiting for its acknowledgement."""
        entries = self._take_handed()
        from_memory = bool(entries)
        if not entries and self._table_due:
            entries = await self._read_unsent()
        if not entries:
            return 0
        acked = asyncio.gather(*await self._send_batches(await self._connect(), entries))
        loop = asyncio.get_running_loop()
        self._in_flight.append(_InFlight(entries[-1].sequence, len(entries), acked,
                                         loop.time() + SEND_TIMEOUT_SECONDS))
        self._sent_through = entries[-1].sequence
        if from_memory:
            self.sent_from_memory += len(entries)
        else:
            self.sent_from_table += len(entries)
        return len(entries)

    async def _send_batches(self, producer: AIOKafkaProducer, entries: list[OutboxEntry]) -> list[Any]:
        """Queue the rows as one record batch per partition (in sequence order within each), partitioned by
        key as the producer's default partitioner does (murmur2, as Kafka's Java client), one future per
        batch: per-message `send()` cost more than the rest of the relay."""
        batches: dict[tuple[str, int], BatchBuilder] = {}
        partitions: dict[str, list[int]] = {}
        futures = []
        for entry in entries:
            headers = event_headers(entry.type, entry.event_id)
            for topic in (self._topic_for_type.get(entry.type, self._topic), self._also_to.get(entry.type)):
                if topic is None:
                    continue
                if topic not in partitions:
                    partitions[topic] = sorted(await producer.partitions_for(topic))
                partition = _PARTITIONER(entry.key, partitions[topic], partitions[topic])
                batch = batches.get((topic, partition))
                if batch is None:
                    batch = batches[(topic, partition)] = producer.create_batch()
                if batch.append(key=entry.key, value=entry.value, timestamp=None, headers=headers) is None:
                    futures.append(await producer.send_batch(batch, topic, partition=partition))  # full
                    batch = batches[(topic, partition)] = producer.create_batch()
                    if batch.append(key=entry.key, value=entry.value, timestamp=None, headers=headers) is None:
                        raise ValueError(f"event {entry.event_id} is larger than a producer batch")
        for (topic, partition), batch in batches.items():
            futures.append(await producer.send_batch(batch, topic, partition=partition))
        return futures

    async def _settle(self, *, wait: bool) -> None:
        """Move the acknowledged mark over the batches acknowledged so far, oldest first; with `wait`, wait
        for all of them. A failed batch, or one unacknowledged past its deadline, raises."""
        while self._in_flight:
            batch = self._in_flight[0]
            if not batch.acked.done():
                remaining = batch.deadline - asyncio.get_running_loop().time()
                if remaining <= 0:
                    raise TimeoutError(f"no acknowledgement within {SEND_TIMEOUT_SECONDS:g}s")
                if not wait:
                    return
                await asyncio.wait_for(asyncio.shield(batch.acked), remaining)
            batch.acked.result()  # raises the send's failure
            self._in_flight.popleft()
            self._published_through = batch.through
            self.published_total += batch.count
            self._marks_due.set()
            self._recovered()

    def _take_handed(self) -> list[OutboxEntry]:
        """The rows handed over in memory that continue exactly after the last row sent, up to a batch;
        none when there is a gap before them (rows this process did not commit, or not in order)."""
        handed = self._handed
        while handed and handed[0].sequence <= self._sent_through:
            handed.popleft()  # already sent, from the table
        taken: list[OutboxEntry] = []
        expected = self._sent_through + 1
        while handed and len(taken) < self._batch_size and handed[0].sequence == expected:
            taken.append(handed.popleft())
            expected += 1
        if handed and not taken:
            self._table_due = True  # a gap before the queue: rows only the table has
        return taken

    async def _read_unsent(self) -> list[OutboxEntry]:
        known = self._handed[-1].sequence if self._handed else 0  # committed before this read began
        async with self._db.reading() as session:
            rows = (await session.execute(
                select(col(OutboxRecord.sequence), col(OutboxRecord.event_id), col(OutboxRecord.type),
                       col(OutboxRecord.partition_key), col(OutboxRecord.envelope))
                .where(col(OutboxRecord.sent_at).is_(None), col(OutboxRecord.sequence) > self._sent_through)
                .order_by(col(OutboxRecord.sequence))
                .limit(self._batch_size)
            )).all()
        if len(rows) < self._batch_size:
            # The read saw every unsent row committed before it: a queued row it did not return was sent
            # already (by another replica), and one it returned is sent now.
            self._table_due = False
            while self._handed and self._handed[0].sequence <= known:
                self._handed.popleft()
        return [OutboxEntry(sequence, event_id, event_type, key.encode(), envelope.encode())
                for sequence, event_id, event_type, key, envelope in rows]

    async def _mark_sent(self) -> None:
        """Record acknowledged rows as sent, off the publishing path and coalesced. Rows commit in sequence
        order (the counter's lock), so everything up to the watermark was acknowledged. If the process
        dies before marking, the rows are sent again and the consumers' inbox absorbs the duplicates."""
        loop = asyncio.get_running_loop()
        last = 0.0
        while True:
            await self._marks_due.wait()
            wait = last + MARK_EVERY_SECONDS - loop.time()
            if wait > 0:  # at most one marking transaction per interval: under load, each covers more rows
                await asyncio.sleep(wait)
            self._marks_due.clear()
            last = loop.time()
            await self._mark_once()

    async def _mark_once(self) -> None:
        through = self._published_through
        if through > self._marked_through:
            async with self._db.writing() as session:
                await session.execute(_MARK_SENT, {"through": through, "now": utcnow()})
            self._marked_through = through
