"""A campaign's pledges as JSON over HTTP (SQLite and PostgreSQL): the founder gets the fulfilment view, the fields
of `backers.csv` and nothing else (no payment reference, decline or cancellation reason, risk flag, organisation or
equity decision), in the list and one by one; reviewers, regulators and admins get every pledge in full; a backer
their own pledges in full."""

from __future__ import annotations

import csv
import io

from crowdfunding import flows
from crowdfunding.api.exports import FULFILMENT_COLUMNS
from crowdfunding.handlers import placing

from shared.auth import Principal
from tests.support.crowdfunding import FOUNDER, REVIEWER, api, backer, live_campaign, organisation, pledge

REGULATOR = Principal(subject="regulator-1", roles=frozenset({"regulator"}))
ADMIN = Principal(subject="admin-1", roles=frozenset({"admin"}))
OTHER_FOUNDER = Principal(subject="founder-2", roles=frozenset({"founder"}))
# The founder's fields: backers.csv's columns, with the pledge as `id` (pinned here, not read from the code).
FOUNDER_FIELDS = {"id", "backer_id", "tier_id", "tier_title", "currency", "amount_fen", "shipping_region",
                  "shipping_fen", "state", "placed_at", "paid_at", "delivery_confirmed_at"}
HIDDEN = ("payment_reference", "flagged", "organisation_id", "decision_rule", "payment_failure", "reason",
          "payment_party", "instrument_hash", "policy_version", "kind")


async def test_the_founder_gets_the_fulfilment_fields_and_a_reviewer_every_field(ctx: flows.Context) -> None:
    campaign, tier = await live_campaign(ctx, goal=100_000)
    org = await organisation(ctx, backer(1).subject)
    for_org = await flows.pledge(ctx, backer(1), campaign.id, placing.PledgeInput(
        tier_id=tier, shipping_region="HK", payment_party="card-of-backer-1", organisation_id=org), ctx.clock.now())
    declined = await pledge(ctx, campaign, tier, 2, party="card-declined")
    shared = [await pledge(ctx, campaign, tier, n, party="one-card") for n in (3, 4, 5)]  # the third is flagged
    assert (for_org.state, for_org.organisation_id, declined.state, shared[-1].flagged) == (
        "paid", org, "cancelled", True)
    secrets = [str(for_org.payment_reference), org, "card-of-backer-1", "one-card", "payment_failed",
               "sandbox: declined"]

    async with api(ctx) as http:
        path = f"/campaigns/{campaign.id}/pledges"
        listed = await http.client.get(path, headers=http.as_(FOUNDER))
        assert listed.status_code == 200, listed.text
        rows = listed.json()
        assert len(rows) == 5 and all(set(row) == FOUNDER_FIELDS for row in rows)
        assert [s for s in secrets if s in listed.text] == []
        assert FOUNDER_FIELDS == {"id", *FULFILMENT_COLUMNS} - {"pledge_id"}  # the same allow-list as the CSV
        by_id = {row["id"]: row for row in rows}
        assert {k: by_id[for_org.id][k] for k in ("backer_id", "tier_title", "amount_fen", "shipping_region",
                                                  "shipping_fen", "state")} == {
            "backer_id": backer(1).subject, "tier_title": "早鸟", "amount_fen": 12_000, "shipping_region": "HK",
            "shipping_fen": 2_000, "state": "paid"}
        exported = await http.client.get(f"/campaigns/{campaign.id}/backers.csv", headers=http.as_(FOUNDER))
        csv_rows = {r["pledge_id"]: r for r in csv.DictReader(io.StringIO(exported.text))}
        same = FOUNDER_FIELDS - {"id", "placed_at", "paid_at", "delivery_confirmed_at"}  # not text the same way
        assert {k: str(by_id[for_org.id][k]) for k in same} == {k: csv_rows[for_org.id][k] for k in same}
        one = (await http.client.get(f"/pledges/{shared[-1].id}", headers=http.as_(FOUNDER))).json()
        assert set(one) == FOUNDER_FIELDS and one["state"] == "paid"

        for supervisor in (REVIEWER, REGULATOR, ADMIN):
            full = await http.client.get(path, headers=http.as_(supervisor))
            assert full.status_code == 200, (supervisor.subject, full.text)
            seen = {row["id"]: row for row in full.json()}
            assert len(seen) == 5 and all(set(HIDDEN[:6]) <= set(row) for row in seen.values())
            assert (seen[for_org.id]["organisation_id"], seen[for_org.id]["payment_reference"]) == (
                org, for_org.payment_reference)
            assert [seen[p.id]["flagged"] for p in shared] == [False, False, True]
            assert (seen[declined.id]["reason"], seen[declined.id]["payment_failure"]) == (
                "payment_failed", "sandbox: declined (test party)")
            assert "decision_rule" in seen[for_org.id] and "tier_title" not in seen[for_org.id]
        reviewed = (await http.client.get(f"/pledges/{shared[-1].id}", headers=http.as_(REVIEWER))).json()
        assert reviewed["flagged"] is True

        [mine] = (await http.client.get(path, headers=http.as_(backer(1)))).json()  # a backer: their own, in full
        assert (mine["id"], mine["organisation_id"], mine["payment_reference"]) == (
            for_org.id, org, for_org.payment_reference)
        assert (await http.client.get(path, headers=http.as_(OTHER_FOUNDER))).json() == []
        assert (await http.client.get(f"/pledges/{for_org.id}", headers=http.as_(OTHER_FOUNDER))).status_code == 403
        assert (await http.client.get(path)).status_code == 401
