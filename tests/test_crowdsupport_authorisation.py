"""Crowd-support: every mutating endpoint refuses the wrong role and the wrong owner (403) and an anonymous
caller (401); reads are scoped (agencies their programmes, providers their redemptions, enterprises their
vouchers); bad input is a 4xx problem+json naming the field, never a 500."""

from __future__ import annotations

import secrets
from typing import Any

import httpx
import pytest

from tests.support.crowdsupport import Programme, enterprise, next_slot, who
from tests.support.platform import PlatformUnderTest, mint

PROBLEM = "application/problem+json"


async def _scenario(client: httpx.AsyncClient) -> dict[str, Any]:
    ids: dict[str, Any] = {}
    programme = await Programme.create(client, budget_fen=10_000_000)
    ids["programme"] = programme
    ids["enterprise"] = enterprise()
    ids["voucher"] = (await programme.voucher(ids["enterprise"]))["id"]
    ids["redeemed"] = (await programme.voucher(ids["enterprise"]))["id"]
    assert (await programme.redeem(ids["redeemed"])).status_code == 200
    ids["owner_id"], ids["owner"] = who("provider")
    instrument = await client.post("/instruments", headers=ids["owner"], json={
        "institution": "Institute", "name": "NMR", "category": "spectroscopy", "location": "Haidian",
        "region_code": "110108", "hourly_rate_fen": 50_000, "requires_approval": True})
    assert instrument.status_code == 201, instrument.text
    ids["instrument"] = instrument.json()["id"]
    ids["user_id"], ids["user"] = who("enterprise")
    booked = await client.post(f"/instruments/{ids['instrument']}/bookings", headers=ids["user"], json=next_slot(2))
    assert booked.status_code == 201, booked.text
    ids["booking"] = booked.json()["id"]
    ids["mentor_id"], ids["mentor"] = who("mentor")
    profile = await client.put("/mentors/me", headers=ids["mentor"], json={
        "name": "Mentor", "skills": ["fintech"],
        "availability": [{"weekday": d, "start_minute": 0, "end_minute": 1440} for d in range(7)]})
    assert profile.status_code == 200, profile.text
    ids["startup_id"], ids["startup"] = who("founder")
    session = await client.post(f"/mentors/{ids['mentor_id']}/sessions", headers=ids["startup"],
                                json={**next_slot(3), "topic": "pricing"})
    assert session.status_code == 201, session.text
    ids["session"] = session.json()["booking_id"]
    ids["holder_id"], ids["holder"] = who("provider")
    patent = await client.post("/patents", headers=ids["holder"], json={
        "holder_kind": "public_institution", "title": "Catalyst", "field_of_use": "chemistry"})
    assert patent.status_code == 201, patent.text
    ids["patent"] = patent.json()["id"]
    licence = await client.post(f"/patents/{ids['patent']}/licence-requests", headers=ids["user"],
                                json={"purpose": "pilot"})
    assert licence.status_code == 201, licence.text
    ids["licence"] = licence.json()["id"]
    request = await client.post("/service-requests", headers=ids["user"], json={
        "kind": "policy_interpretation", "title": "Which subsidies apply?"})
    assert request.status_code == 201, request.text
    ids["request"] = request.json()["id"]
    return ids


def _calls(ids: dict[str, Any]) -> list[tuple[str, str, dict[str, Any] | None, dict[str, str], dict[str, str]]]:
    """(method, path, body, a caller with the wrong role, a caller with the right role but not the owner)."""
    programme: Programme = ids["programme"]
    other_agency, other_provider, other_enterprise = who("agency")[1], who("provider")[1], who("enterprise")[1]
    reviewer = who("reviewer")[1]
    return [
        ("POST", f"/programmes/{programme.id}/providers", {"provider_id": "p-x"}, ids["enterprise"], other_agency),
        ("POST", f"/vouchers/{ids['redeemed']}/rejection", {"reason": "no"}, programme.provider, other_agency),
        ("POST", f"/vouchers/{ids['redeemed']}/approval", None, ids["enterprise"], other_agency),
        ("POST", f"/vouchers/{ids['voucher']}/void", {"reason": "x"}, ids["enterprise"], other_agency),
        ("POST", f"/vouchers/{ids['voucher']}/redemption", {
            "contract_no": "C", "contract_amount_fen": 100_000, "invoice_no": "I", "payment_proof": "P"},
         ids["enterprise"], other_provider),
        ("POST", f"/instrument-bookings/{ids['booking']}/decision", {"approve": True}, ids["user"], other_provider),
        ("POST", f"/instrument-bookings/{ids['booking']}/check-in", None, ids["user"], other_provider),
        ("POST", f"/instrument-bookings/{ids['booking']}/check-out", None, ids["user"], other_provider),
        ("POST", f"/mentor-sessions/{ids['session']}/feedback", {"rating": 5}, ids["mentor"], other_enterprise),
        ("POST", f"/mentor-sessions/{ids['session']}/check-in", None, ids["startup"], who("mentor")[1]),
        ("POST", f"/licence-requests/{ids['licence']}/decision", {"grant": True}, reviewer, other_provider),
        ("POST", f"/service-requests/{ids['request']}/resolution", {"resolution": "done"}, reviewer,
         other_enterprise),
    ]


async def test_every_mutating_endpoint_refuses_wrong_roles_and_wrong_owners(platform: PlatformUnderTest) -> None:
    async with platform.client("crowdsupport") as client:
        ids = await _scenario(client)
        for method, path, body, wrong_role, wrong_owner in _calls(ids):
            for label, headers in (("wrong role", wrong_role), ("wrong owner", wrong_owner),
                                   ("regulator", platform.regulator)):
                response = await client.request(method, path, headers=headers, json=body)
                assert response.status_code == 403, (label, method, path, response.text)
                assert response.headers["content-type"] == PROBLEM
            assert (await client.request(method, path, json=body)).status_code == 401, path
        programme: Programme = ids["programme"]
        # role-gated creation
        for method, path, body, headers in (
            ("POST", "/programmes", {"name": "X", "region_code": "110108", "budget_fen": 1,
                                     "permitted_uses": ["x"]}, ids["enterprise"]),
            ("POST", f"/programmes/{programme.id}/vouchers", {"face_fen": 1, "use": "testing"}, programme.provider),
            ("POST", "/instruments", {}, ids["user"]),
            ("PUT", "/mentors/me", {}, ids["user"]),
            ("POST", f"/mentors/{ids['mentor_id']}/sessions", {}, programme.provider),
            ("POST", "/patents", {}, programme.agency),
            ("POST", f"/service-requests/{ids['request']}/assignment", {"handler_id": "h"}, ids["user"]),
            ("POST", "/service-requests", {"kind": "training", "title": "x"}, programme.provider),
        ):
            response = await client.request(method, path, headers=headers, json=body)
            assert response.status_code == 403, (path, response.text)
        # scoped reads
        other_agency, other_enterprise, other_provider = who("agency")[1], who("enterprise")[1], who("provider")[1]
        for path, outsider, insider in (
            (f"/programmes/{programme.id}/ledger", other_agency, programme.agency),
            (f"/programmes/{programme.id}/vouchers", other_agency, programme.agency),
            (f"/vouchers/{ids['voucher']}", other_enterprise, ids["enterprise"]),
            (f"/vouchers/{ids['redeemed']}", other_provider, programme.provider),
            (f"/owners/{ids['owner_id']}/subsidy-report?from=2026-01-01T00:00:00Z&to=2027-01-01T00:00:00Z",
             other_provider, ids["owner"]),
            (f"/service-requests/{ids['request']}", other_enterprise, ids["user"]),
        ):
            assert (await client.get(path, headers=outsider)).status_code == 403, path
            assert (await client.get(path, headers=insider)).status_code == 200, path
            assert (await client.get(path, headers=platform.regulator)).status_code == 200, path
        mine = await client.get("/vouchers/mine", headers=ids["enterprise"])
        assert {v["id"] for v in mine.json()} == {ids["voucher"], ids["redeemed"]}
        assert (await client.get("/vouchers/mine", headers=other_enterprise)).json() == []
        assert [v["id"] for v in (await client.get("/redemptions/mine", headers=programme.provider)).json()] == [
            ids["redeemed"]]
        assert (await client.get("/redemptions/mine", headers=other_provider)).json() == []
        assert (await client.get("/redemptions/mine", headers=ids["enterprise"])).status_code == 403
        # cancelling is for the booker and the resource's side; re-issuing a payment for the agency (or an admin)
        for path in (f"/instrument-bookings/{ids['booking']}/cancel", f"/mentor-sessions/{ids['session']}/cancel"):
            response = await client.post(path, headers=other_enterprise)
            assert response.status_code == 403 and response.headers["content-type"] == PROBLEM, path
        payments = await client.get(f"/vouchers/{ids['redeemed']}/payments", headers=programme.agency)
        assert payments.json() == []  # nothing owed before approval
        assert (await client.post("/voucher-payments/no-such/reissue", headers=programme.provider)).status_code == 403
        assert (await client.post("/voucher-payments/no-such/reissue", headers=programme.agency)).status_code == 404
        cancelled = await client.post(f"/mentor-sessions/{ids['session']}/cancel", headers=ids["mentor"])
        assert cancelled.status_code == 200 and cancelled.json()["state"] == "cancelled", cancelled.text
        # and the owners succeed where the others were refused
        approved = await client.post(f"/vouchers/{ids['redeemed']}/approval", headers=programme.agency)
        assert approved.status_code == 200 and approved.json()["state"] == "paid", approved.text
        decided = await client.post(f"/instrument-bookings/{ids['booking']}/decision", headers=ids["owner"],
                                    json={"approve": True})
        assert decided.status_code == 200 and decided.json()["state"] == "confirmed", decided.text


async def test_an_admin_acts_for_owners_mentors_and_holders_but_not_as_a_subject(
        platform: PlatformUnderTest) -> None:
    """README's role table: an admin decides, checks in and out, and grants for the owner side (the check-in
    window still applies to it), while applying, booking, listing and keeping a profile stay with the subject."""
    admin = platform.admin
    async with platform.client("crowdsupport") as client:
        ids = await _scenario(client)
        decided = await client.post(f"/instrument-bookings/{ids['booking']}/decision", headers=admin,
                                    json={"approve": True})
        assert decided.status_code == 200 and decided.json()["state"] == "confirmed", decided.text
        for path in (f"/instrument-bookings/{ids['booking']}/check-in", f"/mentor-sessions/{ids['session']}/check-in"):
            early = await client.post(path, headers=admin)  # past the role and owner checks, to the engine's window
            assert early.status_code == 409 and early.json()["rule"] == "check_in_window", (path, early.text)
        not_in = await client.post(f"/instrument-bookings/{ids['booking']}/check-out", headers=admin)
        assert not_in.status_code == 409 and not_in.json()["current_state"] == "not_checked_in", not_in.text
        granted = await client.post(f"/licence-requests/{ids['licence']}/decision", headers=admin,
                                    json={"grant": True})
        assert granted.status_code == 200 and granted.json()["state"] == "granted", granted.text
        programme: Programme = ids["programme"]
        for method, path, body in (
            ("POST", f"/programmes/{programme.id}/vouchers", {"face_fen": 1, "use": "testing"}),
            ("POST", f"/vouchers/{ids['voucher']}/redemption", {
                "contract_no": "C", "contract_amount_fen": 100_000, "invoice_no": "I", "payment_proof": "P"}),
            ("POST", f"/instruments/{ids['instrument']}/bookings", next_slot(4)),
            ("POST", "/instruments", {}),
            ("PUT", "/mentors/me", {}),
            ("POST", f"/mentor-sessions/{ids['session']}/feedback", {"rating": 5}),
            ("POST", "/patents", {}),
        ):
            response = await client.request(method, path, headers=admin, json=body)
            assert response.status_code == 403 and response.headers["content-type"] == PROBLEM, (path, response.text)


PROGRAMME = {"name": "X", "region_code": "110108", "budget_fen": 1_000, "permitted_uses": ["testing"]}


@pytest.mark.parametrize(("role", "path", "body", "field"), [
    ("agency", "/programmes", {**PROGRAMME, "region_code": "11"}, "region_code"),
    ("agency", "/programmes", {**PROGRAMME, "budget_fen": 0}, "budget_fen"),
    ("agency", "/programmes", {**PROGRAMME, "budget_fen": "lots"}, "budget_fen"),
    ("agency", "/programmes", {**PROGRAMME, "copay_ratio_pct": 100}, "copay_ratio_pct"),
    ("agency", "/programmes", {**PROGRAMME, "permitted_uses": []}, "permitted_uses"),
    ("agency", "/programmes", {**PROGRAMME, "currency": "BTC"}, "currency"),
    ("agency", "/programmes", {**PROGRAMME, "name": "a\x00b"}, "name"),
    ("agency", "/programmes", {**PROGRAMME, "surprise": 1}, "surprise"),
    ("enterprise", "/programmes/{programme}/vouchers", {"face_fen": -1, "use": "testing"}, "face_fen"),
    ("enterprise", "/programmes/{programme}/vouchers", {"face_fen": 1, "use": "catering"}, "use"),
    ("enterprise", "/programmes/{programme}/vouchers", {"face_fen": 10**9, "use": "testing"}, "face_fen"),
    ("enterprise", "/programmes/no-such/vouchers", {"face_fen": 1, "use": "testing"}, "programme_id"),
    ("provider", "/vouchers/{voucher}/redemption", {"contract_no": "C", "contract_amount_fen": 0,
                                                    "invoice_no": "I", "payment_proof": "P"}, "contract_amount_fen"),
    ("provider", "/vouchers/{voucher}/redemption", {"contract_no": "C", "contract_amount_fen": 1}, "invoice_no"),
    ("reviewer", "/vouchers/{voucher}/void", {"reason": "x", "fraud": False, "fraud_by": ["a"]}, "fraud_by"),
    ("provider", "/instruments", {"institution": "I", "name": "N", "category": "c", "location": "l",
                                  "region_code": "110108", "hourly_rate_fen": 1, "timezone": "Mars/Base"}, "timezone"),
    ("provider", "/instruments", {"institution": "I", "name": "N", "category": "c", "location": "l",
                                  "region_code": "110108", "hourly_rate_fen": 1, "slot_minutes": 7}, "slot_minutes"),
    ("enterprise", "/instruments/{instrument}/bookings", {"start": "2030-01-01T10:00:00",
                                                         "end": "2030-01-01T11:00:00+08:00"}, "start"),
    ("enterprise", "/instruments/{instrument}/bookings", {"start": "2020-01-01T10:00:00+08:00",
                                                         "end": "2020-01-01T11:00:00+08:00"}, "start"),
    ("enterprise", "/instruments/{instrument}/bookings", {"start": "9999-01-01T10:00:00+08:00",
                                                         "end": "9999-01-01T11:00:00+08:00"}, "start"),
    ("mentor", "/mentors/me", {"name": "M", "skills": ["x"], "availability": [
        {"weekday": 7, "start_minute": 0, "end_minute": 10}]}, "availability.0.weekday"),
    ("mentor", "/mentors/me", {"name": "M", "skills": ["x"], "availability": [
        {"weekday": 1, "start_minute": 100, "end_minute": 10}]}, "availability.0"),
    ("enterprise", "/mentor-matches", {"skills": [], "availability": []}, "skills"),
    ("enterprise", "/mentor-matches", {"skills": ["x"], "availability": [
        {"weekday": 0, "start_minute": 0, "end_minute": 60}], "skill_weight_pct": 101}, "skill_weight_pct"),
    ("provider", "/patents", {"holder_kind": "alien", "title": "T", "field_of_use": "f"}, "holder_kind"),
    ("provider", "/patents", {"holder_kind": "enterprise", "title": "T", "field_of_use": "f",
                              "licence_terms": "royalty"}, "royalty_fen"),
    ("enterprise", "/service-requests", {"kind": "catering", "title": "x"}, "kind"),
    ("enterprise", "/service-requests", {"kind": "training", "title": ""}, "title"),
])
async def test_bad_input_is_a_4xx_naming_the_field(platform: PlatformUnderTest, role: str, path: str,
                                                   body: dict[str, Any], field: str) -> None:
    async with platform.client("crowdsupport") as client:
        programme = await Programme.create(client, budget_fen=1_000_000)
        voucher = await programme.voucher(enterprise())
        owner = mint(f"owner-{secrets.token_hex(4)}", "provider")
        instrument = await client.post("/instruments", headers=owner, json={
            "institution": "I", "name": "N", "category": "c", "location": "l", "region_code": "110108",
            "hourly_rate_fen": 1})
        headers = {"agency": programme.agency, "provider": programme.provider}.get(role) or mint(
            f"{role}-{secrets.token_hex(4)}", role)
        url = path.format(programme=programme.id, voucher=voucher["id"], instrument=instrument.json()["id"])
        response = await client.post(url, headers=headers, json=body) if not url.endswith("/me") else \
            await client.put(url, headers=headers, json=body)
    assert 400 <= response.status_code < 500, response.text
    assert response.headers["content-type"] == PROBLEM
    fields = {e["field"] for e in response.json().get("errors", [])}
    assert any(f == field or f.startswith(field) for f in fields), (fields, response.text)


async def test_a_subsidy_report_period_that_ends_before_it_starts_names_the_field(
        platform: PlatformUnderTest) -> None:
    owner_id = f"owner-{secrets.token_hex(4)}"
    async with platform.client("crowdsupport") as client:
        response = await client.get(f"/owners/{owner_id}/subsidy-report", headers=mint(owner_id, "provider"),
                                    params={"from": "2026-02-01T00:00:00Z", "to": "2026-01-01T00:00:00Z"})
    assert response.status_code == 422 and response.headers["content-type"] == PROBLEM, response.text
    assert {e["field"] for e in response.json()["errors"]} == {"to"}, response.text
