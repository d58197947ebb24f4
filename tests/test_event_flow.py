"""The first slice end to end: gateway → broker → credit, audit and the four crowd replicas."""

from __future__ import annotations

import time

from aiokafka import AIOKafkaProducer

from tests.support.platform import PlatformUnderTest, eventually, fresh_uscc

CROWDS = ("crowdsourcing", "crowdfunding", "crowdsupport", "makerspace")
REGISTERED = "cn.sizhong.identity.organisation.registered.v1"


async def test_a_registered_organisation_reaches_credit_and_audit_within_two_seconds(
    platform: PlatformUnderTest,
) -> None:
    owner_id, owner = await platform.person("enterprise")
    started = time.monotonic()
    organisation = await platform.register_organisation(owner, name="深圳示例科技有限公司")

    async def in_credit() -> dict:
        record = await platform.credit_record(organisation["id"])
        return record

    async def in_audit() -> list:
        entries = await platform.audit_entries(subject=organisation["id"], type=REGISTERED)
        assert len(entries) == 1
        return entries

    record = await eventually(in_credit, within=2.0)
    entries = await eventually(in_audit, within=2.0 - (time.monotonic() - started) + 0.001)
    assert time.monotonic() - started < 2.0
    assert record["score"] == 600 and record["policy_version"] == "credit-2026.2"
    assert [c["event_type"] for c in record["changes"]] == [REGISTERED]
    assert record["changes"][0]["event_id"] == entries[0]["event_id"]
    assert organisation["uscc_masked"] in entries[0]["entry"]
    assert organisation["uscc_masked"].count("*") == 6

    for crowd in CROWDS:
        async def replica(crowd: str = crowd) -> dict:
            response = await platform.get(crowd, f"/subjects/{organisation['id']}", owner)
            assert response.status_code == 200, response.text
            return dict(response.json())

        row = await eventually(replica, within=5)
        assert row["name"] == "深圳示例科技有限公司"
        assert row["owner_id"] == owner_id
        assert row["region_code"] == "110108"


async def test_the_same_event_delivered_twice_is_applied_once(platform: PlatformUnderTest) -> None:
    _, owner = await platform.person("enterprise")
    marks = {service: await platform.feed_head(service) for service in ("gateway", "credit")}
    organisation = await platform.register_organisation(owner)
    await eventually(lambda: platform.credit_record(organisation["id"]))
    [envelope] = [e for e in await platform.feed("gateway", marks["gateway"]) if e["subject"] == organisation["id"]]
    before = {s: (await platform.completeness(s))["duplicates_skipped"] for s in ("credit", "audit")}

    producer = AIOKafkaProducer(bootstrap_servers=platform.platform.broker.bootstrap)
    await producer.start()
    try:
        raw = __import__("json").dumps(envelope).encode()
        for _ in range(2):
            await producer.send_and_wait("sizhong.gateway.events", raw, key=organisation["id"].encode())
    finally:
        await producer.stop()

    async def both_skipped() -> None:
        for service in ("credit", "audit"):
            assert (await platform.completeness(service))["duplicates_skipped"] >= before[service] + 2

    await eventually(both_skipped, within=10)
    record = await platform.credit_record(organisation["id"])
    assert len(record["changes"]) == 1
    assert len(await platform.audit_entries(event_id=envelope["id"])) == 1
    credit_feed = await platform.feed("credit", marks["credit"])
    assert [e["subject"] for e in credit_feed].count(organisation["id"]) == 1


async def test_the_callers_trace_reaches_the_event_and_the_response(platform: PlatformUnderTest) -> None:
    _, owner = await platform.person("enterprise")
    mark = await platform.feed_head("gateway")
    trace = "4bf92f3577b34da6a3ce929d0e0e4736"
    async with platform.client("gateway") as gateway:
        response = await gateway.post("/organisations", json={"name": "Traced Org", "uscc": fresh_uscc()},
                                      headers={**owner, "traceparent": f"00-{trace}-00f067aa0ba902b7-01"})
    assert response.status_code == 201
    assert response.headers["traceparent"].split("-")[1] == trace
    [event] = [e for e in await platform.feed("gateway", mark) if e["subject"] == response.json()["id"]]
    assert event["traceparent"].split("-")[1] == trace
