"""Bad input gets a 4xx problem+json naming the field; wrong roles and wrong owners are refused."""

from __future__ import annotations

import json
import secrets

import pytest

from tests.support.platform import PlatformUnderTest, eventually, fresh_uscc, mint

PROBLEM = "application/problem+json"


@pytest.mark.parametrize(("body", "field", "status"), [
    ({"name": "Acme", "uscc": "91350100M000100Y44"}, "uscc", 422),  # wrong check character
    ({"name": "Acme", "uscc": "91350100M000100Y4"}, "uscc", 422),  # too short
    ({"name": "Acme", "uscc": "9135A100M000100Y43"}, "uscc", 422),  # region not digits
    ({"name": "Acme"}, "uscc", 422),  # missing
    ({"uscc": "91350100M000100Y43"}, "name", 422),  # missing
    ({"name": 42, "uscc": "91350100M000100Y43"}, "name", 422),  # wrong type
    ({"name": "Acme", "uscc": ["9"]}, "uscc", 422),  # wrong type
    ({"name": "A", "uscc": "91350100M000100Y43"}, "name", 422),  # too short
    ({"name": "Acme", "uscc": "91350100M000100Y43", "extra": 1}, "extra", 422),  # unknown field
])
async def test_bad_organisation_input_names_the_field(platform: PlatformUnderTest, body: dict, field: str,
                                                      status: int) -> None:
    _, owner = await platform.person("enterprise")
    async with platform.client("gateway") as gateway:
        response = await gateway.post("/organisations", json=body, headers=owner)
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == PROBLEM
    assert field in {error["field"] for error in response.json()["errors"]}


async def test_malformed_and_oversized_bodies_are_4xx_and_lose_nothing(platform: PlatformUnderTest) -> None:
    _, owner = await platform.person("enterprise")
    async with platform.client("gateway") as gateway:
        malformed = await gateway.post("/organisations", content=b'{"name": "Acme", "uscc": ',
                                       headers={**owner, "content-type": "application/json"})
        huge = await gateway.post("/organisations", headers=owner,
                                  json={"name": "x" * 200_000, "uscc": fresh_uscc()})
        not_json = await gateway.post("/organisations", content=b"name=Acme",
                                      headers={**owner, "content-type": "text/plain"})
        good = await gateway.post("/organisations", headers=owner, json={"name": "Still Works", "uscc": fresh_uscc()})
    assert malformed.status_code == 400 and malformed.headers["content-type"] == PROBLEM
    assert huge.status_code == 413 and huge.json()["errors"][0]["field"] == "body"
    assert 400 <= not_json.status_code < 500
    assert good.status_code == 201


async def test_duplicate_registrations_are_a_409_on_the_field(platform: PlatformUnderTest) -> None:
    _, owner = await platform.person("enterprise")
    uscc = fresh_uscc()
    async with platform.client("gateway") as gateway:
        first = await gateway.post("/organisations", headers=owner, json={"name": "First", "uscc": uscc})
        again = await gateway.post("/organisations", headers=owner, json={"name": "Again", "uscc": uscc.lower()})
        name = f"user{secrets.token_hex(4)}"
        signup = {"username": name, "password": "password-123", "display_name": "x", "roles": ["solver"]}
        await gateway.post("/auth/signup", json=signup)
        taken = await gateway.post("/auth/signup", json=signup)
        admin_role = await gateway.post("/auth/signup", json={**signup, "username": name + "2", "roles": ["admin"]})
    assert first.status_code == 201
    assert again.status_code == 409 and again.json()["errors"][0]["field"] == "uscc"
    assert taken.status_code == 409 and taken.json()["errors"][0]["field"] == "username"
    assert admin_role.status_code == 422 and admin_role.json()["errors"][0]["field"].startswith("roles")


async def test_random_garbage_never_makes_a_500(platform: PlatformUnderTest) -> None:
    _, owner = await platform.person("enterprise")
    rng = secrets.SystemRandom()
    values: list[object] = [None, 0, -1, 1.5, True, "", "x" * 300, [], {}, "９１３５０１００Ｍ", "\x00",
                            "ab\x00cd", "' OR 1=1 --", "名字\u202e"]
    async with platform.client("gateway") as gateway:
        for _ in range(40):
            body = {key: rng.choice(values) for key in rng.sample(["name", "uscc", "owner_id", "id"], k=2)}
            response = await gateway.post("/organisations", headers=owner, content=json.dumps(body),
                                          params={"x": rng.choice(["1", "%00"])})
            assert 400 <= response.status_code < 500, (body, response.text)
        for path in ("/organisations/%00", "/organisations/a%00b", "/organisations/" + "x" * 300,
                     "/organisations/..%2f..%2fetc"):
            assert 400 <= (await gateway.get(path, headers=owner)).status_code < 500, path
        nul_name = await gateway.post("/organisations", headers=owner, json={"name": "ab\x00cd", "uscc": fresh_uscc()})
        assert nul_name.status_code == 422 and nul_name.json()["errors"][0]["field"] == "name"
    for service, path in (("credit", "/records/a%00b"), ("crowdfunding", "/subjects/a%00")):
        response = await platform.get(service, path, platform.admin)
        assert response.status_code == 400, (service, response.text)
    response = await platform.get("audit", "/log/entries", platform.admin, event_id="a\x00b")
    assert response.status_code == 400 and response.json()["errors"][0]["field"] == "query"


async def test_roles_and_ownership_are_enforced_in_every_service(platform: PlatformUnderTest) -> None:
    owner_id, owner = await platform.person("enterprise")
    _, stranger = await platform.person("enterprise")
    _, solver = await platform.person("solver")
    organisation = await platform.register_organisation(owner)
    org_path = f"/organisations/{organisation['id']}"
    async with platform.client("gateway") as gateway:
        assert (await gateway.post("/organisations", json={"name": "Nope", "uscc": fresh_uscc()})).status_code == 401
        wrong_role = await gateway.post("/organisations", headers=solver, json={"name": "Nope", "uscc": fresh_uscc()})
        assert wrong_role.status_code == 403 and wrong_role.headers["content-type"] == PROBLEM
        assert (await gateway.get(org_path, headers=owner)).status_code == 200
        assert (await gateway.get(org_path, headers=stranger)).status_code == 403
        assert (await gateway.get(org_path, headers=platform.regulator)).status_code == 200
        forged = {"Authorization": "Bearer " + mint(owner_id, "admin")["Authorization"].split()[1][:-3] + "abc"}
        assert (await gateway.get(org_path, headers=forged)).status_code == 401

    await eventually(lambda: platform.credit_record(organisation["id"]))
    record_path = f"/records/{organisation['id']}"
    assert (await platform.get("credit", record_path, owner)).status_code == 200
    assert (await platform.get("credit", record_path, stranger)).status_code == 403
    assert (await platform.get("credit", record_path, platform.regulator)).status_code == 200
    assert (await platform.get("audit", "/log/entries", owner)).status_code == 403
    assert (await platform.get("audit", "/log/root", platform.regulator)).status_code == 200
    for service in ("gateway", "credit", "audit", "crowdfunding"):
        assert (await platform.get(service, "/events", owner)).status_code == 403
        assert (await platform.get(service, "/completeness", solver)).status_code == 403
    for crowd in ("crowdsourcing", "crowdfunding", "crowdsupport", "makerspace"):
        async def replica_for(headers: dict[str, str], crowd: str = crowd) -> int:
            return (await platform.get(crowd, f"/subjects/{organisation['id']}", headers)).status_code

        await eventually(lambda crowd=crowd: _expect(replica_for(owner), 200))
        assert await replica_for(stranger) == 403


async def _expect(status: object, wanted: int) -> None:
    assert await status == wanted  # type: ignore[misc]
