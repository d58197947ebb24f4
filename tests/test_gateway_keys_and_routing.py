"""API keys accepted by every service, the gateway's one public API (/api/<service>/...) and the aggregated
profile, end to end over real HTTP: a regulator's key reads the audit log, and is refused within 2 s of its
revocation; wrong roles and owners are refused; a service that is down or hangs is named, not fatal."""

from __future__ import annotations

import signal
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from gateway.domain.roles import ADMIN_GRANTED, SELF_SERVICE
from gateway.routing import end_to_end

from shared.auth import ROLES
from tests.support.platform import PlatformUnderTest, eventually, start_platform


async def regulator(platform: PlatformUnderTest) -> tuple[str, dict[str, str]]:
    """A gateway person an admin made a regulator, logged in again so the token carries the role."""
    person_id, headers = await platform.person("solver")
    async with platform.client("gateway") as gateway:
        granted = await gateway.post(f"/people/{person_id}/roles", headers=platform.admin, json={"role": "regulator"})
        assert granted.status_code == 200, granted.text
        username = (await gateway.get(f"/people/{person_id}", headers=headers)).json()["username"]
        token = await gateway.post("/token", data={"grant_type": "password", "username": username,
                                                   "password": "password-123"})
    return person_id, {"Authorization": f"Bearer {token.json()['access_token']}"}


async def test_a_regulators_api_key_reads_the_audit_log_until_revoked(platform: PlatformUnderTest) -> None:
    regulator_id, reg = await regulator(platform)
    _, founder = await platform.person("founder")
    async with platform.client("gateway") as gateway:
        assert (await gateway.post("/api-keys", headers=founder, json={})).status_code == 403
        for_other = await gateway.post("/api-keys", headers=reg, json={"subject_id": "someone-else"})
        assert for_other.status_code == 403
        too_much = await gateway.post("/api-keys", headers=reg, json={"roles": ["admin"]})
        assert too_much.status_code == 422 and too_much.json()["errors"][0]["field"] == "roles"
        bad = await gateway.post("/api-keys", headers=reg, json={"expires_in_days": 0})
        assert bad.status_code == 422 and bad.json()["errors"][0]["field"] == "expires_in_days"
        issued = await gateway.post("/api-keys", headers=reg, json={"roles": ["regulator"], "label": "stream"})
        assert issued.status_code == 201, issued.text
        key, key_id = issued.json()["api_key"], issued.json()["key_id"]
        listed = await gateway.get("/api-keys", headers=reg)
        assert [k["key_id"] for k in listed.json()] == [key_id] and key not in listed.text
        assert (await gateway.get("/api-keys", headers=founder, params={"subject_id": regulator_id})).status_code == 403
        assert (await gateway.get("/auth/me", headers={"X-API-Key": key})).json()["kind"] == "api_key"
        assert (await gateway.post("/api-keys", headers={"X-API-Key": key}, json={})).status_code == 403
        founder_id = (await gateway.get("/auth/me", headers=founder)).json()["subject"]
        founders = await gateway.post("/api-keys", headers=platform.admin, json={"subject_id": founder_id})
        assert founders.status_code == 201 and founders.json()["roles"] == ["founder"]
        founders_key = {"X-API-Key": founders.json()["api_key"]}

    async def wrong_role_refused() -> None:  # known to audit (not a 401), but not a regulator's key
        assert (await platform.get("audit", "/log/entries", founders_key, limit=1)).status_code == 403

    await eventually(wrong_role_refused, within=15)

    as_key = {"Authorization": f"ApiKey {key}"}

    async def audit_reads() -> None:
        for headers in (as_key, {"X-API-Key": key}):
            response = await platform.get("audit", "/log/entries", headers, limit=1)
            assert response.status_code == 200, response.text

    await eventually(audit_reads, within=15)
    wrong = {"Authorization": f"ApiKey {key[:-4]}AAAA"}
    assert (await platform.get("audit", "/log/entries", wrong, limit=1)).status_code == 401

    async def another_service_too() -> None:
        assert (await platform.get("crowdfunding", "/ledger/trial-balance", as_key)).status_code == 200

    await eventually(another_service_too, within=15)

    async with platform.client("gateway") as gateway:
        assert (await gateway.post(f"/api-keys/{key_id}/revoke", headers=founder)).status_code == 403
        revoked = await gateway.post(f"/api-keys/{key_id}/revoke", headers=reg)
        assert revoked.status_code == 200 and revoked.json()["revoked_at"]
        revoked_at = time.monotonic()
        assert (await gateway.get("/auth/me", headers=as_key)).status_code == 401  # at once at the gateway

    async def refused() -> None:
        assert (await platform.get("audit", "/log/entries", as_key, limit=1)).status_code == 401

    await eventually(refused, within=2.0)
    assert time.monotonic() - revoked_at < 2.0


async def test_an_admin_issues_a_key_with_every_role_to_a_person_holding_them_all(
        platform: PlatformUnderTest) -> None:
    person_id, _ = await platform.person(*sorted(SELF_SERVICE))  # sign-up takes every self-service role at once
    async with platform.client("gateway") as gateway:
        for role in sorted(ADMIN_GRANTED):
            granted = await gateway.post(f"/people/{person_id}/roles", headers=platform.admin, json={"role": role})
            assert granted.status_code == 200, granted.text
        issued = await gateway.post("/api-keys", headers=platform.admin,
                                    json={"subject_id": person_id, "roles": sorted(ROLES)})
        assert issued.status_code == 201, issued.text
        assert issued.json()["roles"] == sorted(ROLES)
        me = await gateway.get("/auth/me", headers={"X-API-Key": issued.json()["api_key"]})
        assert sorted(me.json()["roles"]) == sorted(ROLES), me.text
        too_many = await gateway.post("/api-keys", headers=platform.admin,
                                      json={"subject_id": person_id, "roles": [*sorted(ROLES), "admin"]})
        assert too_many.status_code == 422 and too_many.json()["errors"][0]["field"] == "roles", too_many.text


async def test_routing_passes_the_callers_credentials_to_the_service(platform: PlatformUnderTest) -> None:
    _, owner = await platform.person("enterprise")
    _, stranger = await platform.person("enterprise")
    organisation = (await platform.register_organisation(owner))["id"]
    async with platform.client("gateway") as gateway:

        async def routed() -> httpx.Response:
            response = await gateway.get(f"/api/credit/records/{organisation}", headers=owner)
            assert response.status_code == 200, response.text
            return response

        record = await eventually(routed, within=15)
        assert record.json()["subject_id"] == organisation and "transfer-encoding" not in record.headers
        assert (await gateway.get(f"/api/credit/records/{organisation}", headers=stranger)).status_code == 403
        assert (await gateway.get(f"/api/credit/records/{organisation}")).status_code == 401
        unknown = await gateway.get("/api/nowhere/x", headers=owner)
        assert unknown.status_code == 404 and unknown.json()["errors"][0]["field"] == "service"
        assert (await gateway.get("/api/gateway/auth/me", headers=owner)).status_code == 404
        query = await gateway.get("/api/audit/log/entries", headers=platform.regulator, params={"limit": "0"})
        assert query.status_code == 422 and "limit" in query.text  # the query string reaches the service
        big = await gateway.post("/api/crowdfunding/campaigns", content=b"{" + b" " * 70_000 + b"}",
                                 headers={**owner, "content-type": "application/json"})
        assert big.status_code == 413


def test_hop_by_hop_headers_are_not_passed_on() -> None:
    kept = end_to_end([("Connection", "keep-alive, X-Private"), ("Keep-Alive", "5"), ("X-Private", "1"),
                       ("Transfer-Encoding", "chunked"), ("Authorization", "Bearer t"), ("Host", "gw"),
                       ("Traceparent", "00-a-b-01")])
    assert kept == {"Authorization": "Bearer t", "Traceparent": "00-a-b-01"}


async def test_profile_is_for_the_subject_admins_and_regulators(platform: PlatformUnderTest) -> None:
    _, owner = await platform.person("enterprise")
    _, stranger = await platform.person("enterprise")
    organisation = (await platform.verified_organisation(owner))["id"]
    async with platform.client("gateway") as gateway:

        async def complete() -> dict[str, object]:
            response = await gateway.get(f"/subjects/{organisation}/profile", headers=owner)
            assert response.status_code == 200, response.text
            body = response.json()
            assert body["complete"] and body["parts"]["credit"]["status"] == "ok", body
            assert body["parts"]["crowdfunding"]["data"]["verified"] is True, body  # the event has arrived
            return dict(body)

        body = await eventually(complete, within=15)
        assert body["credit_standing"]["score"] == 600  # type: ignore[index]
        assert body["credit_standing"]["listing"] == {"black": None, "red": None}  # type: ignore[index]
        assert body["identity"]["verified"] is True  # type: ignore[index]
        for headers in (platform.admin, platform.regulator):
            assert (await gateway.get(f"/subjects/{organisation}/profile", headers=headers)).status_code == 200
        assert (await gateway.get(f"/subjects/{organisation}/profile", headers=stranger)).status_code == 403
        assert (await gateway.get("/subjects/unknown/profile", headers=owner)).status_code == 404
        assert (await gateway.get("/subjects/bad id!/profile", headers=owner)).status_code == 422
    summary = await platform.get("crowdfunding", f"/subjects/{organisation}/summary", stranger)
    assert summary.status_code == 403


@pytest.fixture(scope="module")
def partial(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PlatformUnderTest]:
    """Gateway, credit and two crowds only (crowdsourcing and crowdsupport are never started)."""
    yield from start_platform(tmp_path_factory.mktemp("profile"),
                              ("gateway", "credit", "crowdfunding", "makerspace"),
                              {"PROFILE_PART_TIMEOUT_SECONDS": "1"})


async def test_profile_names_the_parts_that_are_down(partial: PlatformUnderTest) -> None:
    person_id, me = await partial.person("founder")
    async with partial.client("gateway") as gateway:

        async def with_credit() -> dict[str, Any]:  # credit opens the person's record from its registration
            body = dict((await gateway.get(f"/subjects/{person_id}/profile", headers=me)).json())
            assert body["parts"]["credit"]["status"] == "ok", body["parts"]["credit"]
            return body

        first = await eventually(with_credit, within=10)
        assert first["missing"] == ["crowdsourcing", "crowdsupport"] and not first["complete"]
        assert first["parts"]["makerspace"]["status"] == "ok"
        assert first["credit_standing"]["score"] == 600, first["credit_standing"]
        assert first["credit_standing"]["listing"] == {"black": None, "red": None}, first["credit_standing"]

        partial.platform.services["makerspace"].stop()
        stopped = (await gateway.get(f"/subjects/{person_id}/profile", headers=me)).json()
        assert stopped["parts"]["makerspace"]["status"] == "unavailable"
        assert stopped["missing"] == ["crowdsourcing", "crowdsupport", "makerspace"]

        hung = partial.platform.services["crowdfunding"]
        hung.signal(signal.SIGSTOP)
        try:
            started = time.monotonic()
            slow = await gateway.get(f"/subjects/{person_id}/profile", headers=me)
            took = time.monotonic() - started
        finally:
            hung.signal(signal.SIGCONT)
        assert slow.status_code == 200 and slow.json()["parts"]["crowdfunding"]["status"] == "timeout"
        assert "crowdfunding" in slow.json()["missing"] and took < 3
        down = await gateway.get("/api/makerspace/healthz", headers=me)
        assert down.status_code == 502 and down.json()["service"] == "makerspace"

        partial.platform.services["credit"].stop()  # the standing cannot be told: the view says so, whole
        no_credit = await gateway.get(f"/subjects/{person_id}/profile", headers=me)
        assert no_credit.status_code == 200, no_credit.text
        body = no_credit.json()
        assert body["parts"]["credit"]["status"] == "unavailable" and body["credit_standing"] is None, body
        assert "credit" in body["missing"] and not body["complete"], body
        assert body["identity"]["display_name"] and body["parts"]["makerspace"]["status"] == "unavailable"
