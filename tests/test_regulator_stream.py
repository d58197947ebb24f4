"""The regulator side of audit end to end with the real broker: a plain aiokafka consumer (not our consumer code)
reads `sizhong.audit.events` and finds an appended entry with its log index and a masked resident number; the
query API filters by subject, source, type and time and exports JSON lines and CSV, masked; a gap the source's
feed cannot fill is listed on audit's completeness endpoint and reported once as an event; statistics count
activity in the crowds per day and region. Only regulators (and admins) read; bad input gets a 4xx."""

from __future__ import annotations

import asyncio
import csv
import io
import json
import secrets
from datetime import UTC, datetime, timedelta
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from audit.domain.statistics import SUCCESS_RATES

from shared.envelope import CloudEvent
from shared.ids import new_id
from tests.support.platform import PlatformUnderTest, eventually, mint
from tests.test_makerspace_bookings import Space

RESIDENT_ID = "11010519491231002X"
MASKED_ID = "110105********002X"
APPENDED = "cn.sizhong.audit.entry.appended.v1"


async def inject(platform: PlatformUnderTest, source: str, sequence: int, data: dict[str, Any]) -> CloudEvent:
    """An event put on a source's topic directly (as a misbehaving or restarted producer might), with a
    sequence that source's feed does not have."""
    event = CloudEvent(id=new_id(), source=f"/sizhong/{source}", type=f"cn.sizhong.{source}.probe.sent.v1",
                       time=datetime.now(UTC), subject=f"probe-{secrets.token_hex(4)}", data=data, sequence=sequence,
                       partitionkey="probe", actor="tester")
    producer = AIOKafkaProducer(bootstrap_servers=platform.platform.broker.bootstrap)
    await producer.start()
    try:
        await producer.send_and_wait(f"sizhong.{source}.events", event.to_json_bytes(), key=b"probe")
    finally:
        await producer.stop()
    return event


async def read_topic(platform: PlatformUnderTest, topic: str, wanted: Any, within: float = 20) -> dict[str, Any]:
    """A plain aiokafka consumer from the beginning of the topic, as a regulator's client would run."""
    consumer = AIOKafkaConsumer(topic, bootstrap_servers=platform.platform.broker.bootstrap,
                                group_id=f"regulator-{secrets.token_hex(4)}", auto_offset_reset="earliest")
    await consumer.start()
    try:
        deadline = asyncio.get_running_loop().time() + within
        while asyncio.get_running_loop().time() < deadline:
            for records in (await consumer.getmany(timeout_ms=500)).values():
                for record in records:
                    value = json.loads(record.value or b"{}")
                    if wanted(value):
                        return dict(value)
        raise AssertionError(f"nothing wanted on {topic} within {within}s")
    finally:
        await consumer.stop()


async def test_a_plain_kafka_client_reads_an_appended_entry_with_its_index_and_masked_numbers(
    platform: PlatformUnderTest,
) -> None:
    sent = await inject(platform, "crowdsupport", 1_900_000_000 + secrets.randbelow(10_000_000),
                        {"applicant_id_number": RESIDENT_ID, "note": f"申请人 {RESIDENT_ID}"})
    message = await read_topic(platform, "sizhong.audit.events",
                               lambda v: v.get("type") == APPENDED and v["data"]["event"]["id"] == sent.id)
    data = message["data"]
    assert message["source"] == "/sizhong/audit/log" and message["specversion"] == "1.0"
    assert data["event"]["data"] == {"applicant_id_number": MASKED_ID, "note": f"申请人 {MASKED_ID}"}
    assert RESIDENT_ID not in json.dumps(message, ensure_ascii=False)
    [entry] = await platform.audit_entries(event_id=sent.id)
    assert data["index"] == message["logindex"] == entry["index"] and data["leaf_hash"] == entry["leaf_hash"]
    assert message["sequence"] == entry["index"] + 1


async def test_a_gap_the_feed_cannot_fill_is_listed_and_reported_once(platform: PlatformUnderTest) -> None:
    sequence = 1_500_000_000 + secrets.randbelow(100_000_000)
    sent = await inject(platform, "crowdsupport", sequence, {"n": 1})
    await eventually(lambda: _one(platform, event_id=sent.id), within=15)
    async with platform.client("audit") as audit:
        await audit.post("/testing/jobs/unfilled_gaps/run", headers=platform.admin)  # noticed: since-when
        await audit.post("/testing/clock/advance", headers=platform.admin, json={"seconds": 31})
        reported = await audit.post("/testing/jobs/unfilled_gaps/run", headers=platform.admin)
        assert reported.status_code == 200, reported.text
        await audit.post("/testing/jobs/unfilled_gaps/run", headers=platform.admin)  # reports nothing twice
        gaps = [g for g in (await platform.completeness("audit"))["unfilled_gaps"]
                if g["source"] == "/sizhong/crowdsupport" and g["last_missing"] == sequence - 1]
        assert len(gaps) == 1 and gaps[0]["since"] and gaps[0]["reported_at"], gaps
    events = await _own_events(platform, "cn.sizhong.audit.gap.unfilled.v1")
    mine = [e for e in events if e["data"]["last_missing"] == sequence - 1]
    assert len(mine) == 1, mine  # once per gap, however often the job runs
    assert mine[0]["data"]["first_missing"] == gaps[0]["first_missing"]
    notice = await read_topic(platform, "sizhong.audit.events", lambda v: v.get("id") == mine[0]["id"])
    assert notice["source"] == "/sizhong/audit" and notice["data"]["source"] == "/sizhong/crowdsupport"


async def _own_events(platform: PlatformUnderTest, event_type: str) -> list[dict[str, Any]]:
    """Audit's own outbox feed, filtered by type (all pages)."""
    found: list[dict[str, Any]] = []
    after = 0
    async with platform.client("audit") as audit:
        while True:
            page = (await audit.get("/events", headers=platform.admin, params={"after": after, "limit": 1000})).json()
            found += [e for e in page["events"] if e["type"] == event_type]
            if len(page["events"]) < 1000:
                return found
            after = page["next_after"]


async def test_query_and_export_by_subject_source_type_and_time_masked(platform: PlatformUnderTest) -> None:
    sent = await inject(platform, "crowdsupport", 1_800_000_000 + secrets.randbelow(10_000_000),
                        {"id_number": RESIDENT_ID})
    await eventually(lambda: _one(platform, subject=sent.subject), within=15)
    since = (sent.time - timedelta(seconds=5)).isoformat()
    until = (sent.time + timedelta(seconds=5)).isoformat()
    params = {"subject": sent.subject, "source": "crowdsupport", "type": sent.type, "from": since, "to": until}
    async with platform.client("audit") as audit:
        page = (await audit.get("/regulator/events", headers=platform.regulator, params=params)).json()
        [found] = page["events"]
        assert found["event"]["id"] == sent.id and found["event"]["data"]["id_number"] == MASKED_ID
        later = {**params, "from": until, "to": (sent.time + timedelta(hours=1)).isoformat()}
        assert (await audit.get("/regulator/events", headers=platform.regulator, params=later)).json()["events"] == []
        lines = (await audit.get("/regulator/events/export", headers=platform.regulator, params=params)).text
        [line] = lines.splitlines()
        assert json.loads(line)["event"]["id"] == sent.id and RESIDENT_ID not in lines
        exported = await audit.get("/regulator/events/export", headers=platform.regulator,
                                   params={**params, "format": "csv"})
        assert exported.headers["content-type"].startswith("text/csv")
        rows = list(csv.DictReader(io.StringIO(exported.text)))
        assert [r["event_id"] for r in rows] == [sent.id] and MASKED_ID in rows[0]["data"]
        everyone = (await audit.get("/regulator/events", headers=platform.regulator, params={"limit": 2})).json()
        assert len(everyone["events"]) == 2 and everyone["more"] is True
        following = (await audit.get("/regulator/events", headers=platform.regulator,
                                     params={"limit": 2, "after_index": everyone["next_after_index"]})).json()
        assert following["events"][0]["index"] > everyone["events"][-1]["index"]

        bad: list[tuple[dict[str, Any], str]] = [
            ({"from": "yesterday"}, "from"), ({"from": "2026-01-01T00:00:00"}, "from"),
            ({"from": until, "to": since}, "from"), ({"limit": 0}, "limit"), ({"after_index": -5}, "after_index"),
            ({"source": "Not A Service"}, "source"), ({"format": "xml"}, "format")]
        for query, field in bad:
            path = "/regulator/events/export" if "format" in query else "/regulator/events"
            response = await audit.get(path, headers=platform.regulator, params=query)
            assert response.status_code == 422, (query, response.text)
            assert field in json.dumps(response.json()), (query, response.text)
        assert (await audit.get("/regulator/events", headers=mint("x", "investor"))).status_code == 403
        assert (await audit.get("/regulator/events")).status_code == 401


async def _one(platform: PlatformUnderTest, **filters: Any) -> None:
    assert len(await platform.audit_entries(**filters)) == 1


async def test_statistics_count_crowd_activity_per_day_and_region(platform: PlatformUnderTest) -> None:
    today = datetime.now(UTC).astimezone().date()
    window = {"from": (today - timedelta(days=2)).isoformat(), "to": (today + timedelta(days=2)).isoformat()}

    async def spaces_in(region: str) -> int:
        response = await platform.get("audit", "/statistics", platform.regulator, crowd="makerspace",
                                      metric="spaces_registered", region=region, **window)
        assert response.status_code == 200, response.text
        return sum(row["count"] for row in response.json()["rows"])

    before = await spaces_in("4403")
    async with platform.client("makerspace") as client:
        await Space.create(platform, client, region_code="440305")

    async def counted() -> None:
        assert await spaces_in("4403") == before + 1
        assert await spaces_in("440305") >= 1

    await eventually(counted, within=15)
    everything = (await platform.get("audit", "/statistics", platform.regulator, **window)).json()
    assert {"crowdsourcing", "crowdfunding", "makerspace"} <= set(everything["success_rates"])
    assert set(everything["success_rates"]) == set(SUCCESS_RATES), everything["success_rates"]
    assert all(t["count"] >= 1 for t in everything["totals"])
    totals = {(t["crowd"], t["metric"]): t for t in everything["totals"]}
    assert totals[("makerspace", "spaces_registered")]["count"] >= before + 1, totals  # the space just registered
    for (crowd, metric), total in totals.items():  # each total adds up its metric's rows over days and regions
        rows = [r for r in everything["rows"] if (r["crowd"], r["metric"]) == (crowd, metric)]
        assert (total["count"], total["total"]) == (sum(r["count"] for r in rows), sum(r["total"] for r in rows))
    for crowd, (success, failures) in SUCCESS_RATES.items():  # each rate from its crowd's totals
        won = totals.get((crowd, success), {"count": 0})["count"]
        lost = sum(totals.get((crowd, failure), {"count": 0})["count"] for failure in failures)
        rate = everything["success_rates"][crowd]
        assert (rate["successes"], rate["failures"]) == (won, lost), (crowd, rate, totals)
        assert rate["rate"] == (round(won / (won + lost), 4) if won + lost else None), (crowd, rate)
    async with platform.client("audit") as audit:
        bad = [({"from": "2026-02-30", "to": "2026-03-01"}, "from"), ({**window, "crowd": "banking"}, "crowd"),
               ({**window, "metric": "nope"}, "metric"), ({"from": window["to"], "to": window["from"]}, "to"),
               ({**window, "region": "44x"}, "region"), ({"from": "2020-01-01", "to": "2026-01-01"}, "to"),
               ({"to": window["to"]}, "from")]
        for query, field in bad:
            response = await audit.get("/statistics", headers=platform.regulator, params=query)
            assert response.status_code == 422, (query, response.text)
            assert field in json.dumps(response.json()), (query, response.text)
