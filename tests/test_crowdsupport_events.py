"""Crowd-support end to end (real HTTP, real broker, the service's real database): the events of an approval, a
declined payout (still owed, re-issued by the programme's agency under a new key) and an instrument booking's
decision reach the audit log; the bookings sweep records no-shows and expires undecided bookings on the
service's adjustable clock, with their events in the service's feed."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any

import httpx
import pytest

from tests.support.crowdsupport import Programme, enterprise, next_slot, who
from tests.support.platform import PlatformUnderTest, eventually, mint, start_platform

PROBLEM = "application/problem+json"
CS = "cn.sizhong.crowdsupport"
SHANGHAI_HOURS = 8


async def logged(platform: PlatformUnderTest, subject: str, *types: str) -> list[dict[str, Any]]:
    """The audit log's entries for `subject`, once every type in `types` has arrived."""
    async def arrived() -> list[dict[str, Any]]:
        entries = await platform.audit_entries(subject=subject)
        assert {f"{CS}.{t}" for t in types} <= {e["type"] for e in entries}, [e["type"] for e in entries]
        return entries

    return await eventually(arrived, within=20)


async def test_a_declined_payout_is_announced_stays_owed_and_its_agency_reissues_it_under_a_new_key(
        platform: PlatformUnderTest) -> None:
    declined_id = f"prov-declined-{secrets.token_hex(4)}"  # the sandbox declines every payout to this party
    async with platform.client("crowdsupport") as client:
        programme = await Programme.create(client, budget_fen=1_000_000, providers=[declined_id])
        provider = mint(declined_id, "provider")
        holder = enterprise()
        voucher = await programme.voucher(holder)
        redeemed = await client.post(f"/vouchers/{voucher['id']}/redemption", headers=provider, json={
            "contract_no": "HT-1", "contract_amount_fen": 100_000, "invoice_no": "FP-1", "payment_proof": "bank"})
        assert redeemed.status_code == 200, redeemed.text
        approved = await client.post(f"/vouchers/{voucher['id']}/approval", headers=programme.agency)
        assert approved.status_code == 200 and approved.json()["state"] == "approved", approved.text
        ledger = await programme.ledger()
        assert ledger["accounts"][f"payable/provider/{declined_id}"] == 70_000  # owed, visibly
        [payment] = (await client.get(f"/vouchers/{voucher['id']}/payments", headers=programme.agency)).json()
        assert (payment["kind"], payment["status"]) == ("payout", "failed")

        path = f"/voucher-payments/{payment['id']}/reissue"
        for label, headers in (("wrong role", provider), ("wrong role", holder), ("regulator", platform.regulator),
                               ("wrong owner", who("agency")[1])):
            refused = await client.post(path, headers=headers)
            assert refused.status_code == 403 and refused.headers["content-type"] == PROBLEM, (label, refused.text)
        assert (await client.post(path)).status_code == 401
        for bad, status in (("x" * 65, 422), ("no-such", 404)):
            wrong = await client.post(f"/voucher-payments/{bad}/reissue", headers=programme.agency)
            assert wrong.status_code == status and wrong.headers["content-type"] == PROBLEM, wrong.text
            assert any("payment_id" in e["field"] for e in wrong.json()["errors"]), wrong.text

        reissued = await client.post(path, headers=programme.agency)
        assert reissued.status_code == 200, reissued.text
        assert reissued.json()["idempotency_key"] == f"{payment['idempotency_key']}/retry-1"
        assert reissued.json()["status"] == "failed"  # declined again: this test party is declined every time
        twice = await client.post(path, headers=programme.agency)
        assert twice.status_code == 409 and twice.json()["current_state"] == "reissued", twice.text
        ledger = await programme.ledger()
        mine = await client.get(f"/vouchers/{voucher['id']}", headers=holder)
    assert mine.json()["state"] == "approved"
    assert ledger["accounts"][f"payable/provider/{declined_id}"] == 70_000 and ledger["sum"] == {"CNY": 0}
    assert sorted((a["idempotency_key"], a["status"]) for a in ledger["payment_attempts"]) == [
        (payment["idempotency_key"], "failed"), (f"{payment['idempotency_key']}/retry-1", "failed")]

    entries = await logged(platform, voucher["id"], "voucher.approved.v1", "voucher.payout_declined.v1",
                           "voucher.payment_reissued.v1")
    declines = [e for e in entries if e["type"] == f"{CS}.voucher.payout_declined.v1"]
    assert len(declines) == 2, declines  # the payout and its re-issue, each declined, each an event
    assert f'"payable_account":"payable/provider/{declined_id}"' in declines[0]["entry"].replace(" ", "")


async def test_an_owners_decision_on_an_instrument_booking_reaches_the_audit_log(
        platform: PlatformUnderTest) -> None:
    owner_id, owner = who("provider")
    async with platform.client("crowdsupport") as client:
        instrument = await client.post("/instruments", headers=owner, json={
            "institution": "Institute", "name": "Cryo-EM", "category": "microscopy", "location": "Haidian",
            "region_code": "110108", "hourly_rate_fen": 80_000, "requires_approval": True})
        assert instrument.status_code == 201, instrument.text
        bookings = []
        for days in (2, 3):
            booked = await client.post(f"/instruments/{instrument.json()['id']}/bookings",
                                       headers=who("enterprise")[1], json=next_slot(days))
            assert booked.status_code == 201 and booked.json()["state"] == "pending", booked.text
            bookings.append(booked.json()["id"])
        for body, field in (({"approve": "perhaps"}, "approve"), ({}, "approve"), ({"approve": True, "x": 1}, "x")):
            bad = await client.post(f"/instrument-bookings/{bookings[0]}/decision", headers=owner, json=body)
            assert bad.status_code == 422 and bad.headers["content-type"] == PROBLEM, bad.text
            assert field in {e["field"] for e in bad.json()["errors"]}, bad.text
        decided = [await client.post(f"/instrument-bookings/{booking}/decision", headers=owner,
                                     json={"approve": approve})
                   for booking, approve in zip(bookings, (True, False), strict=True)]
        assert [d.json()["state"] for d in decided] == ["confirmed", "rejected"], [d.text for d in decided]
    for booking, approved in zip(bookings, ("true", "false"), strict=True):
        entries = await logged(platform, booking, "instrument.booked.v1", "instrument.booking_decided.v1")
        decision = next(e for e in entries if e["type"] == f"{CS}.instrument.booking_decided.v1")
        assert f'"approved":{approved}' in decision["entry"].replace(" ", "")
        assert f'"owner_id":"{owner_id}"' in decision["entry"].replace(" ", "")


@pytest.fixture(scope="module")
def clocked(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PlatformUnderTest]:
    """A crowd-support service of its own: this test moves the service clock, which the shared platform's tests
    (booking slots from the real time) must not see."""
    yield from start_platform(tmp_path_factory.mktemp("crowdsupport-sweep"), ("crowdsupport",))


class Sweep:
    """Calls on the clocked service: the clock, the bookings job and the event feed."""

    def __init__(self, platform: PlatformUnderTest, client: httpx.AsyncClient) -> None:
        self.platform, self.client = platform, client

    async def now(self) -> datetime:
        response = await self.client.get("/testing/clock", headers=self.platform.admin)
        assert response.status_code == 200, response.text
        return datetime.fromisoformat(response.json()["now"])

    async def move_to(self, moment: datetime) -> None:
        seconds = (moment - await self.now()).total_seconds()
        assert seconds > 0, seconds
        moved = await self.client.post("/testing/clock/advance", headers=self.platform.admin,
                                       json={"seconds": seconds})
        assert moved.status_code == 200, moved.text

    async def run(self) -> int:
        """Run the job now (the scheduler may also run it on its own: the assertions are on what it did)."""
        response = await self.client.post("/testing/jobs/bookings/run", headers=self.platform.admin)
        assert response.status_code == 200, response.text
        return int(response.json()["acted"])

    async def events(self) -> list[tuple[str, str]]:
        response = await self.client.get("/events", headers=self.platform.admin, params={"limit": 1000})
        assert response.status_code == 200, response.text
        return [(e["subject"], e["type"].removeprefix(f"{CS}.")) for e in response.json()["events"]]

    async def post(self, path: str, headers: dict[str, str], body: dict[str, Any] | None = None,
                   status: int = 200) -> dict[str, Any]:
        response = await self.client.post(path, headers=headers, json=body)
        assert response.status_code == status, (path, response.text)
        return dict(response.json())


def first_slot(now: datetime) -> datetime:
    """The half hour two hours ahead, moved off the Shanghai evening so an hour's session stays on one day."""
    start = (now + timedelta(hours=2)).replace(second=0, microsecond=0)
    start += timedelta(minutes=(30 - start.minute % 30) % 30)
    if (start.hour + SHANGHAI_HOURS) % 24 >= 22:
        start += timedelta(hours=4)
    return start


async def test_the_bookings_sweep_records_no_shows_and_expires_undecided_bookings_on_the_service_clock(
        clocked: PlatformUnderTest) -> None:
    async with httpx.AsyncClient(base_url=clocked.url("crowdsupport"), timeout=30) as client:
        cs = Sweep(clocked, client)
        start = first_slot(await cs.now())
        slot = {"start": start.isoformat(), "end": (start + timedelta(hours=1)).isoformat()}
        _, owner = who("provider")
        listed = {name: (await cs.post("/instruments", owner, {
            "institution": "Institute", "name": name, "category": "lab", "location": "Haidian",
            "region_code": "110108", "hourly_rate_fen": 10_000, "requires_approval": name == "gated"},
            status=201))["id"] for name in ("missed", "gated", "used", "admin_used")}
        _, user = who("enterprise")
        missed = (await cs.post(f"/instruments/{listed['missed']}/bookings", user, slot, 201))["id"]
        undecided = await cs.post(f"/instruments/{listed['gated']}/bookings", user, slot, 201)
        assert undecided["state"] == "pending"
        used = (await cs.post(f"/instruments/{listed['used']}/bookings", who("enterprise")[1], slot, 201))["id"]
        admin_used = (await cs.post(f"/instruments/{listed['admin_used']}/bookings", who("enterprise")[1], slot,
                                    201))["id"]
        sessions, mentors, startups = [], [], []
        for _ in range(2):
            mentor_id, mentor = who("mentor")
            profiled = await client.put("/mentors/me", headers=mentor, json={
                "name": "Mentor", "skills": ["fintech"],
                "availability": [{"weekday": d, "start_minute": 0, "end_minute": 1440} for d in range(7)]})
            assert profiled.status_code == 200, profiled.text
            startup = who("founder")[1]
            sessions.append((await cs.post(f"/mentors/{mentor_id}/sessions", startup,
                                           {**slot, "topic": "pricing"}, 201))["booking_id"])
            mentors.append(mentor)
            startups.append(startup)
        attended, skipped = sessions

        await cs.move_to(start - timedelta(minutes=1))  # check-in opens; nothing is due yet
        assert await cs.run() == 0
        await cs.post(f"/instrument-bookings/{used}/check-in", owner)
        await cs.post(f"/instrument-bookings/{admin_used}/check-in", clocked.admin)  # an admin acts for the owner
        refused = await client.post(f"/mentor-sessions/{attended}/check-in", headers=mentors[1])  # not its mentor
        assert refused.status_code == 403 and refused.headers["content-type"] == PROBLEM, refused.text
        assert (await cs.post(f"/mentor-sessions/{attended}/check-in", mentors[0]))["state"] == "checked_in"

        await cs.move_to(start + timedelta(minutes=14))  # the undecided one's slot started; the grace still runs
        await cs.run()
        swept = await cs.events()
        assert (undecided["id"], "booking.expired.v1") in swept
        assert not [event for event in swept if event[1] == "booking.no_show_recorded.v1"], swept
        late = await client.post(f"/instrument-bookings/{undecided['id']}/decision", headers=owner,
                                 json={"approve": True})
        assert late.status_code == 409 and late.json()["current_state"] == "cancelled", late.text

        await cs.move_to(start + timedelta(minutes=16))  # the check-in window has closed
        await cs.run()
        assert await cs.run() == 0  # nothing left to do, nothing done twice
        for booking, path, headers in ((missed, "/instrument-bookings/{}/check-in", owner),
                                       (skipped, "/mentor-sessions/{}/check-in", mentors[1])):
            too_late = await client.post(path.format(booking), headers=headers)
            assert too_late.status_code == 409 and too_late.json()["current_state"] == "no_show", too_late.text

        await cs.move_to(start + timedelta(hours=1, minutes=1))  # the sessions have ended
        metered = await cs.post(f"/instrument-bookings/{admin_used}/check-out", clocked.admin)
        # from start - 1 min to start + 61 min on the service clock, plus the real seconds the test took (rounded up)
        assert metered["checked_out_at"] and 62 <= metered["actual_minutes"] <= 63, metered
        no_feedback = await client.post(f"/mentor-sessions/{skipped}/feedback", headers=startups[1],
                                        json={"rating": 1})
        assert no_feedback.status_code == 409 and no_feedback.json()["current_state"] == "no_show"
        assert (await cs.post(f"/mentor-sessions/{attended}/feedback", startups[0], {"rating": 5}))["rating"] == 5
        events = await cs.events()
    no_shows = sorted(subject for subject, kind in events if kind == "booking.no_show_recorded.v1")
    assert no_shows == sorted([missed, skipped]), events  # once each; never the checked-in ones
    assert [subject for subject, kind in events if kind == "booking.expired.v1"] == [undecided["id"]]
    assert (used, "instrument.checked_in.v1") in events
    assert {(admin_used, "instrument.checked_in.v1"), (admin_used, "instrument.used.v1")} <= set(events)
    assert (attended, "mentor_session.checked_in.v1") in events
    assert (attended, "mentor_session.feedback_given.v1") in events
