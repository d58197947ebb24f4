"""Residency end to end with the real broker: an application accepted into a cohort, a desk allocated (never
twice), the start-up moved in and graduated, and the metrics counted, in audit as events."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import httpx

from tests.support.platform import PlatformUnderTest, eventually
from tests.test_makerspace_bookings import Space

PREFIX = "cn.sizhong.makerspace"


async def test_application_to_graduation_with_a_desk_and_metrics(platform: PlatformUnderTest) -> None:
    founder_id, founder = await platform.person("founder")
    _, other_founder = await platform.person("founder")
    async with httpx.AsyncClient(base_url=platform.url("makerspace"), timeout=60) as client:
        space = await Space.create(platform, client, tier="national_demonstration")
        cohort = await space.post(f"/spaces/{space.id}/cohorts", {
            "name": "2026 春季营", "starts_at": datetime.now(UTC).isoformat(), "capacity": 10})
        submitted = await client.post(f"/spaces/{space.id}/applications", headers=founder, json={
            "startup_name": "深蓝智造", "summary": "工业视觉检测"})
        assert submitted.status_code == 201, submitted.text
        application = submitted.json()
        assert application["state"] == "submitted"
        path = f"/applications/{application['id']}"
        assert (await client.get(path, headers=other_founder)).status_code == 403
        assert (await client.get(path, headers=founder)).status_code == 200

        too_soon = await client.post(f"{path}/transitions", headers=space.operator, json={"to": "accepted",
                                                                                          "cohort_id": cohort["id"]})
        assert too_soon.status_code == 409 and too_soon.json()["current_state"] == "submitted"
        for to in ("screening", "interview"):
            moved = await client.post(f"{path}/transitions", headers=space.operator, json={"to": to})
            assert moved.status_code == 200 and moved.json()["state"] == to
        accepted = await client.post(f"{path}/transitions", headers=space.operator,
                                     json={"to": "accepted", "cohort_id": cohort["id"]})
        assert accepted.status_code == 200 and accepted.json()["cohort_id"] == cohort["id"]

        desks = [await space.post(f"/spaces/{space.id}/workspaces", {"kind": "desk", "label": f"A-{n}"})
                 for n in range(3)]
        results = await asyncio.gather(*(
            client.put(f"/workspaces/{desks[n % 3]['id']}/allocation", headers=space.operator,
                       json={"application_id": application["id"]}) for n in range(30)))
        assert sorted(r.status_code for r in results).count(200) == 1, [r.text for r in results]
        assert {r.status_code for r in results} == {200, 409}
        held = [d for d in (await client.get(f"/spaces/{space.id}/workspaces", headers=space.operator)).json()
                if d["application_id"]]
        assert len(held) == 1

        moved_in = await client.post(f"{path}/transitions", headers=space.operator, json={"to": "resident"})
        assert moved_in.status_code == 200, moved_in.text
        outcome = await client.post(f"{path}/outcomes", headers=founder,
                                    json={"jobs_created": 12, "funding_raised_fen": 500_000_000})
        assert outcome.status_code == 200, outcome.text
        graduated = await client.post(f"{path}/transitions", headers=space.operator, json={"to": "graduated"})
        assert graduated.status_code == 200 and graduated.json()["state"] == "graduated"
        metrics = (await client.get(f"/spaces/{space.id}/metrics", headers=space.operator)).json()
        assert (metrics["residents"], metrics["graduations"], metrics["jobs_created"],
                metrics["funding_raised_fen"]) == (0, 1, 12, 500_000_000)
        free = [d for d in (await client.get(f"/spaces/{space.id}/workspaces", headers=space.operator)).json()
                if d["application_id"]]
        assert free == []

    async def in_audit() -> None:
        steps = [e["type"] for e in await platform.audit_entries(subject=application["id"])]
        for verb in ("submitted", "screening_started", "interview_scheduled", "accepted", "moved_in",
                     "outcome_reported", "graduated"):
            assert f"{PREFIX}.application.{verb}.v1" in steps, steps
        counted = await platform.audit_entries(subject=space.id, type=f"{PREFIX}.metrics.updated.v1")
        assert counted and any('"graduations":1' in e["entry"].replace(" ", "") for e in counted), counted

    await eventually(in_audit, within=10)
    assert application["applicant_id"] == founder_id  # the application is the signed-up founder's own


async def test_activity_registration_respects_capacity_and_training_sessions_certify(
    platform: PlatformUnderTest,
) -> None:
    async with httpx.AsyncClient(base_url=platform.url("makerspace"), timeout=60) as client:
        space = await Space.create(platform, client)
        start = datetime.now(UTC) + timedelta(days=2)
        roadshow = await space.post(f"/spaces/{space.id}/activities", {
            "kind": "roadshow", "title": "路演日", "starts_at": start.isoformat(),
            "ends_at": (start + timedelta(hours=3)).isoformat(), "capacity": 5})
        people = [await space.member() for _ in range(20)]
        results = await asyncio.gather(*(client.post(f"/activities/{roadshow['id']}/registrations", headers=h)
                                         for _, h in people))
        assert [r.status_code for r in results].count(201) == 5
        assert {r.status_code for r in results} == {201, 409}
        listed = (await client.get(f"/spaces/{space.id}/activities", headers=people[0][1])).json()
        assert listed[0]["registered"] == 5
        again = await client.post(f"/activities/{roadshow['id']}/registrations", headers=people[0][1])
        assert again.status_code == 409
