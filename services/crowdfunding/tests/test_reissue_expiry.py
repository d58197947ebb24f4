"""Re-issue requests lapse (SQLite and PostgreSQL, over HTTP, on the service clock): a request to re-issue to another
party not decided within the policy's working days (the holiday calendar) is expired by the `reissue-expiry` job, or
by the approval or re-issue that meets it first, never approved late; the owner is told, nothing moves, and the
payout can be re-issued again."""

from __future__ import annotations

from datetime import datetime, timedelta

from crowdfunding import flows, jobs
from crowdfunding.domain.policy import DEFAULT_POLICY
from fastapi import FastAPI

from shared.auth import Principal
from shared.workdays import load_working_calendar
from tests.support.crowdfunding import (
    FOUNDER,
    REVIEWER,
    Api,
    declined_payout_and_refund,
    events_of,
    payouts_of,
)

SECOND = Principal(subject="reviewer-2", roles=frozenset({"reviewer"}))
MINUTE = timedelta(minutes=1)


def test_the_policy_gives_a_request_five_working_days_and_the_scheduler_runs_the_expiry() -> None:
    assert DEFAULT_POLICY.reissue_request_working_days == 5
    assert "reissue-expiry" in {job.name for job in jobs.crowdfunding_jobs(FastAPI())}


async def ask(http: Api, payout_id: str, who: Principal, party: str) -> dict[str, object]:
    asked = await http.client.post(f"/payouts/{payout_id}/reissue", headers=http.as_(who),
                                   json={"payment_party": party, "why": "new account"})
    assert asked.status_code == 202, asked.text
    request: dict[str, object] = asked.json()
    return request


def advance_to(ctx: flows.Context, moment: datetime) -> None:
    ctx.clock.advance(moment - ctx.clock.now())  # type: ignore[attr-defined]


async def test_an_undecided_request_lapses_after_five_working_days_and_is_never_approved_late(
        closed: flows.Context, http: Api) -> None:
    declined = await declined_payout_and_refund(closed)
    payout_request = await ask(http, declined.payout.id, FOUNDER, "founder-account-new")
    refund_request = await ask(http, declined.refund.id, REVIEWER, "card-of-backer-1-new")
    async with closed.db.reading() as session:
        calendar = await load_working_calendar(session)
    requested_at = datetime.fromisoformat(str(payout_request["requested_at"]))
    expires_at = datetime.fromisoformat(str(payout_request["expires_at"]))
    assert expires_at == calendar.add_working_days(requested_at, 5)  # the end of the 5th working day (Shanghai)
    assert calendar.working_days_between(requested_at, expires_at) == 5

    advance_to(closed, expires_at - MINUTE)  # the last minute of the last day: still open
    assert await jobs.reissue_expiry(closed) == 0
    queue = (await http.client.get("/reissue-requests", headers=http.as_(SECOND))).json()
    assert {r["id"] for r in queue} == {payout_request["id"], refund_request["id"]}
    assert await events_of(closed, "payout.reissue_expired.v1") == []

    advance_to(closed, expires_at + MINUTE)
    late = await http.client.post(f"/reissue-requests/{refund_request['id']}/approve", headers=http.as_(SECOND),
                                  json={})
    assert (late.status_code, late.json()["current_state"]) == (409, "expired"), late.text  # lapsed, not approved
    assert await jobs.reissue_expiry(closed) == 1  # the founder's request; the refund's lapsed with the approval
    assert await jobs.reissue_expiry(closed) == 0  # a second run finds nothing left

    expired = (await http.client.get("/reissue-requests", headers=http.as_(SECOND),
                                     params={"state": "expired"})).json()
    assert sorted((r["id"], r["decided_by"], r["new_payout_id"]) for r in expired) == sorted([
        (payout_request["id"], "system:crowdfunding", None), (refund_request["id"], "system:crowdfunding", None)])
    assert (await http.client.get("/reissue-requests", headers=http.as_(SECOND))).json() == []
    notices = {e["party_id"]: e for e in await events_of(closed, "payout.reissue_expired.v1")}
    assert set(notices) == {FOUNDER.subject, "backer-1"}  # each owner is told
    founder_notice = notices[FOUNDER.subject]
    assert (founder_notice["request_id"], founder_notice["payout_id"], founder_notice["requested_by"]) == (
        payout_request["id"], declined.payout.id, FOUNDER.subject)
    assert (datetime.fromisoformat(founder_notice["expires_at"]), founder_notice["working_days"]) == (expires_at, 5)
    rows = await payouts_of(closed, declined.campaign.id)
    assert [(p.id, p.status) for p in rows.values()] == [(declined.payout.id, "failed"),
                                                         (declined.refund.id, "failed")]  # nothing moved

    again = await ask(http, declined.payout.id, FOUNDER, "founder-account-new")  # asked anew: a fresh deadline
    assert datetime.fromisoformat(str(again["expires_at"])) > expires_at
    advance_to(closed, datetime.fromisoformat(str(again["expires_at"])) + MINUTE)
    same = await http.client.post(f"/payouts/{declined.payout.id}/reissue", headers=http.as_(FOUNDER), json={})
    assert same.status_code == 201, same.text  # the overdue request lapsed in the re-issue's own transaction
    assert (same.json()["reissue_of"], same.json()["party"]) == (declined.payout.id, "founder-account")
    assert len(await events_of(closed, "payout.reissue_expired.v1")) == 3
    assert await jobs.reissue_expiry(closed) == 0
