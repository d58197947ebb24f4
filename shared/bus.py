"""Kafka plumbing used by the relay, the consumers and the tests: topics, producers, headers."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable

from aiokafka import AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from shared.envelope import CONTENT_TYPE

log = logging.getLogger(__name__)
TOPIC_EXISTS = 36
COMPACTED_TOPICS = frozenset({"sizhong.credit.listings"})


async def ensure_topics(bootstrap: str, topics: Iterable[str], partitions: int, replication: int) -> None:
    """Create the topics that do not exist yet; an existing topic is left as it is."""
    wanted = sorted(set(topics))
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=5000)
    await admin.start()
    try:
        existing = set(await admin.list_topics())
        missing = [
            NewTopic(name, partitions, replication,
                     topic_configs={"cleanup.policy": "compact"} if name in COMPACTED_TOPICS else {})
            for name in wanted if name not in existing
        ]
        if missing:
            response = await admin.create_topics(missing)
            for topic, code, *rest in response.topic_errors:
                if code not in (0, TOPIC_EXISTS):
                    raise RuntimeError(f"cannot create topic {topic}: error {code} {rest}")
            log.info("topics created", extra={"topics": [t.name for t in missing]})
    finally:
        await admin.close()


PRODUCER_BATCH_BYTES = 512 * 1024


def new_producer(bootstrap: str) -> AIOKafkaProducer:
    """acks=all, no idempotence (the dev broker has none): duplicates are the consumers' inbox's job.

    Batches of up to 512 KiB per partition: aiokafka keeps one open batch per partition and makes `send()`
    wait for it to be drained once it is full, so with its 16 KiB default a relay batch of 500 ~600-byte
    events waited for about twenty broker round trips before its last event was even queued."""
    return AIOKafkaProducer(
        bootstrap_servers=bootstrap,
        acks="all",
        enable_idempotence=False,
        linger_ms=2,
        max_batch_size=PRODUCER_BATCH_BYTES,
        request_timeout_ms=5000,
        retry_backoff_ms=200,
        metadata_max_age_ms=5000,
    )


async def started_producer(bootstrap: str, topics: Iterable[str], partitions: int,
                           replication: int) -> AIOKafkaProducer:
    """Topics ensured (the dev broker forgets them on restart), then a started producer (stopped on failure)."""
    await ensure_topics(bootstrap, topics, partitions, replication)
    producer = new_producer(bootstrap)
    try:
        await producer.start()
    except BaseException:
        await producer.stop()
        raise
    return producer


async def stop_quietly(producer: AIOKafkaProducer | None) -> None:
    """Stop a producer at shutdown or after a failure, at most 5 s, never raising."""
    if producer is not None:
        try:
            await asyncio.wait_for(producer.stop(), 5)
        except Exception:
            log.debug("producer stop failed", exc_info=True)


def event_headers(event_type: str, event_id: str) -> list[tuple[str, bytes]]:
    """Binary hints beside the structured body, so tools can filter without parsing JSON."""
    return [("content-type", CONTENT_TYPE.encode()), ("ce_type", event_type.encode()),
            ("ce_id", event_id.encode())]


async def broker_reachable(bootstrap: str, wait_seconds: float = 1.0) -> bool:
    """A TCP connection to the first bootstrap address; readiness needs no more than that."""
    host, _, port = bootstrap.split(",")[0].strip().rpartition(":")
    try:
        _reader, writer = await asyncio.wait_for(asyncio.open_connection(host or "127.0.0.1", int(port)),
                                                 wait_seconds)
    except (OSError, TimeoutError, ValueError):
        return False
    writer.close()
    return True
