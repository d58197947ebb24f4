"""Joint incentives (联合激励) in the maker-space and crowd-support end to end, with the real broker: a subject
red-listed by credit (tests.support.red_list: accepted deliveries, the notice, the notice period on credit's
clock) sees its residency application and its voucher redemption move ahead of an older one in the operator's
and the agency's queues, marked `fast_tracked`, as soon as each service's listing replica has the listing (no
call to credit on the request path); what it asks for afterwards enters review fast-tracked, as its events in
the audit log say."""

from __future__ import annotations

import json
from typing import Any

import httpx

from tests.support.crowdsupport import Programme
from tests.support.platform import PlatformUnderTest, eventually, mint
from tests.support.red_list import red_list
from tests.test_makerspace_bookings import Space

MAKERSPACE = "cn.sizhong.makerspace"
CROWDSUPPORT = "cn.sizhong.crowdsupport"


async def call(client: httpx.AsyncClient, method: str, path: str, headers: dict[str, str], body: Any = None,
               status: int = 200) -> Any:
    response = await client.request(method, path, headers=headers, json=body)
    assert response.status_code == status, (path, response.text)
    return response.json()


async def fast_tracked_in_audit(platform: PlatformUnderTest, subject: str, event_type: str) -> bool:
    """The `fast_tracked` of the event, once it has reached the audit log."""
    async def logged() -> bool:
        entries = await platform.audit_entries(subject=subject, type=event_type)
        assert entries, (subject, event_type)
        return bool(json.loads(entries[0]["entry"])["data"]["fast_tracked"])

    return await eventually(logged, within=15)


async def test_a_red_listed_subjects_application_and_redemption_are_reviewed_first(
        platform: PlatformUnderTest, credit_clock_restored: None) -> None:
    red_id, red = await platform.person("enterprise", "solver")  # delivers in crowdsourcing, applies here
    plain = mint(f"ent-{red_id[-8:]}-plain", "enterprise")
    async with platform.client("makerspace") as ms, platform.client("crowdsupport") as cs:
        space = await Space.create(platform, ms)
        apply = f"/spaces/{space.id}/applications"
        older = await call(ms, "POST", apply, plain, {"startup_name": "先来", "summary": "工业视觉"}, status=201)
        first = await call(ms, "POST", apply, red, {"startup_name": "红榜", "summary": "智能制造"}, status=201)
        programme = await Programme.create(cs, budget_fen=1_000_000)
        vouchers = [await programme.voucher(who) for who in (plain, red, red)]
        for voucher in vouchers[:2]:
            assert (await programme.redeem(voucher["id"])).status_code == 200

        async def applications() -> list[tuple[str, bool]]:
            rows = await call(ms, "GET", apply, space.operator)
            return [(row["id"], row["fast_tracked"]) for row in rows]

        async def redemptions() -> list[tuple[str, bool]]:
            rows = await call(cs, "GET", f"/programmes/{programme.id}/vouchers?state=redeemed", programme.agency)
            return [(row["id"], row["fast_tracked"]) for row in rows]

        assert await applications() == [(older["id"], False), (first["id"], False)]  # oldest first
        assert await redemptions() == [(vouchers[0]["id"], False), (vouchers[1]["id"], False)]

        listing = await red_list(platform, red_id, red)
        assert listing["list_kind"] == "red"

        async def ahead() -> None:  # each service's replica has the listing from credit's event
            assert await applications() == [(first["id"], True), (older["id"], False)]
            assert await redemptions() == [(vouchers[1]["id"], True), (vouchers[0]["id"], False)]

        await eventually(ahead, within=15)
        second = await call(ms, "POST", apply, red, {"startup_name": "红榜二号", "summary": "新材料"}, status=201)
        assert (await programme.redeem(vouchers[2]["id"])).status_code == 200
        assert [row for row in await applications() if row[1]] == [(first["id"], True), (second["id"], True)]
        assert (await call(cs, "GET", f"/vouchers/{vouchers[2]['id']}", programme.agency))["state"] == "redeemed"

    submitted = f"{MAKERSPACE}.application.submitted.v1"
    assert await fast_tracked_in_audit(platform, first["id"], submitted) is False  # before the listing
    assert await fast_tracked_in_audit(platform, second["id"], submitted) is True
    redeemed = f"{CROWDSUPPORT}.voucher.redeemed.v1"
    assert await fast_tracked_in_audit(platform, vouchers[1]["id"], redeemed) is False
    assert await fast_tracked_in_audit(platform, vouchers[2]["id"], redeemed) is True
