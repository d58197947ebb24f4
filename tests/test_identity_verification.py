"""Identity at the gateway, end to end: real-name verification of people and organisations (whole numbers only
for the subject itself, admins and regulators; public views and events masked), squatting refused, role grants,
the OAuth2 password flow, and the verified flag reaching the crowd services' replicas."""

from __future__ import annotations

import secrets

import httpx

from tests.support.platform import PlatformUnderTest, eventually, fresh_resident_id, fresh_uscc

PROBLEM = "application/problem+json"


def fields(response: httpx.Response) -> set[str]:
    assert response.headers["content-type"].startswith(PROBLEM), response.text
    return {error["field"] for error in response.json().get("errors", [])}


async def test_person_verification_masks_the_number_except_for_the_few(platform: PlatformUnderTest) -> None:
    person_id, me = await platform.person("founder")
    _, stranger = await platform.person("backer")
    number = fresh_resident_id()
    async with platform.client("gateway") as gateway:
        for body, field in [({"real_name": "张三", "resident_id": number[:17] + ("0" if number[-1] != "0" else "1")},
                             "resident_id"),
                            ({"real_name": "张三", "resident_id": "abc"}, "resident_id"),
                            ({"real_name": "张三"}, "resident_id"),
                            ({"real_name": "Mismatch 张", "resident_id": number}, "name")]:
            refused = await gateway.post("/people/me/verification", headers=me, json=body)
            assert refused.status_code == 422 and field in fields(refused), refused.text
        outage = await gateway.post("/people/me/verification", headers=me,  # the sandbox's unreachable provider
                                    json={"real_name": "Unavailable 王", "resident_id": number})
        assert outage.status_code == 503 and "unavailable" in outage.json()["detail"], outage.text
        verified = await gateway.post("/people/me/verification", headers=me,
                                      json={"real_name": "张三", "resident_id": number.lower()})
        assert verified.status_code == 200, verified.text
        view = verified.json()
        assert view["verified"] and view["resident_id"] is None
        assert view["resident_id_masked"] == number[:6] + "*" * 8 + number[-4:]
        again = await gateway.post("/people/me/verification", headers=me,
                                   json={"real_name": "张三", "resident_id": number})
        assert again.status_code == 409 and again.json()["state"] == "verified"
        _, other = await platform.person("backer")
        squatted = await gateway.post("/people/me/verification", headers=other,
                                      json={"real_name": "李四", "resident_id": number})
        assert squatted.status_code == 409 and "resident_id" in fields(squatted)

        for headers in (me, platform.admin, platform.regulator):
            whole = await gateway.get(f"/people/{person_id}", headers=headers, params={"unmasked": "true"})
            assert whole.status_code == 200 and whole.json()["resident_id"] == number, whole.text
        masked = await gateway.get(f"/people/{person_id}", headers=me)
        assert masked.json()["resident_id"] is None
        assert (await gateway.get(f"/people/{person_id}", headers=stranger,
                                  params={"unmasked": "true"})).status_code == 403
        public = await gateway.get(f"/people/{person_id}/public", headers=stranger)
        assert public.status_code == 200 and number not in public.text and public.json()["verified"]
        assert (await gateway.get(f"/people/{person_id}", headers=me, params={"unmasked": "maybe"})).status_code == 422

    async def replicated_everywhere() -> None:
        for crowd in ("crowdsourcing", "crowdfunding", "crowdsupport", "makerspace"):
            row = await platform.get(crowd, f"/subjects/{person_id}")
            assert row.status_code == 200 and row.json()["verified_at"] is not None, (crowd, row.text)
            assert number not in row.text

    await eventually(replicated_everywhere, within=15)
    entries = await platform.audit_entries(type="cn.sizhong.identity.person.verified.v1", subject=person_id)
    assert len(entries) == 1 and number not in str(entries) and number[-4:] in str(entries)


async def test_organisation_verification_binds_the_code_and_refuses_squatting(platform: PlatformUnderTest) -> None:
    owner_id, owner = await platform.person("enterprise")
    _, squatter = await platform.person("enterprise")
    code = fresh_uscc()
    async with platform.client("gateway") as gateway:
        created = await gateway.post("/organisations", headers=owner, json={"name": "示例科技有限公司", "uscc": code})
        assert created.status_code == 201, created.text
        organisation = created.json()["id"]
        taken = await gateway.post("/organisations", headers=squatter, json={"name": "冒名公司", "uscc": code.lower()})
        assert taken.status_code == 409 and "uscc" in fields(taken)
        assert taken.json()["state"] == "registered_not_verified"
        path = f"/organisations/{organisation}/verification"
        assert (await gateway.post(path, headers=squatter)).status_code == 403  # not the applicant
        unverified = await gateway.post(path, headers=owner)
        assert unverified.status_code == 409 and unverified.json()["state"] == "applicant_not_verified"
        await platform.verify_person(owner, real_name="王五")
        verified = await gateway.post(path, headers=owner)
        assert verified.status_code == 200 and verified.json()["verified"], verified.text
        assert (await gateway.post(path, headers=owner)).status_code == 409
        taken = await gateway.post("/organisations", headers=squatter, json={"name": "冒名公司", "uscc": code})
        assert taken.status_code == 409 and taken.json()["state"] == "verified"

        identity = f"/organisations/{organisation}/identity"
        for headers in (owner, platform.admin, platform.regulator):
            whole = await gateway.get(identity, headers=headers, params={"unmasked": "true"})
            assert whole.status_code == 200 and whole.json()["uscc"] == code
        assert (await gateway.get(identity, headers=squatter)).status_code == 403
        plain = await gateway.get(f"/organisations/{organisation}", headers=owner)
        assert code not in plain.text and plain.json()["uscc_masked"].startswith(code[:8])
        assert (await gateway.post("/organisations/nope/verification", headers=owner)).status_code == 404
        assert (await gateway.post("/organisations/bad id!/verification", headers=owner)).status_code == 422

    async def verified_in_crowdfunding() -> None:
        row = await platform.get("crowdfunding", f"/subjects/{organisation}")
        assert row.status_code == 200 and row.json()["verified_at"] is not None
        assert row.json()["owner_id"] == owner_id

    await eventually(verified_in_crowdfunding, within=15)


async def test_roles_self_service_or_by_an_admin_only(platform: PlatformUnderTest) -> None:
    person_id, me = await platform.person("solver")
    other_id, _ = await platform.person("backer")
    async with platform.client("gateway") as gateway:
        granted = await gateway.post(f"/people/{person_id}/roles", headers=me, json={"role": "founder"})
        assert granted.status_code == 200 and "founder" in granted.json()["roles"]
        for role in ("reviewer", "mediator", "regulator", "admin", "agency", "space_operator"):
            refused = await gateway.post(f"/people/{person_id}/roles", headers=me, json={"role": role})
            assert refused.status_code == 403 and "role" in fields(refused), role
        assert (await gateway.post(f"/people/{other_id}/roles", headers=me,
                                   json={"role": "founder"})).status_code == 403
        assert (await gateway.post(f"/people/{other_id}/roles", headers=platform.regulator,
                                   json={"role": "regulator"})).status_code == 403
        bad = await gateway.post(f"/people/{person_id}/roles", headers=me, json={"role": "emperor"})
        assert bad.status_code == 422 and "role" in fields(bad)
        by_admin = await gateway.post(f"/people/{person_id}/roles", headers=platform.admin, json={"role": "reviewer"})
        assert by_admin.status_code == 200
        twice = await gateway.post(f"/people/{person_id}/roles", headers=platform.admin, json={"role": "reviewer"})
        assert twice.status_code == 409

    async def grants_audited() -> None:
        entries = await platform.audit_entries(type="cn.sizhong.identity.role.granted.v1", subject=person_id)
        assert len(entries) == 2 and '"reviewer"' in str(entries).replace("'", '"')

    await eventually(grants_audited, within=10)


async def test_oauth2_password_flow(platform: PlatformUnderTest) -> None:
    username = f"u{secrets.token_hex(6)}"
    async with platform.client("gateway") as gateway:
        created = await gateway.post("/auth/signup", json={"username": username, "password": "password-123",
                                                           "display_name": username, "roles": ["solver"]})
        assert created.status_code == 201
        token = await gateway.post("/token", data={"grant_type": "password", "username": username,
                                                   "password": "password-123"})
        assert token.status_code == 200 and token.headers["cache-control"] == "no-store"
        body = token.json()
        assert body["token_type"] == "bearer" and body["expires_in"] > 0
        me = await gateway.get("/auth/me", headers={"Authorization": f"Bearer {body['access_token']}"})
        assert me.json()["subject"] == created.json()["id"]
        missing = await gateway.post("/token", data={"username": username, "password": "password-123"})
        assert missing.status_code == 422 and "grant_type" in fields(missing)
        wrong = await gateway.post("/token", data={"grant_type": "password", "username": username,
                                                   "password": "wrong-password"})
        assert wrong.status_code == 401
        assert (await gateway.post("/auth/token", data={"username": username,
                                                        "password": "password-123"})).status_code == 200
