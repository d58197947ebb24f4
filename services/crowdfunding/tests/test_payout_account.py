"""An approved redirection of a founder's payout becomes the campaign's payout account (SQLite and PostgreSQL, over
HTTP): the held tranche released later goes to the approved account and is paid once, a declined one is re-issued
there by the founder alone (no second request), and the change is recorded with its approver and told to the
founder; the ledger ends at zero."""

from __future__ import annotations

from dataclasses import dataclass

from crowdfunding import flows
from crowdfunding.models import Campaign, Payout

from shared.auth import Principal
from tests.support.crowdfunding import (
    DAY,
    FOUNDER,
    REVIEWER,
    Api,
    assert_ledger_zero,
    backer,
    events_of,
    live_campaign,
    payouts_of,
    pledge,
    provider_operations,
    settle_all,
    state_of,
)

NEW_ACCOUNT = "founder-account-new"  # the provider pays accounts ending in "-new" (closed_accounts)


@dataclass(frozen=True)
class Succeeded:
    campaign: Campaign
    pledge_id: str
    tranche_1: Payout  # 7,000 to the founder's closed account: declined


async def first_tranche_declined(ctx: flows.Context) -> Succeeded:
    """One pledge of 10,000 by backer 1; the campaign succeeded and its first tranche to the founder's closed
    account was declined (30% held until delivery)."""
    campaign, tier = await live_campaign(ctx, goal=10_000, payout_party="founder-account")
    placed = await pledge(ctx, campaign, tier, 1, party="card-of-backer-1-new")
    ctx.clock.advance(31 * DAY)  # type: ignore[attr-defined]
    await settle_all(ctx)
    [payout] = (await payouts_of(ctx, campaign.id)).values()
    assert (payout.kind, payout.party, payout.status, payout.amount_fen) == ("payout", "founder-account", "failed",
                                                                             7_000)
    return Succeeded(campaign, placed.id, payout)


async def redirect(http: Api, payout_id: str, approver: Principal = REVIEWER) -> tuple[str, dict[str, object]]:
    """The founder asks for the payout to go to the new account; a reviewer approves. (request id, new payout)"""
    asked = await http.client.post(f"/payouts/{payout_id}/reissue", headers=http.as_(FOUNDER),
                                   json={"payment_party": NEW_ACCOUNT, "why": "the old account was closed"})
    assert asked.status_code == 202, asked.text
    request_id: str = asked.json()["id"]
    approved = await http.client.post(f"/reissue-requests/{request_id}/approve", headers=http.as_(approver), json={})
    assert approved.status_code == 201, approved.text
    return request_id, approved.json()


async def deliver(closed: flows.Context, http: Api, campaign_id: str, pledge_id: str) -> None:
    """The founder records delivery and the backer confirms it: the delivery job releases the held tranche."""
    recorded = await http.client.post(f"/campaigns/{campaign_id}/delivery", headers=http.as_(FOUNDER),
                                      json={"note": "shipped"})
    assert recorded.status_code == 200, recorded.text
    confirmed = await http.client.post(f"/pledges/{pledge_id}/confirm-delivery", headers=http.as_(backer(1)))
    assert confirmed.status_code == 200, confirmed.text
    await settle_all(closed)


async def test_the_second_tranche_goes_to_the_approved_account_and_is_paid_once(closed: flows.Context,
                                                                                 http: Api) -> None:
    done = await first_tranche_declined(closed)
    request_id, new = await redirect(http, done.tranche_1.id)
    assert (new["party"], new["status"]) == (NEW_ACCOUNT, "paid")

    campaign = await state_of(closed, done.campaign.id)
    assert (campaign.payout_party, campaign.payout_party_request_id, campaign.payout_party_approved_by) == (
        NEW_ACCOUNT, request_id, REVIEWER.subject)
    assert campaign.payout_party_changed_at is not None
    [changed] = await events_of(closed, "campaign.payout_account_changed.v1")
    assert (changed["campaign_id"], changed["founder_id"], changed["request_id"], changed["payout_id"]) == (
        done.campaign.id, FOUNDER.subject, request_id, new["id"])
    assert (changed["requested_by"], changed["approved_by"]) == (FOUNDER.subject, REVIEWER.subject)
    assert (changed["from_party_masked"], changed["to_party_masked"]) == ("*" * 11 + "ount", "*" * 15 + "-new")
    assert NEW_ACCOUNT not in str(changed)  # the instrument itself stays off the stream

    await deliver(closed, http, done.campaign.id, done.pledge_id)
    await settle_all(closed)  # a second run finds nothing left to pay
    assert (await state_of(closed, done.campaign.id)).state == "fulfilled"
    tranche_2 = [p for p in (await payouts_of(closed, done.campaign.id)).values()
                 if p.cause.endswith(":tranche:2")]
    assert [(p.party, p.status, p.amount_fen, p.reissue_of) for p in tranche_2] == [(NEW_ACCOUNT, "paid", 3_000, None)]
    assert await provider_operations(closed, done.campaign.id) == [
        ("charge", "card-of-backer-1-new", "succeeded", 10_000),
        ("payout", "founder-account-declined", "failed", 7_000),  # the closed account
        ("payout", NEW_ACCOUNT, "succeeded", 7_000),  # tranche 1, re-issued with four eyes
        ("payout", NEW_ACCOUNT, "succeeded", 3_000),  # tranche 2: straight to the approved account, once
    ]
    assert len(await events_of(closed, "payout.reissue_requested.v1")) == 1  # no second request was needed
    await assert_ledger_zero(closed, done.campaign.id)


async def test_a_tranche_declined_before_the_approval_is_re_issued_to_the_approved_account_by_the_founder(
        closed: flows.Context, http: Api) -> None:
    done = await first_tranche_declined(closed)
    asked = await http.client.post(f"/payouts/{done.tranche_1.id}/reissue", headers=http.as_(FOUNDER),
                                   json={"payment_party": NEW_ACCOUNT, "why": "the old account was closed"})
    assert asked.status_code == 202, asked.text
    await deliver(closed, http, done.campaign.id, done.pledge_id)  # the approval is still pending
    [tranche_2] = [p for p in (await payouts_of(closed, done.campaign.id)).values()
                   if p.cause.endswith(":tranche:2")]
    assert (tranche_2.party, tranche_2.status) == ("founder-account", "failed")  # the closed account, again

    approved = await http.client.post(f"/reissue-requests/{asked.json()['id']}/approve", headers=http.as_(REVIEWER),
                                      json={})
    assert approved.status_code == 201, approved.text
    again = await http.client.post(f"/payouts/{tranche_2.id}/reissue", headers=http.as_(FOUNDER), json={})
    assert again.status_code == 201, again.text  # to the approved account: the founder's own act, no request
    assert (again.json()["party"], again.json()["status"], again.json()["reissue_of"]) == (
        NEW_ACCOUNT, "paid", tranche_2.id)
    back = await http.client.post(f"/payouts/{again.json()['id']}/reissue", headers=http.as_(FOUNDER),
                                  json={"payment_party": "founder-account"})
    assert back.status_code == 409  # paid: nothing left to re-issue
    payouts = [op for op in await provider_operations(closed, done.campaign.id) if op[0] == "payout"]
    assert sorted(payouts) == sorted([("payout", "founder-account-declined", "failed", 7_000),
                                      ("payout", "founder-account-declined", "failed", 3_000),
                                      ("payout", NEW_ACCOUNT, "succeeded", 7_000),
                                      ("payout", NEW_ACCOUNT, "succeeded", 3_000)])
    await assert_ledger_zero(closed, done.campaign.id)


REGULATOR = Principal(subject="regulator-1", roles=frozenset({"regulator"}))
ADMIN = Principal(subject="admin-1", roles=frozenset({"admin"}))
OTHER_FOUNDER = Principal(subject="founder-2", roles=frozenset({"founder", "backer"}))
OLD_MASKED, NEW_MASKED = "*" * 11 + "ount", "*" * 15 + "-new"


async def test_the_campaign_view_shows_the_payout_account_to_its_founder_and_supervisors_never_to_backers(
        closed: flows.Context, http: Api) -> None:
    done = await first_tranche_declined(closed)
    path = f"/campaigns/{done.campaign.id}"
    before = await http.client.get(path, headers=http.as_(FOUNDER))
    assert before.status_code == 200, before.text
    assert before.json()["payout_account"] == {"masked": OLD_MASKED, "changed_at": None, "approved_by": None,
                                               "request_id": None, "redirections": []}

    request_id, _ = await redirect(http, done.tranche_1.id)
    changed_at = (await state_of(closed, done.campaign.id)).payout_party_changed_at
    assert changed_at is not None
    shown = {"masked": NEW_MASKED, "changed_at": changed_at.isoformat().replace("+00:00", "Z"),
             "approved_by": REVIEWER.subject, "request_id": request_id,
             "redirections": [{"request_id": request_id, "from_masked": OLD_MASKED, "to_masked": NEW_MASKED,
                               "requested_by": FOUNDER.subject, "approved_by": REVIEWER.subject,
                               "approved_at": changed_at.isoformat().replace("+00:00", "Z")}]}
    for entitled in (FOUNDER, REVIEWER, REGULATOR, ADMIN):
        seen = await http.client.get(path, headers=http.as_(entitled))
        assert seen.status_code == 200, (entitled.subject, seen.text)
        assert seen.json()["payout_account"] == shown, entitled.subject
        assert NEW_ACCOUNT not in seen.text  # masked even to them, as the events are
    mine = await http.client.get("/campaigns", params={"mine": "true"}, headers=http.as_(FOUNDER))
    assert [c["payout_account"]["masked"] for c in mine.json()] == [NEW_MASKED]

    # the campaign succeeded (fulfilling now), so anyone may browse it: its backer, another founder, an anonymous
    # visitor; none of them sees where the founder is paid
    for outsider in ({"headers": http.as_(backer(1))}, {"headers": http.as_(OTHER_FOUNDER)}, {}):
        seen = await http.client.get(path, **outsider)  # type: ignore[arg-type]
        assert seen.status_code == 200, seen.text
        assert seen.json()["state"] == "fulfilling" and seen.json()["payout_account"] is None
        listed = await http.client.get("/campaigns", **outsider)  # type: ignore[arg-type]
        [item] = [c for c in listed.json() if c["id"] == done.campaign.id]
        assert item["payout_account"] is None
        for text in (seen.text, listed.text):
            assert NEW_MASKED not in text and OLD_MASKED not in text and request_id not in text
