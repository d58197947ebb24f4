"""Re-issuing a declined payout or refund over HTTP (`POST /payouts/{id}/reissue`, SQLite and PostgreSQL): who may
(a reviewer; the founder for the campaign's own payout to the founder) and who may not (403 by role or owner, 401
anonymous), with nothing moved by a refusal; to another payment party, four eyes (a request a second reviewer, never
the requester, approves once, even two at once) and the owner's notice; paid once, the ledger at zero."""

from __future__ import annotations

import asyncio

from crowdfunding import flows

from shared.auth import Principal
from tests.support.crowdfunding import (
    FOUNDER,
    REVIEWER,
    Api,
    assert_ledger_zero,
    backer,
    declined_payout_and_refund,
    events_of,
    payouts_of,
    provider_operations,
    state_of,
)

PROBLEM = "application/problem+json"
OTHER_FOUNDER = Principal(subject="founder-2", roles=frozenset({"founder"}))
INVESTOR = Principal(subject="investor-1", roles=frozenset({"investor"}))
SECOND = Principal(subject="reviewer-2", roles=frozenset({"reviewer"}))
THIRD = Principal(subject="reviewer-3", roles=frozenset({"reviewer"}))
BACKER = Principal(subject=backer(1).subject, roles=frozenset({"backer"}))  # the refunded backer


async def test_reissue_refuses_wrong_roles_and_owners_over_http(closed: flows.Context, http: Api) -> None:
    declined = await declined_payout_and_refund(closed)
    payout, refund = declined.payout.id, declined.refund.id
    before = await payouts_of(closed, declined.campaign.id)
    refusals = [
        (payout, OTHER_FOUNDER, "payout"),  # a founder, but not this campaign's
        (payout, BACKER, "requires one of the roles"),
        (payout, INVESTOR, "requires one of the roles"),
        (refund, FOUNDER, "refund"),  # the campaign's founder: a backer's refund is not theirs to redirect
        (refund, BACKER, "requires one of the roles"),  # the refund's own backer: through support (a reviewer)
        (refund, INVESTOR, "requires one of the roles"),
        ("no-such-payout", BACKER, "requires one of the roles"),  # the role is checked before the payout is read
    ]
    for payout_id, who, said in refusals:
        response = await http.client.post(f"/payouts/{payout_id}/reissue", headers=http.as_(who),
                                          json={"why": "try"})
        assert response.status_code == 403, (payout_id, who.subject, response.text)
        assert response.headers["content-type"].startswith(PROBLEM) and said in response.json()["detail"]
    for payout_id in (payout, refund):
        anonymous = await http.client.post(f"/payouts/{payout_id}/reissue", json={})
        assert anonymous.status_code == 401
    assert await payouts_of(closed, declined.campaign.id) == before  # nothing closed, nothing issued

    missing = await http.client.post("/payouts/no-such-payout/reissue", headers=http.as_(REVIEWER), json={})
    assert (missing.status_code, missing.json()["errors"][0]["field"]) == (404, "payout_id")

    by_founder = await http.client.post(f"/payouts/{payout}/reissue", headers=http.as_(FOUNDER),
                                        json={"why": "the bank reopened it"})
    assert by_founder.status_code == 201, by_founder.text
    again = by_founder.json()
    assert (again["reissue_of"], again["party"], again["kind"]) == (payout, "founder-account", "payout")
    assert again["status"] == "failed"  # the same closed account: declined again, still owed

    for reissued_id in (again["id"], refund):  # a reviewer re-issues a founder's payout and a backer's refund
        by_reviewer = await http.client.post(f"/payouts/{reissued_id}/reissue", headers=http.as_(REVIEWER), json={})
        assert by_reviewer.status_code == 201, by_reviewer.text
        assert by_reviewer.json()["reissue_of"] == reissued_id
    statuses = [p.status for p in (await payouts_of(closed, declined.campaign.id)).values()]
    assert sorted(statuses) == ["failed", "failed", "reissued", "reissued", "reissued"]


async def test_a_refund_to_another_card_waits_for_a_second_reviewer_tells_the_backer_and_pays_once(
        closed: flows.Context, http: Api) -> None:
    declined = await declined_payout_and_refund(closed)
    refund = declined.refund
    asked = await http.client.post(f"/payouts/{refund.id}/reissue", headers=http.as_(REVIEWER),
                                   json={"payment_party": "card-of-backer-1-new", "why": "the backer's new card"})
    assert asked.status_code == 202, asked.text
    request = asked.json()
    assert (request["state"], request["payout_id"], request["party_id"], request["requested_by"]) == (
        "pending", refund.id, BACKER.subject, REVIEWER.subject)
    assert (request["from_party"], request["party"], request["amount_fen"]) == (
        "card-of-backer-1", "card-of-backer-1-new", 3_000)
    before = await payouts_of(closed, declined.campaign.id)
    assert before[refund.id].status == "failed"  # nothing issued yet

    [notice] = await events_of(closed, "payout.reissue_requested.v1")  # the backer is told before money moves
    assert (notice["party_id"], notice["payout_id"], notice["request_id"], notice["amount_fen"]) == (
        BACKER.subject, refund.id, request["id"], 3_000)
    assert (notice["from_party_masked"], notice["to_party_masked"]) == ("************er-1", "****************-new")

    for body in ({}, {"payment_party": "card-of-reviewer-new"}):  # one decision at a time
        busy = await http.client.post(f"/payouts/{refund.id}/reissue", headers=http.as_(REVIEWER), json=body)
        assert (busy.status_code, busy.json()["request_id"]) == (409, request["id"])
    queue = await http.client.get("/reissue-requests", headers=http.as_(SECOND))
    assert [r["id"] for r in queue.json()] == [request["id"]]
    for outsider in (FOUNDER, BACKER):
        assert (await http.client.get("/reissue-requests", headers=http.as_(outsider))).status_code == 403

    approve = f"/reissue-requests/{request['id']}/approve"
    own = await http.client.post(approve, headers=http.as_(REVIEWER), json={})
    assert own.status_code == 403 and "requester" in own.json()["detail"]
    for wrong_role in (FOUNDER, BACKER, INVESTOR):
        assert (await http.client.post(approve, headers=http.as_(wrong_role), json={})).status_code == 403
    assert await payouts_of(closed, declined.campaign.id) == before  # no refusal moved anything

    both = await asyncio.gather(*(http.client.post(approve, headers=http.as_(who), json={"why": "card checked"})
                                  for who in (SECOND, THIRD)))
    assert sorted(r.status_code for r in both) == [201, 409]
    [new] = [r.json() for r in both if r.status_code == 201]
    assert (new["reissue_of"], new["party"], new["status"], new["amount_fen"]) == (
        refund.id, "card-of-backer-1-new", "paid", 3_000)
    again = await http.client.post(approve, headers=http.as_(THIRD), json={})
    assert (again.status_code, again.json()["current_state"]) == (409, "approved")

    refunds = [op for op in await provider_operations(closed, declined.campaign.id) if op[0] == "refund"]
    assert refunds == [("refund", "card-of-backer-1-declined", "failed", 3_000),  # the closed card
                       ("refund", "card-of-backer-1-new", "succeeded", 3_000)]  # paid once
    [redirected] = await events_of(closed, "payout.redirected.v1")
    approver = next(who for who, r in zip((SECOND, THIRD), both, strict=True) if r.status_code == 201)
    assert (redirected["party_id"], redirected["payout_id"], redirected["reissue_of"]) == (
        BACKER.subject, new["id"], refund.id)
    assert (redirected["requested_by"], redirected["approved_by"]) == (REVIEWER.subject, approver.subject)
    assert "card-of-backer-1-new" not in str(redirected) + str(notice)  # the instrument itself stays off the stream
    decided = (await http.client.get("/reissue-requests", headers=http.as_(SECOND),
                                     params={"state": "approved"})).json()
    assert [(r["id"], r["decided_by"], r["new_payout_id"]) for r in decided] == [
        (request["id"], approver.subject, new["id"])]


async def test_a_founder_payout_to_another_account_is_rejected_or_approved_by_a_reviewer(
        closed: flows.Context, http: Api) -> None:
    declined = await declined_payout_and_refund(closed)
    payout = declined.payout
    first = await http.client.post(f"/payouts/{payout.id}/reissue", headers=http.as_(FOUNDER),
                                   json={"payment_party": "founder-account-new", "why": "new bank account"})
    assert first.status_code == 202 and first.json()["requested_by"] == FOUNDER.subject
    request_id = first.json()["id"]
    assert (await http.client.post(f"/reissue-requests/{request_id}/approve", headers=http.as_(FOUNDER),
                                   json={})).status_code == 403  # a founder approves nothing, their own least
    for outsider in (OTHER_FOUNDER, BACKER):
        refused = await http.client.post(f"/reissue-requests/{request_id}/reject", headers=http.as_(outsider),
                                         json={"why": "no"})
        assert refused.status_code == 403, refused.text
    rejected = await http.client.post(f"/reissue-requests/{request_id}/reject", headers=http.as_(REVIEWER),
                                      json={"why": "the account holder's name does not match"})
    assert rejected.status_code == 200 and rejected.json()["state"] == "rejected"
    twice = await http.client.post(f"/reissue-requests/{request_id}/reject", headers=http.as_(SECOND), json={})
    assert (twice.status_code, twice.json()["current_state"]) == (409, "rejected")
    assert (await http.client.post(f"/reissue-requests/{request_id}/approve", headers=http.as_(SECOND),
                                   json={})).status_code == 409
    [gone] = await events_of(closed, "payout.reissue_rejected.v1")
    assert (gone["request_id"], gone["party_id"]) == (request_id, FOUNDER.subject)
    assert (await payouts_of(closed, declined.campaign.id))[payout.id].status == "failed"  # still owed

    second = await http.client.post(f"/payouts/{payout.id}/reissue", headers=http.as_(FOUNDER),
                                    json={"payment_party": "founder-account-new", "why": "name corrected"})
    assert second.status_code == 202
    approved = await http.client.post(f"/reissue-requests/{second.json()['id']}/approve",
                                      headers=http.as_(REVIEWER), json={})
    assert approved.status_code == 201 and approved.json()["status"] == "paid"
    [notice] = await events_of(closed, "payout.redirected.v1")
    assert (notice["party_id"], notice["requested_by"], notice["approved_by"]) == (
        FOUNDER.subject, FOUNDER.subject, REVIEWER.subject)

    moved = await state_of(closed, declined.campaign.id)  # the founder's payouts go to the approved account now
    assert (moved.payout_party, moved.payout_party_request_id, moved.payout_party_approved_by) == (
        "founder-account-new", second.json()["id"], REVIEWER.subject)

    refund = await http.client.post(f"/payouts/{declined.refund.id}/reissue", headers=http.as_(REVIEWER),
                                    json={"payment_party": "card-of-backer-1-new"})
    await http.client.post(f"/reissue-requests/{refund.json()['id']}/approve", headers=http.as_(SECOND), json={})
    assert (await state_of(closed, declined.campaign.id)).payout_party == "founder-account-new"  # a refund: not it
    assert len(await events_of(closed, "campaign.payout_account_changed.v1")) == 1
    await assert_ledger_zero(closed, declined.campaign.id)  # both paid once: nothing owed, held or in custody
