"""Faults on a platform of its own: the broker away, the broker forgetting, a consumer killed mid-way."""

from __future__ import annotations

import asyncio
import signal
import time
from collections.abc import Iterator
from typing import Any

import pytest

from tests.support.platform import PlatformUnderTest, eventually, start_platform

REGISTERED = "cn.sizhong.identity.organisation.registered.v1"


@pytest.fixture(scope="module")
def faulty(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PlatformUnderTest]:
    yield from start_platform(tmp_path_factory.mktemp("faults"), ("gateway", "credit", "audit"))


async def register_many(platform: PlatformUnderTest, count: int) -> list[dict[str, Any]]:
    _, owner = await platform.person("enterprise")
    limit = asyncio.Semaphore(10)

    async def one() -> dict[str, Any]:
        async with limit:
            return await platform.register_organisation(owner)

    return list(await asyncio.gather(*(one() for _ in range(count))))


async def assert_each_applied_exactly_once(platform: PlatformUnderTest, organisations: list[dict[str, Any]],
                                           within: float) -> None:
    wanted = {o["id"] for o in organisations}

    async def all_in_audit() -> list[dict[str, Any]]:
        entries: list[dict[str, Any]] = []
        after = -1
        while True:
            page = (await platform.get("audit", "/log/entries", platform.regulator, type=REGISTERED,
                                       after_index=after, limit=1000)).json()
            entries += page["entries"]
            if len(page["entries"]) < 1000:
                break
            after = page["next_after_index"]
        mine = [e for e in entries if e["subject"] in wanted]
        assert {e["subject"] for e in mine} == wanted, f"{len(wanted - {e['subject'] for e in mine})} missing"
        return mine

    async def all_in_credit() -> None:
        missing = 0
        for organisation in organisations:
            response = await platform.get("credit", f"/records/{organisation['id']}")
            if response.status_code != 200:
                missing += 1
            else:
                assert len(response.json()["changes"]) == 1
        assert missing == 0, f"{missing} not in credit yet"

    mine = await eventually(all_in_audit, within=within, every=0.5)
    assert len(mine) == len(wanted)  # none twice
    await eventually(all_in_credit, within=within, every=0.5)


async def test_broker_down_for_ten_seconds_while_two_hundred_register(faulty: PlatformUnderTest) -> None:
    broker = faulty.platform.broker
    broker.stop()
    stopped_at = time.monotonic()
    organisations = await register_many(faulty, 200)
    assert len({o["id"] for o in organisations}) == 200
    await asyncio.sleep(max(0.0, 10 - (time.monotonic() - stopped_at)))
    ready = await faulty.get("gateway", "/readyz")
    assert ready.status_code == 503 and ready.json()["checks"]["broker"] == "unreachable"
    broker.start()  # a new, empty broker on the same port
    await assert_each_applied_exactly_once(faulty, organisations, within=60)


async def test_broker_restarted_empty_while_a_consumer_was_behind(faulty: PlatformUnderTest) -> None:
    credit = faulty.platform.services["credit"]
    credit.stop()
    published_before = (await faulty.completeness("gateway"))["relay"]["published_total"]
    organisations = await register_many(faulty, 20)

    async def all_published() -> None:
        published = (await faulty.completeness("gateway"))["relay"]["published_total"]
        assert published >= published_before + 20

    await eventually(all_published, within=20)
    faulty.platform.broker.stop()  # everything on the broker is gone, including what credit missed
    faulty.platform.broker.start()
    faulty.platform.start_service("credit").wait_healthy(probe="/readyz")
    await assert_each_applied_exactly_once(faulty, organisations, within=30)
    assert (await faulty.completeness("credit"))["backfilled"] >= 20


async def test_consumer_killed_after_commit_before_offset_commit_applies_once(faulty: PlatformUnderTest) -> None:
    faulty.platform.services["credit"].stop()
    victim = faulty.platform.start_service("credit", {"FAULT_KILL_AFTER_COMMIT_TYPE": REGISTERED,
                                                      "RECONCILE_INTERVAL_SECONDS": "600"})
    victim.wait_healthy(probe="/readyz")
    async def start_up_reconcile_done() -> None:  # so that the Kafka path, not the feed, applies the new event
        assert "gateway" in (await faulty.completeness("credit"))["reconciled"]

    await eventually(start_up_reconcile_done, within=15)
    [organisation] = await register_many(faulty, 1)

    async def killed() -> None:
        assert victim.process is not None and victim.process.poll() == -signal.SIGKILL

    await eventually(killed, within=15)
    faulty.platform.start_service("credit").wait_healthy(probe="/readyz")
    await assert_each_applied_exactly_once(faulty, [organisation], within=20)

    async def redelivery_skipped() -> None:
        assert (await faulty.completeness("credit"))["duplicates_skipped"] >= 1

    await eventually(redelivery_skipped, within=10)
    credit_feed = (await faulty.get("credit", "/events", limit=1000)).json()["events"]
    assert [e["subject"] for e in credit_feed].count(organisation["id"]) == 1
