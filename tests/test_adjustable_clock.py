"""With CLOCK_MODE=adjustable (the test platform), an admin moves a service's clock; nobody else can."""

from __future__ import annotations

from tests.support.platform import PlatformUnderTest


async def test_an_admin_moves_a_service_clock_and_others_are_refused(platform: PlatformUnderTest) -> None:
    _, person = await platform.person("enterprise")
    before = (await platform.get("crowdsourcing", "/testing/clock")).json()
    async with platform.client("crowdsourcing") as client:
        refused = await client.post("/testing/clock/advance", json={"seconds": 60}, headers=person)
        bad = await client.post("/testing/clock/advance", json={"seconds": -5}, headers=platform.admin)
        moved = await client.post("/testing/clock/advance", json={"seconds": 14 * 86400}, headers=platform.admin)
        unknown_job = await client.post("/testing/jobs/nope/run", headers=platform.admin)
    assert refused.status_code == 403, refused.text
    assert bad.status_code == 422 and bad.json()["errors"][0]["field"] == "seconds"
    assert moved.json()["offset_seconds"] - before["offset_seconds"] == 14 * 86400
    assert unknown_job.status_code == 404
    other = (await platform.get("credit", "/testing/clock")).json()
    assert other["offset_seconds"] == 0  # each service keeps its own clock
