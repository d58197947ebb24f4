"""Red-list a subject end to end, the way credit does it (services/credit/credit/lists.py, rule `trustworthy` of
the policy): eleven accepted deliveries in crowdsourcing (a score of 765, no dispute lost, no missed delivery, no
fraud, no no-show), credit's notice, then the notice period passed on credit's clock and the listing job run.

Credit's adjustable clock is shared by the whole session's platform and only moves forward: this moves it just
past the notice's end, read from credit itself, and not at all if it is already past, so a later test that reads
credit's clock (as every credit test does) sees a consistent time; nothing here assumes where it stood."""

from __future__ import annotations

import secrets
from datetime import datetime, timedelta
from typing import Any

import httpx

from tests.support.platform import PlatformUnderTest, eventually
from tests.test_crowdsourcing_scenarios import Market

DELIVERIES = 11  # 600 + 11 × 15 = 765 ≥ the rule's 750
PIECE = 10_001


async def earn_red_notice(platform: PlatformUnderTest, subject_id: str, headers: dict[str, str]) -> dict[str, Any]:
    """Deliveries accepted in crowdsourcing until credit notifies the subject of a red listing; the notice."""
    async with platform.client("crowdsourcing") as client, platform.client("credit") as credit:
        market = await Market.open(platform, client)
        organisation = await market.verified_organisation()
        deadline = (await market.now() + timedelta(days=20)).isoformat()
        pieces = await market.call("POST", "/tasks", market.poster, {
            "mode": "piece_rate", "kind": "supply_chain_after_sales", "title": "售后工单", "organisation_id":
            organisation, "piece_price_fen": PIECE, "piece_quantity": DELIVERIES, "deadline": deadline}, status=201)
        await market.publish(pieces)
        for n in range(DELIVERIES):
            delivered = await market.submit(pieces, headers, f"工单 {n} {secrets.token_hex(3)}")
            await market.call("POST", f"/submissions/{delivered['id']}/accept", market.poster)
        return await red_notice(credit, subject_id, headers)


async def red_notice(credit: httpx.AsyncClient, subject_id: str, headers: dict[str, str]) -> dict[str, Any]:
    """Credit's notice (rule `trustworthy`, general tier) of a red listing of `subject_id`, once it has one."""
    async def notified() -> dict[str, Any]:
        response = await credit.get(f"/subjects/{subject_id}/listings", headers=headers)
        assert response.status_code == 200, response.text
        found = [row for row in response.json() if row["list_kind"] == "red"]
        assert found and found[0]["state"] == "notified", response.json()
        return dict(found[0])

    listing = await eventually(notified, within=30)
    assert (listing["rule"], listing["tier"]) == ("trustworthy", "general"), listing
    return listing


async def move_credit_clock_past(credit: httpx.AsyncClient, admin: dict[str, str], moment: str) -> None:
    """Credit's clock a minute past `moment`, if it is not past it already (it never goes back)."""
    now = datetime.fromisoformat((await credit.get("/testing/clock", headers=admin)).json()["now"])
    seconds = (datetime.fromisoformat(moment) - now).total_seconds() + 60
    if seconds > 0:
        moved = await credit.post("/testing/clock/advance", headers=admin, json={"seconds": seconds})
        assert moved.status_code == 200, moved.text


async def list_after_notice(platform: PlatformUnderTest, subject_id: str, headers: dict[str, str],
                            notice: dict[str, Any]) -> dict[str, Any]:
    """The notice period passes on credit's clock and the listing job lists the entry; the listed entry."""
    async with platform.client("credit") as credit:
        await move_credit_clock_past(credit, platform.admin, notice["notice_ends_at"])
        ran = await credit.post("/testing/jobs/listings/run", headers=platform.admin)
        assert ran.status_code == 200 and ran.json()["acted"] >= 1, ran.text
        listed = (await credit.get(f"/subjects/{subject_id}/listings", headers=headers)).json()
    entry = next(row for row in listed if row["id"] == notice["id"])
    assert entry["state"] == "listed", entry
    return dict(entry)


async def red_list(platform: PlatformUnderTest, subject_id: str, headers: dict[str, str]) -> dict[str, Any]:
    """`subject_id` (holding the solver role) red-listed by credit; the listed entry."""
    return await list_after_notice(platform, subject_id, headers, await earn_red_notice(platform, subject_id, headers))
