"""Joint incentives (联合激励) in crowd-support, from the local listing replica, on a real database (SQLite and
PostgreSQL): what a red-listed subject asked for goes first in the queue of whoever reviews it, marked
`fast_tracked`, and the event where it enters review says so: the agency's redemptions awaiting a decision, a
holder's licence requests, staff's service requests awaiting assignment. Decided items, and items of a subject
also black-listed, keep their place; crowd-support charges no commission, so there is no relief to give."""

from __future__ import annotations

from datetime import timedelta

from crowdsupport.api import catalogue
from crowdsupport.api import vouchers as voucher_routes
from crowdsupport.handlers import patents, requests, vouchers

from shared.auth import Principal
from shared.db import Database
from tests.support.listings import record_listing

from .test_services_with_database import STAFF, feed
from .test_vouchers_with_database import AGENCY, NOW, PROVIDER, REDEMPTION, a_programme, enterprise, run

HOLDER = Principal(subject="univ-1", roles=frozenset({"provider"}))


async def test_red_listed_enterprises_redemptions_are_reviewed_first(db: Database) -> None:
    programme = await a_programme(db)
    issued = [await run(db, vouchers.apply, enterprise(n), programme.id, 80_000, "testing", NOW + timedelta(minutes=n))
              for n in range(4)]
    await record_listing(db, "crowdsupport", "ent-1", 1, red=True)
    await record_listing(db, "crowdsupport", "ent-2", 1, red=True)
    await record_listing(db, "crowdsupport", "ent-3", 1, red=True)
    for voucher in issued[:3]:  # ent-3's voucher stays issued: nothing for the agency to review
        await run(db, vouchers.redeem, PROVIDER, voucher.id, REDEMPTION, NOW)
    await run(db, vouchers.reject_redemption, AGENCY, issued[2].id, "invoice unreadable", NOW)  # back to issued

    async def queue(state: str | None = None) -> list[tuple[str, str, bool]]:
        async with db.reading() as session:
            rows = await voucher_routes.programme_vouchers(programme.id, session, AGENCY, limit=100, offset=0,
                                                           state=state)
        return [(row.enterprise_id, row.state, row.fast_tracked) for row in rows]

    assert await queue() == [("ent-1", "redeemed", True), ("ent-0", "redeemed", False),
                             ("ent-2", "issued", False), ("ent-3", "issued", False)]
    assert await queue("redeemed") == [("ent-1", "redeemed", True), ("ent-0", "redeemed", False)]
    redeemed = {e["enterprise_id"]: e["fast_tracked"] for e in await feed(db, "voucher.redeemed.v1")}
    assert redeemed == {"ent-0": False, "ent-1": True, "ent-2": True}

    await record_listing(db, "crowdsupport", "ent-1", 2, black=True)  # a black listing outweighs the red one
    assert (await queue("redeemed"))[-1] == ("ent-1", "redeemed", False)


async def test_a_red_listed_requesters_licence_request_is_decided_first(db: Database) -> None:
    patent = await run(db, patents.list_patent, HOLDER, patents.PatentInput(
        holder_kind="public_institution", title="Battery electrolyte", patent_no="CN112345678A",
        field_of_use="energy", licence_terms="free", royalty_fen=0, summary=""), NOW)
    await record_listing(db, "crowdsupport", "ent-2", 1, red=True)
    made = [await run(db, patents.request_licence, enterprise(n), patent.id, "pilot", NOW + timedelta(minutes=n))
            for n in range(3)]

    async def queue() -> list[tuple[str, bool]]:
        async with db.reading() as session:
            rows = await catalogue.my_licence_requests(session, HOLDER, limit=100, offset=0)
        return [(row.requester_id, row.fast_tracked) for row in rows]

    assert await queue() == [("ent-2", True), ("ent-0", False), ("ent-1", False)]
    assert [e["fast_tracked"] for e in await feed(db, "licence.requested.v1")] == [False, False, True]
    await run(db, patents.decide_licence, HOLDER, made[2].id, True, None, NOW)
    assert await queue() == [("ent-0", False), ("ent-1", False), ("ent-2", False)]


async def test_a_red_listed_requesters_service_request_is_assigned_first(db: Database) -> None:
    await record_listing(db, "crowdsupport", "ent-1", 1, red=True)
    advice = await run(db, requests.open_request, enterprise(0), "registration_advice", "Register", "", NOW)
    subsidy = await run(db, requests.open_request, enterprise(1), "subsidy_application", "Subsidy", "", NOW)
    assert subsidy.deadline_at > advice.deadline_at  # by deadline alone, ent-0's would come first

    async def queue() -> list[tuple[str, bool]]:
        async with db.reading() as session:
            rows = await catalogue.list_requests(session, STAFF, NOW, limit=100, offset=0, overdue=None)
        return [(row.requester_id, row.fast_tracked) for row in rows]

    assert await queue() == [("ent-1", True), ("ent-0", False)]
    assert [e["fast_tracked"] for e in await feed(db, "service_request.opened.v1")] == [False, True]
    await run(db, requests.assign, STAFF, subsidy.id, "handler-1", NOW)  # assigned: by deadline again
    assert await queue() == [("ent-0", False), ("ent-1", False)]
