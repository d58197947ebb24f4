"""Maker-space: every mutating endpoint refuses the wrong role and the wrong owner (403); bad input is a 422
problem+json naming the field, never a 500."""

from __future__ import annotations

import json
import secrets
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from tests.support.platform import PlatformUnderTest, mint
from tests.test_makerspace_bookings import Space, book, next_slot

PROBLEM = "application/problem+json"


async def _scenario(platform: PlatformUnderTest, client: httpx.AsyncClient) -> tuple[Space, dict[str, str]]:
    space = await Space.create(platform, client)
    ids: dict[str, str] = {"space": space.id}
    ids["room"] = (await space.resource(name="R", requires_approval=True,
                                        check_in_opens_before_minutes=600))["id"]
    ids["training"] = (await space.post(f"/spaces/{space.id}/trainings",
                                        {"name": "T", "validity_months": 1, "lapse_after_days": 5}))["id"]
    member_id, member = await space.member()
    ids["member"] = member_id
    ids["plan"] = space.plan_id or ""
    placed = await book(client, ids["room"], member, next_slot(1))
    assert placed.status_code == 201, placed.text
    ids["booking"] = placed.json()["id"]
    founder = mint(f"f-{secrets.token_hex(4)}", "founder")
    ids["application"] = (await client.post(f"/spaces/{space.id}/applications", headers=founder,
                                            json={"startup_name": "S", "summary": "x"})).json()["id"]
    ids["workspace"] = (await space.post(f"/spaces/{space.id}/workspaces", {"kind": "office", "label": "O1"}))["id"]
    start = datetime.now(UTC) + timedelta(days=1)
    ids["activity"] = (await space.post(f"/spaces/{space.id}/activities", {
        "kind": "training", "title": "T", "starts_at": start.isoformat(),
        "ends_at": (start + timedelta(hours=1)).isoformat(), "capacity": 3, "training_id": ids["training"]}))["id"]
    return space, ids


def _operator_calls(ids: dict[str, str]) -> list[tuple[str, str, dict[str, Any] | None]]:
    now = datetime.now(UTC)
    return [
        ("POST", f"/spaces/{ids['space']}/resources", {"kind": "room", "name": "X"}),
        ("POST", f"/spaces/{ids['space']}/trainings", {"name": "X", "validity_months": 1, "lapse_after_days": 1}),
        ("POST", f"/trainings/{ids['training']}/certifications", {"member_id": ids["member"]}),
        ("POST", f"/spaces/{ids['space']}/plans", {"name": "X", "daily_quota_minutes": 60, "credits": 1}),
        ("POST", f"/spaces/{ids['space']}/subscriptions", {
            "plan_id": ids["plan"], "member_id": "someone", "starts_at": now.isoformat(),
            "ends_at": (now + timedelta(days=1)).isoformat()}),
        ("POST", f"/bookings/{ids['booking']}/approve", None),
        ("POST", f"/bookings/{ids['booking']}/reject", {"reason": "no"}),
        ("POST", f"/bookings/{ids['booking']}/no-show", None),
        ("POST", f"/applications/{ids['application']}/transitions", {"to": "screening"}),
        ("POST", f"/spaces/{ids['space']}/cohorts", {"name": "C", "starts_at": now.isoformat(), "capacity": 1}),
        ("POST", f"/spaces/{ids['space']}/workspaces", {"kind": "desk", "label": "X"}),
        ("PUT", f"/workspaces/{ids['workspace']}/allocation", {"application_id": ids["application"]}),
        ("DELETE", f"/workspaces/{ids['workspace']}/allocation", None),
        ("POST", f"/spaces/{ids['space']}/activities", {
            "kind": "roadshow", "title": "X", "starts_at": (now + timedelta(days=1)).isoformat(),
            "ends_at": (now + timedelta(days=1, hours=1)).isoformat(), "capacity": 1}),
        ("POST", f"/activities/{ids['activity']}/attendance", {"member_id": ids["member"]}),
    ]


async def test_every_mutating_endpoint_refuses_wrong_roles_and_wrong_owners(platform: PlatformUnderTest) -> None:
    async with httpx.AsyncClient(base_url=platform.url("makerspace"), timeout=60) as client:
        space, ids = await _scenario(platform, client)
        resident = mint(ids["member"], "resident")
        other_operator = mint(f"op-{secrets.token_hex(4)}", "space_operator")
        regulator = mint("reg-1", "regulator")
        for method, path, body in _operator_calls(ids):
            for who, headers in (("wrong role", resident), ("wrong owner", other_operator),
                                 ("regulator", regulator)):
                response = await client.request(method, path, headers=headers, json=body)
                assert response.status_code == 403, (who, method, path, response.text)
                assert response.headers["content-type"] == PROBLEM
            assert (await client.request(method, path, json=body)).status_code == 401, path

        # role-gated endpoints of members and applicants
        investor = mint("inv-1", "investor")
        assert (await client.post("/spaces", headers=resident, json={
            "name": "X", "tier": "district_point", "region_code": "110108", "capacity": 1})).status_code == 403
        assert (await book(client, ids["room"], investor, next_slot(6))).status_code == 403
        assert (await client.post(f"/resources/{ids['room']}/bookings/recurring", headers=investor, json={
            "local_start": "2030-01-01T10:00:00", "duration_minutes": 60, "count": 1})).status_code == 403
        stranger = mint(f"m-{secrets.token_hex(4)}", "resident")  # holds no subscription here
        no_sub = await book(client, ids["room"], stranger, next_slot(6))
        assert no_sub.status_code == 403 and no_sub.json()["rule"] == "no_subscription"
        assert (await client.post(f"/spaces/{space.id}/applications", headers=investor,
                                  json={"startup_name": "S", "summary": "x"})).status_code == 403
        # a booking is the member's: nobody else cancels or checks in, another operator neither
        for action in ("cancel", "check-in"):
            for headers in (stranger, other_operator):
                response = await client.post(f"/bookings/{ids['booking']}/{action}", headers=headers)
                assert response.status_code == 403, (action, response.text)
        # outcomes: the applicant or the space's operator only
        outcome = {"jobs_created": 1, "funding_raised_fen": 1}
        for headers in (stranger, other_operator):
            response = await client.post(f"/applications/{ids['application']}/outcomes", headers=headers,
                                         json=outcome)
            assert response.status_code == 403, response.text
        service = mint("service:other", "service")
        assert (await client.post(f"/activities/{ids['activity']}/registrations", headers=service)).status_code in (
            401, 403)
        # reads: operator data is for the operator, a regulator or an admin
        for path in (f"/spaces/{space.id}/bookings", f"/spaces/{space.id}/applications",
                     f"/spaces/{space.id}/workspaces", f"/spaces/{space.id}/metrics"):
            assert (await client.get(path, headers=other_operator)).status_code == 403, path
            assert (await client.get(path, headers=regulator)).status_code == 200, path
            assert (await client.get(path, headers=space.operator)).status_code == 200, path
        # and the owner succeeds where the others were refused
        approved = await client.post(f"/bookings/{ids['booking']}/approve", headers=space.operator)
        assert approved.status_code == 200, approved.text


@pytest.mark.parametrize(("path_key", "body", "field"), [
    ("spaces", {"name": "X", "tier": "galactic", "region_code": "110108", "capacity": 1}, "tier"),
    ("spaces", {"name": "X", "tier": "district_point", "region_code": "11010", "capacity": 1}, "region_code"),
    ("spaces", {"name": "X", "tier": "district_point", "region_code": "110108", "capacity": -1}, "capacity"),
    ("spaces", {"name": "a\x00b", "tier": "district_point", "region_code": "110108", "capacity": 1}, "name"),
    ("spaces", {"name": "X", "tier": "district_point", "region_code": "110108", "capacity": 1,
                "timezone": "Mars/Olympus"}, "timezone"),
    ("spaces", {"name": "X", "tier": "district_point", "region_code": "110108", "capacity": 1,
                "kind": "industry"}, "industry"),
    ("spaces", {"name": "X", "tier": "district_point", "region_code": "110108", "capacity": 1, "extra": 1}, "extra"),
    ("resources", {"kind": "room", "name": "X", "slot_minutes": 7}, "slot_minutes"),
    ("resources", {"kind": "room", "name": "X", "parent_id": "nope"}, "parent_id"),
    ("resources", {"kind": "room", "name": "X", "min_duration_minutes": 90, "max_duration_minutes": 60},
     "min_duration_minutes"),
    ("resources", {"kind": "room", "name": "X", "required_training_id": "unknown"}, "required_training_id"),
    ("resources", {"kind": "room", "name": "X", "credits_per_hour": 10**12}, "credits_per_hour"),
    ("resources", {"kind": "drone", "name": "X"}, "kind"),
    ("bookings", {"start": "2030-01-01T10:00:00", "end": "2030-01-01T11:00:00"}, "start"),
    ("bookings", {"start": "tomorrow", "end": "2030-01-01T11:00:00+08:00"}, "start"),
    ("bookings", {"start": "2020-01-01T10:00:00+08:00", "end": "2020-01-01T11:00:00+08:00"}, "start"),
    ("bookings", {"start": "2030-01-01T10:00:00+08:00", "end": "2030-01-01T11:00:00+08:00"}, "start"),  # notice
    ("bookings", {"start": "9999-12-31T23:30:00+00:00", "end": "9999-12-31T23:59:00+00:00"}, "start"),
    ("recurring", {"local_start": "2030-01-01T10:00:00", "duration_minutes": 60, "count": 1000}, "count"),
    ("recurring", {"local_start": "2030-01-01T10:00:00", "duration_minutes": 0, "count": 1}, "duration_minutes"),
    ("subscriptions", {"plan_id": "x", "member_id": "m", "starts_at": "2030-01-01T00:00:00+08:00",
                       "ends_at": "2030-01-02T00:00:00+08:00"}, "plan_id"),
    ("subscriptions", {"plan_id": "x", "member_id": "m\x00", "starts_at": "2030-01-01T00:00:00+08:00",
                       "ends_at": "2030-01-02T00:00:00+08:00"}, "member_id"),
    ("transitions", {"to": "teleported"}, "to"),
    ("transitions", {"to": "rejected"}, "reason"),
    ("cohorts", {"name": "C", "starts_at": "2030-01-01T00:00:00", "capacity": 1}, "starts_at"),
    ("cohorts", {"name": "C", "starts_at": "2030-01-01T00:00:00Z", "capacity": 0}, "capacity"),
    ("activities", {"kind": "training", "title": "T", "starts_at": "2030-01-01T00:00:00Z",
                    "ends_at": "2030-01-01T01:00:00Z", "capacity": 1}, "training_id"),
    ("activities", {"kind": "roadshow", "title": "T", "starts_at": "2030-01-01T02:00:00Z",
                    "ends_at": "2030-01-01T01:00:00Z", "capacity": 1}, "ends_at"),
    ("outcomes", {"jobs_created": -1, "funding_raised_fen": 0}, "jobs_created"),
    ("outcomes", {"jobs_created": 1, "funding_raised_fen": 1.5}, "funding_raised_fen"),
])
async def test_bad_input_is_a_422_naming_the_field(platform: PlatformUnderTest, path_key: str, body: dict[str, Any],
                                                   field: str) -> None:
    async with httpx.AsyncClient(base_url=platform.url("makerspace"), timeout=60) as client:
        space = await Space.create(platform, client)
        room = await space.resource(name="R")
        _, member = await space.member()
        founder_id = f"f-{secrets.token_hex(4)}"
        application = (await client.post(f"/spaces/{space.id}/applications", headers=mint(founder_id, "founder"),
                                          json={"startup_name": "S", "summary": "x"})).json()
        paths = {
            "spaces": ("/spaces", space.operator), "resources": (f"/spaces/{space.id}/resources", space.operator),
            "bookings": (f"/resources/{room['id']}/bookings", member),
            "recurring": (f"/resources/{room['id']}/bookings/recurring", member),
            "subscriptions": (f"/spaces/{space.id}/subscriptions", space.operator),
            "transitions": (f"/applications/{application['id']}/transitions", space.operator),
            "cohorts": (f"/spaces/{space.id}/cohorts", space.operator),
            "activities": (f"/spaces/{space.id}/activities", space.operator),
            "outcomes": (f"/applications/{application['id']}/outcomes", space.operator),
        }
        path, headers = paths[path_key]
        response = await client.post(path, headers=headers, json=body)
    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == PROBLEM
    assert field in {error["field"] for error in response.json()["errors"]}, response.json()


async def test_garbage_never_makes_a_500(platform: PlatformUnderTest) -> None:
    rng = secrets.SystemRandom()
    values: list[object] = [None, 0, -1, 2**63, 1.5, True, "", "x" * 300, [], {}, "\x00", "a\x00b",
                            "' OR 1=1 --", "2030-02-30T10:00:00+08:00", "9999-12-31T23:59:59+14:00",
                            "0001-01-01T00:00:00-12:00", "名字\u202e", "Europe/../../etc"]
    keys = ["name", "tier", "region_code", "capacity", "timezone", "start", "end", "kind", "parent_id",
            "local_start", "duration_minutes", "count", "to", "cohort_id", "label", "member_id", "starts_at"]
    async with httpx.AsyncClient(base_url=platform.url("makerspace"), timeout=60) as client:
        space = await Space.create(platform, client)
        room = await space.resource(name="R")
        _, member = await space.member()
        targets = [("/spaces", space.operator), (f"/spaces/{space.id}/resources", space.operator),
                   (f"/resources/{room['id']}/bookings", member),
                   (f"/resources/{room['id']}/bookings/recurring", member),
                   (f"/spaces/{space.id}/cohorts", space.operator),
                   (f"/spaces/{space.id}/workspaces", space.operator)]
        for _ in range(120):
            path, headers = rng.choice(targets)
            body = {key: rng.choice(values) for key in rng.sample(keys, k=rng.randint(1, 5))}
            response = await client.post(path, headers=headers, content=json.dumps(body),
                                          params={"limit": rng.choice(["1", "-1", "x", "%00"])})
            assert 400 <= response.status_code < 500, (path, body, response.text)
        for path in ("/spaces/%00", "/bookings/a%00b", "/spaces/" + "x" * 300, "/bookings/..%2f..",
                     "/spaces?limit=100000", "/bookings/mine?offset=-1"):
            assert 400 <= (await client.get(path, headers=member)).status_code < 500, path
