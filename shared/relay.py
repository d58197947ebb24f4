"""The outbox relay: publishes unsent rows in sequence order, marks them sent after the broker's ack.

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
from collections.abc import Iterable, Mapping

from aiokafka import AIOKafkaProducer
from sqlalchemy import select, update
from sqlmodel import col

from shared.bus import event_headers, started_producer, stop_quietly
from shared.db import Database
from shared.ids import utcnow
from shared.outbox import OutboxRecord
from shared.worker import BackgroundWorker

log = logging.getLogger(__name__)
SEND_TIMEOUT_SECONDS = 15.0


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
        self._marked_through = 0
        self._marks_due = asyncio.Event()
        self._marker: asyncio.Task[None] | None = None

    def wake(self) -> None:
        """Called after a commit that wrote outbox rows, so latency is not bound to the poll interval."""
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
        if self._marker is not None:
            self._marker.cancel()
            await asyncio.gather(self._marker, return_exceptions=True)
            try:
                await asyncio.wait_for(self._mark_once(), 5)  # best effort: unmarked rows are only re-sent
            except Exception:
                log.info("rows left unmarked at shutdown will be sent again", exc_info=True)
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
        backoff = 0.1
        while True:
            try:
                await self._connect()
                sent = await self.publish_once()
                if self.last_error is not None:
                    log.info("relay recovered", extra={"topic": self._topic})
                self.last_error = None
                backoff = 0.1
                if sent < self._batch_size:
                    try:
                        await asyncio.wait_for(self._wake.wait(), self._poll_seconds)
                    except TimeoutError:
                        pass
                    self._wake.clear()
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                if self.last_error is None:
                    log.warning("relay cannot publish, will retry", extra={"topic": self._topic,
                                                                         "error": repr(exc)})
                self.last_error = repr(exc)
                await self._drop_producer()
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, self._max_backoff)

    async def publish_once(self) -> int:
        """Publish one batch of unsent rows in sequence order; returns how many were acknowledged."""
        async with self._db.reading() as session:
            rows = (await session.execute(
                select(col(OutboxRecord.sequence), col(OutboxRecord.partition_key), col(OutboxRecord.envelope),
                       col(OutboxRecord.type), col(OutboxRecord.event_id))
                .where(col(OutboxRecord.sent_at).is_(None), col(OutboxRecord.sequence) > self._published_through)
                .order_by(col(OutboxRecord.sequence))
                .limit(self._batch_size)
            )).all()
        if not rows:
            return 0
        producer = await self._connect()
        futures = []
        for _sequence, key, envelope, event_type, event_id in rows:
            for topic in (self._topic_for_type.get(event_type, self._topic), self._also_to.get(event_type)):
                if topic is not None:
                    futures.append(await producer.send(topic, value=envelope.encode(), key=key.encode(),
                                                       headers=event_headers(event_type, event_id)))
        await asyncio.wait_for(asyncio.gather(*futures), SEND_TIMEOUT_SECONDS)
        self._published_through = rows[-1][0]
        self._marks_due.set()
        self.published_total += len(rows)
        return len(rows)

    async def _mark_sent(self) -> None:
        """Record acknowledged rows as sent, off the publishing path and coalesced. Rows commit in sequence
        order (the counter's lock), so everything up to the watermark was acknowledged. If the process
        dies before marking, the rows are sent again and the consumers' inbox absorbs the duplicates."""
        while True:
            await self._marks_due.wait()
            self._marks_due.clear()
            await self._mark_once()

    async def _mark_once(self) -> None:
        through = self._published_through
        if through > self._marked_through:
            async with self._db.writing() as session:
                await session.execute(
                    update(OutboxRecord)
                    .where(col(OutboxRecord.sequence) <= through, col(OutboxRecord.sent_at).is_(None))
                    .values(sent_at=utcnow()))
            self._marked_through = through
