"""Maker-space bookings end to end, on the real HTTP API of the running service: concurrent requests for
overlapping slots, a room blocking its equipment, trainings lapsing and renewed, approval, check-in, DST."""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest

from tests.support.platform import PlatformUnderTest, eventually, mint, start_platform

PROBLEM = "application/problem+json"


def next_slot(hours_ahead: int = 2) -> datetime:
    """A start on the half-hour grid, `hours_ahead` hours (and a bit) from now."""
    now = datetime.now(UTC).replace(second=0, microsecond=0)
    base = now + timedelta(hours=hours_ahead, minutes=30 - now.minute % 30)
    return base


def iso(moment: datetime) -> str:
    return moment.isoformat()


class Space:
    """A fresh space with its operator, and helpers to add what a test needs."""

    def __init__(self, platform: PlatformUnderTest, client: httpx.AsyncClient, space: dict[str, Any],
                 operator_id: str, operator: dict[str, str]) -> None:
        self.platform, self.client, self.data = platform, client, space
        self.id, self.operator_id, self.operator = space["id"], operator_id, operator
        self.plan_id: str | None = None

    @classmethod
    async def create(cls, platform: PlatformUnderTest, client: httpx.AsyncClient, **fields: Any) -> Space:
        operator_id = f"op-{secrets.token_hex(6)}"
        operator = mint(operator_id, "space_operator")
        body = {"name": f"众创空间 {secrets.token_hex(3)}", "tier": "municipal_window", "region_code": "440300",
                "capacity": 120, "services": ["工位", "路演"], **fields}
        response = await client.post("/spaces", json=body, headers=operator)
        assert response.status_code == 201, response.text
        return cls(platform, client, response.json(), operator_id, operator)

    async def post(self, path: str, body: dict[str, Any], status: int = 201) -> dict[str, Any]:
        response = await self.client.post(path, json=body, headers=self.operator)
        assert response.status_code == status, response.text
        return dict(response.json())

    async def resource(self, **fields: Any) -> dict[str, Any]:
        return await self.post(f"/spaces/{self.id}/resources", {"kind": "room", "name": "Room", **fields})

    async def member(self, *, credits: int = 1000, quota: int = 24 * 60,
                     ends_in: timedelta = timedelta(days=60)) -> tuple[str, dict[str, str]]:
        if self.plan_id is None:
            plan = await self.post(f"/spaces/{self.id}/plans",
                                   {"name": "Flex", "daily_quota_minutes": quota, "credits": credits})
            self.plan_id = plan["id"]
        member_id = f"m-{secrets.token_hex(6)}"
        now = datetime.now(UTC)
        await self.post(f"/spaces/{self.id}/subscriptions", {
            "plan_id": self.plan_id, "member_id": member_id, "starts_at": iso(now - timedelta(days=1)),
            "ends_at": iso(now + ends_in)})
        return member_id, mint(member_id, "resident")


async def book(client: httpx.AsyncClient, resource_id: str, headers: dict[str, str], start: datetime,
               minutes: int = 60) -> httpx.Response:
    return await client.post(f"/resources/{resource_id}/bookings", headers=headers,
                             json={"start": iso(start), "end": iso(start + timedelta(minutes=minutes))})


async def test_200_concurrent_requests_leave_exactly_one_booking_per_slot(platform: PlatformUnderTest) -> None:
    async with httpx.AsyncClient(base_url=platform.url("makerspace"), timeout=120) as client:
        space = await Space.create(platform, client)
        room = await space.resource(name="Studio")
        members = [await space.member() for _ in range(8)]
        first = next_slot(3)
        # 4 one-hour slots back to back; each request asks for one of them, shifted by 0 or 30 minutes, so that
        # requests for neighbouring slots overlap too
        starts = [first + timedelta(hours=n % 4) for n in range(200)]
        responses = await asyncio.gather(*(
            book(client, room["id"], members[n % 8][1], starts[n]) for n in range(200)))
        statuses = [r.status_code for r in responses]
        assert set(statuses) == {201, 409}, {r.status_code: r.text for r in responses}
        assert statuses.count(201) == 4
        for refused in (r for r in responses if r.status_code == 409):
            assert refused.headers["content-type"] == PROBLEM
            assert refused.json()["rule"] == "slot_taken"
        listed = await client.get(f"/spaces/{space.id}/bookings", headers=space.operator, params={"limit": 200})
        kept = sorted(b["start"] for b in listed.json() if b["state"] == "confirmed")
        assert len(kept) == 4
        assert [datetime.fromisoformat(s) for s in kept] == [first + timedelta(hours=h) for h in range(4)]


async def test_200_concurrent_requests_for_a_room_and_the_equipment_inside_it(platform: PlatformUnderTest) -> None:
    async with httpx.AsyncClient(base_url=platform.url("makerspace"), timeout=120) as client:
        space = await Space.create(platform, client)
        room = await space.resource(name="Workshop")
        corner = await space.resource(name="Corner", parent_id=room["id"])
        printer = await space.resource(kind="equipment", name="3D printer", parent_id=corner["id"])
        members = [await space.member() for _ in range(8)]
        start = next_slot(5)
        targets = [room["id"], corner["id"], printer["id"]]
        responses = await asyncio.gather(*(
            book(client, targets[n % 3], members[n % 8][1], start + timedelta(minutes=30 * (n % 2)), 60)
            for n in range(200)))
        statuses = [r.status_code for r in responses]
        assert statuses.count(201) == 1, {s: statuses.count(s) for s in set(statuses)}
        assert set(statuses) == {201, 409}
        listed = await client.get(f"/spaces/{space.id}/bookings", headers=space.operator, params={"limit": 200})
        assert len(listed.json()) == 1


async def test_a_lapsed_training_is_refused_by_name_and_renewal_allows_booking(platform: PlatformUnderTest) -> None:
    async with httpx.AsyncClient(base_url=platform.url("makerspace"), timeout=30) as client:
        space = await Space.create(platform, client)
        training = await space.post(f"/spaces/{space.id}/trainings",
                                    {"name": "激光切割安全培训", "validity_months": 12, "lapse_after_days": 30})
        laser = await space.resource(kind="equipment", name="Laser", required_training_id=training["id"])
        member_id, member = await space.member()
        start = next_slot(2)

        untrained = await book(client, laser["id"], member, start)
        assert untrained.status_code == 403 and "激光切割安全培训" in untrained.json()["detail"]
        assert untrained.json()["errors"][0]["field"] == "training"

        long_ago = datetime.now(UTC) - timedelta(days=31)
        await space.post(f"/trainings/{training['id']}/certifications",
                         {"member_id": member_id, "certified_at": iso(long_ago)})
        lapsed = await book(client, laser["id"], member, start)
        assert lapsed.status_code == 403, lapsed.text
        assert "激光切割安全培训" in lapsed.json()["detail"] and "lapsed" in lapsed.json()["detail"]

        renewed = await space.post(f"/trainings/{training['id']}/certifications", {"member_id": member_id})
        assert datetime.fromisoformat(renewed["valid_until"]) > datetime.now(UTC) + timedelta(days=360)
        ok = await book(client, laser["id"], member, start)
        assert ok.status_code == 201, ok.text
        mine = (await client.get("/trainings/mine", headers=member)).json()
        assert mine[0]["last_used_at"] is None  # booking is not using: only a check-in keeps a training alive


async def test_approval_check_in_and_members_see_only_their_own(platform: PlatformUnderTest) -> None:
    async with httpx.AsyncClient(base_url=platform.url("makerspace"), timeout=30) as client:
        space = await Space.create(platform, client)
        room = await space.resource(name="Board room", requires_approval=True, credits_per_hour=10,
                                    check_in_opens_before_minutes=24 * 60)
        _, member = await space.member(credits=25)
        _, other = await space.member()
        start = next_slot(1)
        placed = await book(client, room["id"], member, start)
        assert placed.status_code == 201 and placed.json()["state"] == "pending"
        booking = placed.json()
        assert booking["credits_charged"] == 10
        assert booking["start_shanghai"].endswith("+08:00")
        early = await client.post(f"/bookings/{booking['id']}/check-in", headers=member)
        assert early.status_code == 409 and early.json()["current_state"] == "pending"
        assert (await client.post(f"/bookings/{booking['id']}/approve", headers=member)).status_code == 403
        approved = await client.post(f"/bookings/{booking['id']}/approve", headers=space.operator)
        assert approved.status_code == 200 and approved.json()["state"] == "confirmed"
        again = await client.post(f"/bookings/{booking['id']}/approve", headers=space.operator)
        assert again.status_code == 409 and "'confirmed'" in again.json()["detail"]
        checked = await client.post(f"/bookings/{booking['id']}/check-in", headers=member)
        assert checked.status_code == 200 and checked.json()["state"] == "checked_in", checked.text

        assert (await client.get(f"/bookings/{booking['id']}", headers=other)).status_code == 403
        assert (await client.get(f"/bookings/{booking['id']}", headers=member)).status_code == 200
        assert (await client.get("/bookings/mine", headers=other)).json() == []
        assert [b["id"] for b in (await client.get("/bookings/mine", headers=member)).json()] == [booking["id"]]
        assert (await client.get(f"/spaces/{space.id}/bookings", headers=member)).status_code == 403
        no_show = await client.post(f"/bookings/{booking['id']}/no-show", headers=space.operator)
        assert no_show.status_code == 409

        # credits: 15 left, a two-hour slot costs 20
        short = await book(client, room["id"], member, start + timedelta(hours=3), 120)
        assert short.status_code == 409 and short.json()["rule"] == "insufficient_credits"
        # the subscription ends before the slot: its credits cannot be used there
        _, brief = await space.member(ends_in=timedelta(hours=4))
        late = await book(client, room["id"], brief, start + timedelta(hours=5))
        assert late.status_code == 409 and late.json()["rule"] == "credits_expire"
        rejected_id = (await book(client, room["id"], member, start + timedelta(hours=6))).json()["id"]
        rejection = await client.post(f"/bookings/{rejected_id}/reject", headers=space.operator,
                                      json={"reason": "maintenance"})
        assert rejection.status_code == 200 and rejection.json()["reason"] == "maintenance"

    async def placed_event_in_audit() -> None:
        entries = await platform.audit_entries(subject=booking["id"])
        types = {e["type"] for e in entries}
        assert {"cn.sizhong.makerspace.booking.placed.v1", "cn.sizhong.makerspace.booking.approved.v1",
                "cn.sizhong.makerspace.booking.checked_in.v1"} <= types

    await eventually(placed_event_in_audit, within=10)


async def test_recurring_bookings_keep_local_time_across_a_dst_change(platform: PlatformUnderTest) -> None:
    berlin = ZoneInfo("Europe/Berlin")
    async with httpx.AsyncClient(base_url=platform.url("makerspace"), timeout=30) as client:
        space = await Space.create(platform, client, timezone="Europe/Berlin")
        room = await space.resource(name="Makerraum", max_notice_minutes=365 * 24 * 60)
        assert room["timezone"] == "Europe/Berlin"
        _, member = await space.member(ends_in=timedelta(days=360))
        # the next last Sunday of March or October (a change in Berlin), from a week before
        now = datetime.now(berlin)
        change = next(d for d in (_last_sunday(now.year + y, m) for y in (0, 1) for m in (3, 10)) if d > now.date()
                      + timedelta(days=8))
        first = datetime.combine(change - timedelta(days=7), datetime.min.time()).replace(hour=10)
        response = await client.post(f"/resources/{room['id']}/bookings/recurring", headers=member, json={
            "local_start": first.isoformat(), "duration_minutes": 90, "every_days": 7, "count": 2})
        assert response.status_code == 201, response.text
        series = response.json()
        assert [b["start_local"][11:16] for b in series] == ["10:00", "10:00"]
        offsets = {b["start_local"][-6:] for b in series}
        assert offsets == {"+01:00", "+02:00"}
        assert len({b["recurrence_id"] for b in series}) == 1
        utc_hours = {datetime.fromisoformat(b["start"]).hour for b in series}
        assert len(utc_hours) == 2
        clash = await client.post(f"/resources/{room['id']}/bookings/recurring", headers=member, json={
            "local_start": first.isoformat(), "duration_minutes": 30, "every_days": 7, "count": 2})
        assert clash.status_code == 409
        with_offset = await client.post(f"/resources/{room['id']}/bookings/recurring", headers=member, json={
            "local_start": first.isoformat() + "+01:00", "duration_minutes": 30, "every_days": 7, "count": 2})
        assert with_offset.status_code == 422 and with_offset.json()["errors"][0]["field"] == "local_start"


def _last_sunday(year: int, month: int) -> Any:
    from calendar import monthrange
    from datetime import date

    last = date(year, month, monthrange(year, month)[1])
    return last - timedelta(days=(last.weekday() + 1) % 7)


@pytest.fixture(scope="module")
def swept(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PlatformUnderTest]:
    """A makerspace of its own: this test moves the service clock, which the shared platform's tests (booking
    slots from the real time) must not see."""
    yield from start_platform(tmp_path_factory.mktemp("sweeper"), ("makerspace",))


async def test_the_sweeper_job_records_no_shows_and_cancels_unapproved_bookings_on_the_service_clock(
        swept: PlatformUnderTest) -> None:
    async with httpx.AsyncClient(base_url=swept.url("makerspace"), timeout=30) as client:
        space = await Space.create(swept, client)
        room = await space.resource(name="Hot desk room", credits_per_hour=10)
        gated = await space.resource(name="Board room", requires_approval=True, credits_per_hour=10)
        _, member = await space.member(credits=100)
        start = next_slot(1)
        missed = await book(client, room["id"], member, start)
        undecided = await book(client, gated["id"], member, start)
        assert (missed.status_code, undecided.status_code) == (201, 201), (missed.text, undecided.text)
        assert undecided.json()["state"] == "pending"

        async def run_sweeper() -> int:
            response = await client.post("/testing/jobs/bookings/run", headers=swept.admin)
            assert response.status_code == 200, response.text
            return int(response.json()["acted"])

        now = datetime.fromisoformat((await client.get("/testing/clock", headers=swept.admin)).json()["now"])
        # 14 minutes after the start: the check-in grace (15 minutes) is still running for the confirmed one,
        # but the unapproved one's start has passed
        moved = await client.post("/testing/clock/advance", headers=swept.admin,
                                  json={"seconds": (start - now).total_seconds() + 14 * 60})
        assert moved.status_code == 200, moved.text
        assert await run_sweeper() == 1
        assert (await client.post("/testing/clock/advance", headers=swept.admin,
                                  json={"seconds": 2 * 60})).status_code == 200
        assert await run_sweeper() == 1
        assert await run_sweeper() == 0  # nothing left to do

        mine = {b["id"]: b for b in (await client.get("/bookings/mine", headers=member)).json()}
        assert mine[missed.json()["id"]]["state"] == "no_show"
        assert mine[undecided.json()["id"]]["state"] == "cancelled"
        credits = (await client.get("/subscriptions/mine", headers=member)).json()
        assert [s["credits_remaining"] for s in credits] == [90], credits  # the unapproved 10 came back

        async def recorded() -> None:
            response = await client.get("/events", headers=swept.admin, params={"after": 0, "limit": 1000})
            assert response.status_code == 200, response.text
            body = response.json()
            events = body["events"] if isinstance(body, dict) else body
            types = {(e["subject"], e["type"]) for e in events}
            assert (missed.json()["id"], "cn.sizhong.makerspace.booking.no_show_recorded.v1") in types
            assert (undecided.json()["id"], "cn.sizhong.makerspace.booking.cancelled.v1") in types

        await eventually(recorded, within=10)
