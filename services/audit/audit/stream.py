"""The regulator stream `sizhong.audit.events`, published straight from the log (no outbox row per entry).

The log is already durable, gapless and in index order, which is all an outbox would give. This worker reads
entries above its watermark in index order, masks personal numbers (shared.masking), sends one CloudEvent per
entry (type `cn.sizhong.audit.entry.appended.v1`, source `/sizhong/audit/log`, `sequence` = index + 1, key = the
original event's partition key, header `log-index`), and moves the watermark (`audit_stream_watermark`) after the
broker's ack. A crash between ack and watermark re-sends a few entries; the log index identifies them, so a
reader drops repeats. Audit's own few events (gap and supervision notices) come from its outbox relay onto the
same topic with source `/sizhong/audit`.
"""

from __future__ import annotations

import asyncio
import json
import logging
from typing import Any

from aiokafka import AIOKafkaProducer
from sqlalchemy import update
from sqlmodel import col, select

from audit.contracts import EntryAppended
from audit.models import LogEntry, StreamWatermark
from shared.bus import event_headers, started_producer, stop_quietly
from shared.db import Database
from shared.masking import mask_personal_numbers
from shared.worker import BackgroundWorker

log = logging.getLogger(__name__)
STREAM_SOURCE = "/sizhong/audit/log"
WATERMARK = "regulator-stream"
SEND_TIMEOUT_SECONDS = 15.0


def stream_message(index: int, leaf: str, entry: str, appended_at: str) -> tuple[bytes, bytes, dict[str, Any]]:
    """(key, value, message) for one log entry: a CloudEvent whose data carries the index, the leaf hash and
    the original event with personal numbers masked."""
    event = mask_personal_numbers(json.loads(entry))
    message = {
        "specversion": "1.0", "id": f"audit-log-{index}", "source": STREAM_SOURCE, "type": EntryAppended.event_type,
        "time": appended_at, "subject": str(event.get("subject", "")), "datacontenttype": "application/json",
        "data": EntryAppended(index=index, leaf_hash=leaf, event=event).model_dump(mode="json"),
        "sequence": index + 1, "partitionkey": str(event.get("partitionkey", "")), "actor": "service:audit",
        "logindex": index,
    }
    key = (message["partitionkey"] or message["subject"] or str(index)).encode()
    return key, json.dumps(message, ensure_ascii=False, separators=(",", ":")).encode(), message


class RegulatorStream(BackgroundWorker):
    def __init__(self, db: Database, *, bootstrap: str, topic: str, partitions: int, replication: int,
                 batch_size: int = 500, poll_seconds: float = 0.2, max_backoff_seconds: float = 5.0) -> None:
        self._db = db
        self._bootstrap = bootstrap
        self._topic = topic
        self._partitions = partitions
        self._replication = replication
        self._batch = batch_size
        self._poll = poll_seconds
        self._max_backoff = max_backoff_seconds
        self._producer: AIOKafkaProducer | None = None
        self.published_through = -1  # highest log index acknowledged and recorded
        self.last_error: str | None = None

    @property
    def worker_name(self) -> str:
        return f"stream:{self._topic}"

    async def _cleanup(self) -> None:
        producer, self._producer = self._producer, None
        await stop_quietly(producer)

    async def _run(self) -> None:
        backoff = 0.1
        async with self._db.reading() as session:
            row = await session.get(StreamWatermark, WATERMARK)
        self.published_through = -1 if row is None else row.published_through
        while True:
            try:
                sent = await self.publish_once()
                self.last_error, backoff = None, 0.1
                if sent < self._batch:
                    await asyncio.sleep(self._poll)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                if self.last_error is None:
                    log.warning("regulator stream cannot publish, will retry", extra={"error": repr(exc)})
                self.last_error = repr(exc)
                await self._cleanup()
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, self._max_backoff)

    async def _connect(self) -> AIOKafkaProducer:
        if self._producer is None:
            self._producer = await started_producer(self._bootstrap, [self._topic], self._partitions,
                                                    self._replication)
        return self._producer

    async def publish_once(self) -> int:
        """Send the next entries above the watermark in index order; returns how many were acknowledged."""
        async with self._db.reading() as session:
            rows = (await session.execute(
                select(LogEntry.index, LogEntry.leaf_hash, LogEntry.entry, LogEntry.appended_at)
                .where(col(LogEntry.index) > self.published_through)
                .order_by(col(LogEntry.index)).limit(self._batch))).all()
        expected = self.published_through + 1
        ready = []
        for index, leaf, entry, appended_at in rows:
            if index != expected:
                break  # never expected (commits come in index order); stop at a hole rather than skip it
            ready.append((index, leaf, entry, appended_at))
            expected += 1
        if not ready:
            return 0
        producer = await self._connect()
        futures = []
        for index, leaf, entry, appended_at in ready:
            key, value, message = stream_message(index, leaf, entry, appended_at.isoformat())
            headers = [*event_headers(message["type"], message["id"]), ("log-index", str(index).encode())]
            futures.append(await producer.send(self._topic, value=value, key=key, headers=headers))
        await asyncio.wait_for(asyncio.gather(*futures), SEND_TIMEOUT_SECONDS)
        through = ready[-1][0]
        async with self._db.writing() as session:
            moved = await session.execute(update(StreamWatermark).where(col(StreamWatermark.name) == WATERMARK)
                                          .values(published_through=through))
            if moved.rowcount == 0:  # type: ignore[attr-defined]
                session.add(StreamWatermark(name=WATERMARK, published_through=through))
        self.published_through = through
        return len(ready)
