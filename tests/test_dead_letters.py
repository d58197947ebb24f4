"""A malformed event goes to the dead-letter topic with error headers, and consuming carries on."""

from __future__ import annotations

import secrets

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

from tests.support.platform import PlatformUnderTest, eventually


async def test_a_malformed_event_is_dead_lettered_and_the_consumer_keeps_consuming(
    platform: PlatformUnderTest,
) -> None:
    bootstrap = platform.platform.broker.bootstrap
    poison = f"not a cloud event {secrets.token_hex(8)}".encode()
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap)
    await producer.start()
    try:
        await producer.send_and_wait("sizhong.gateway.events", poison, key=b"poison")
    finally:
        await producer.stop()

    _, owner = await platform.person("enterprise")
    organisation = await platform.register_organisation(owner)
    await eventually(lambda: platform.credit_record(organisation["id"]), within=10)

    reader = AIOKafkaConsumer("sizhong.gateway.events.dlq", bootstrap_servers=bootstrap,
                              group_id=f"test-dlq-{secrets.token_hex(4)}", auto_offset_reset="earliest",
                              enable_auto_commit=False)
    await reader.start()
    seen: dict[str, dict[str, bytes]] = {}
    try:
        async def dead_lettered_by_credit_and_audit() -> None:
            batches = await reader.getmany(timeout_ms=500)
            for records in batches.values():
                for record in records:
                    if record.value == poison:
                        headers = dict(record.headers)
                        seen[headers["error.consumer"].decode()] = headers
            assert {"credit", "audit", "crowdfunding"} <= set(seen)

        await eventually(dead_lettered_by_credit_and_audit, within=15)
    finally:
        await reader.stop()
    headers = seen["credit"]
    assert headers["original.topic"] == b"sizhong.gateway.events"
    assert headers["error.type"] == b"ValidationError"
    assert int(headers["original.offset"]) >= 0
    assert (await platform.completeness("credit"))["dead_lettered"] >= 1
