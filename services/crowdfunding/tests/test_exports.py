"""The CSV exports over HTTP (SQLite and PostgreSQL): the founder's fulfilment list (`backers.csv`) carries the
pledge, tier, amount, shipping region and state, and nothing about how a backer paid nor a backer's identity number;
a backer's own export stays theirs."""

from __future__ import annotations

import csv
import io

from crowdfunding import flows
from crowdfunding.api.exports import FULFILMENT_COLUMNS, OWN_PLEDGE_COLUMNS
from crowdfunding.models import Pledge
from sqlmodel import select

from shared.auth import Principal
from shared.ids import new_id, utcnow
from shared.replica import SubjectReplica
from tests.support.crowdfunding import FOUNDER, api, backer, live_campaign, pledge

RESIDENT_ID_MASKED = "350102********1234"


async def verified_person(ctx: flows.Context, subject: str) -> None:
    """The backer as the replica knows a real-name verified person: display name and masked resident id."""
    async with ctx.db.writing() as session:
        session.add(SubjectReplica(subject_id=subject, kind="person", name="张三", owner_id=subject,
                                   region_code="350102", registration_number_masked=RESIDENT_ID_MASKED,
                                   registered_at=utcnow(), source_event_id=new_id(), verified_at=utcnow(),
                                   verification_level="sandbox:resident_id"))


def rows_of(text: str) -> tuple[list[str], list[dict[str, str]]]:
    reader = csv.DictReader(io.StringIO(text))
    return list(reader.fieldnames or []), list(reader)


async def test_the_founder_s_backers_csv_has_what_fulfilment_needs_and_nothing_about_payment_or_identity(
        ctx: flows.Context) -> None:
    campaign, tier = await live_campaign(ctx, goal=100_000)
    await verified_person(ctx, backer(1).subject)
    paid = await pledge(ctx, campaign, tier, 1, party="card-of-backer-1", region="HK")
    declined = await pledge(ctx, campaign, tier, 2, party="card-declined")
    async with ctx.db.reading() as session:
        stored = {p.id: p for p in (await session.execute(
            select(Pledge).where(Pledge.campaign_id == campaign.id))).scalars()}
    assert (stored[paid.id].state, stored[declined.id].state) == ("paid", "cancelled")
    secrets = {"card-of-backer-1", "card-declined", stored[paid.id].instrument_hash,
               stored[declined.id].instrument_hash, str(stored[paid.id].payment_reference), RESIDENT_ID_MASKED,
               "sandbox: declined", "payment_failed"}

    async with api(ctx) as http:
        exported = await http.client.get(f"/campaigns/{campaign.id}/backers.csv", headers=http.as_(FOUNDER))
        assert exported.status_code == 200 and exported.headers["content-type"].startswith("text/csv")
        header, rows = rows_of(exported.text)
        assert tuple(header) == FULFILMENT_COLUMNS
        for forbidden in ("payment_party", "instrument_hash", "payment_reference", "payment_failure", "reason",
                          "resident_id", "registration_number_masked", "organisation_id"):
            assert forbidden not in header
        assert [s for s in secrets if s in exported.text] == []
        by_id = {r["pledge_id"]: r for r in rows}
        assert {k: by_id[paid.id][k] for k in ("backer_id", "tier_id", "tier_title", "currency", "amount_fen",
                                               "shipping_region", "shipping_fen", "state")} == {
            "backer_id": backer(1).subject, "tier_id": str(tier), "tier_title": "早鸟", "currency": "CNY",
            "amount_fen": "12000", "shipping_region": "HK", "shipping_fen": "2000", "state": "paid"}
        assert by_id[paid.id]["paid_at"] and by_id[paid.id]["placed_at"]
        assert (by_id[declined.id]["state"], by_id[declined.id]["shipping_region"]) == ("cancelled", "CN")

        regulator = Principal(subject="regulator-1", roles=frozenset({"regulator"}))
        supervised = await http.client.get(f"/campaigns/{campaign.id}/backers.csv", headers=http.as_(regulator))
        assert supervised.status_code == 200 and rows_of(supervised.text)[0] == list(FULFILMENT_COLUMNS)
        stranger = Principal(subject="founder-2", roles=frozenset({"founder"}))
        assert (await http.client.get(f"/campaigns/{campaign.id}/backers.csv",
                                      headers=http.as_(stranger))).status_code == 403

        own = await http.client.get("/pledges/export.csv", headers=http.as_(backer(2)))
        header, [mine] = rows_of(own.text)
        assert tuple(header) == OWN_PLEDGE_COLUMNS
        assert (mine["pledge_id"], mine["state"], mine["reason"]) == (declined.id, "cancelled", "payment_failed")
