"""Crowdsourcing end to end with the real broker, on the running services' HTTP APIs: a general contract (总包)
split into sub-tasks (分包) that are done, the contract rolling up; enterprises, agencies and institutes posting
as their own kind, and a solver refused; an unverified poster's task reviewed and a verified one's not; and a
subject red-listed by credit (five and more accepted deliveries, a score of 750, the notice period passed) whose
task is then reviewed first and whose next payout carries half the commission (联合激励). The ledger sums to zero
after each.

The red-list test moves credit's clock past the notice period (5 working days) on the session-wide platform.
That clock only moves forward and lives in credit's process, so the `credit_clock_restored` fixture
(tests/conftest.py) restarts credit afterwards (same database, broker, port and consumer group): the credit tests
that follow run on the real time again."""

from __future__ import annotations

import secrets
from datetime import datetime, timedelta

from tests.support.platform import PlatformUnderTest, eventually, mint
from tests.support.red_list import list_after_notice, red_notice
from tests.test_crowdsourcing_scenarios import Market, in_audit

PIECE = 10_001  # fen: 10% commission is 1,000 (half up); half of it relieved leaves 500


def later(now: datetime, days: int) -> str:
    return (now + timedelta(days=days)).isoformat()


async def test_a_general_contract_rolls_up_its_sub_tasks(platform: PlatformUnderTest) -> None:
    solver_id, solver = await platform.person("solver")
    winner_id, winner = await platform.person("solver")
    async with platform.client("crowdsourcing") as client:
        market = await Market.open(platform, client)
        organisation = await market.verified_organisation()
        now = await market.now()
        contract = await market.call("POST", "/tasks", market.poster, {
            "mode": "general_contract", "kind": "supply_chain_parts", "title": "总包 整机", "organisation_id":
            organisation, "deadline": later(now, 30)}, status=201)
        hire = await market.task("direct_hire", [300_000], solver_id=solver_id, organisation_id=organisation,
                                 parent_id=contract["id"])
        bounty = await market.task("bounty", [600_000], organisation_id=organisation, parent_id=contract["id"])
        # another poster cannot add to it
        other = await Market.open(platform, client)
        refused = await client.post("/tasks", headers=other.poster, json={
            "mode": "bid", "kind": "rd_solution", "title": "x", "parent_id": contract["id"],
            "deadline": later(now, 2), "milestones": [{"title": "m", "amount_fen": 100, "due_at": later(now, 5)}]})
        assert refused.status_code == 403 and refused.json()["errors"][0]["field"] == "parent_id", refused.text
        assert (await market.publish(contract))["state"] == "open"
        await market.publish(hire)
        await market.publish(bounty)

        await market.call("POST", f"/tasks/{hire['id']}/hire", solver, {"accept": True})
        assert (await market.call("GET", f"/tasks/{contract['id']}", market.poster))["state"] == "in_progress"
        delivered = await market.submit(hire, solver, "零件图纸")
        await market.call("POST", f"/submissions/{delivered['id']}/accept", market.poster)
        assert (await market.call("GET", f"/tasks/{contract['id']}", market.poster))["state"] == "in_progress"
        entry = await market.submit(bounty, winner, "装配方案")
        await market.call("POST", f"/tasks/{bounty['id']}/winners", market.poster, {"submission_ids": [entry["id"]]})
        done = await market.call("GET", f"/tasks/{contract['id']}", market.poster)
        assert done["state"] == "completed" and done["completed_at"], done
        assert await market.assert_settled(hire) == {f"payout:{solver_id}": 270_000}
        assert await market.assert_settled(bounty) == {f"payout:{winner_id}": 540_000}
        assert (await market.ledger(contract))["transactions"] == []  # the contract itself holds no money
        mine = await market.call("GET", "/tasks?mine=true&mode=general_contract", market.poster)
        assert [t["id"] for t in mine] == [contract["id"]]
    await in_audit(platform, contract["id"], "task.posted", "task.opened", "task.started", "task.completed")


async def test_cancelling_a_general_contract_cancels_and_refunds_its_sub_tasks(platform: PlatformUnderTest) -> None:
    solver_id, solver = await platform.person("solver")
    async with platform.client("crowdsourcing") as client:
        market = await Market.open(platform, client)
        organisation = await market.verified_organisation()
        now = await market.now()
        body = {"mode": "general_contract", "kind": "supply_chain_logistics", "title": "总包 物流",
                "organisation_id": organisation, "deadline": later(now, 30)}
        draft = await market.call("POST", "/tasks", market.poster, body, status=201)  # stays a draft
        started = await market.task("direct_hire", [300_000], solver_id=solver_id, organisation_id=organisation,
                                    parent_id=draft["id"])
        await market.publish(started)
        await market.call("POST", f"/tasks/{started['id']}/hire", solver, {"accept": True})
        refused = await client.post(f"/tasks/{draft['id']}/cancel", headers=market.poster, json={})
        assert refused.status_code == 409 and refused.headers["content-type"].startswith(
            "application/problem+json"), refused.text
        assert (refused.json()["rule"], refused.json()["sub_task_id"]) == ("sub_task_started", started["id"])

        contract = await market.call("POST", "/tasks", market.poster, body, status=201)
        bounty = await market.task("bounty", [600_000], organisation_id=organisation, parent_id=contract["id"])
        hire = await market.task("direct_hire", [400_000], solver_id=solver_id, organisation_id=organisation,
                                 parent_id=contract["id"])
        for task in (contract, bounty, hire):
            await market.publish(task)
        other = await Market.open(platform, client)
        stranger = await client.post(f"/tasks/{contract['id']}/cancel", headers=other.poster, json={})
        assert stranger.status_code == 403, stranger.text
        cancelled = await market.call("POST", f"/tasks/{contract['id']}/cancel", market.poster, {})
        assert (cancelled["state"], cancelled["reason"]) == ("cancelled", "poster_request")
        for sub in (bounty, hire):
            seen = await market.call("GET", f"/tasks/{sub['id']}", market.poster)
            assert (seen["state"], seen["reason"]) == ("cancelled", "contract_cancelled"), seen
        assert await market.assert_settled(bounty) == {f"refund:{market.poster_id}": 600_000}
        assert await market.assert_settled(hire) == {f"refund:{market.poster_id}": 400_000}
    await in_audit(platform, hire["id"], "task.cancelled", "escrow.refunded", "payout.completed")


async def test_enterprises_agencies_and_institutes_post_as_their_kind_and_a_solver_may_not(
        platform: PlatformUnderTest) -> None:
    async with platform.client("crowdsourcing") as client:
        institute_id, institute = await platform.person("institute")  # a self-service role at sign-up
        research = Market(platform, client, institute_id, institute)
        organisation = await research.verified_organisation()  # an institute registers its own organisation
        task = await research.task("bid", [500_000], organisation_id=organisation)
        assert (task["poster_type"], task["poster_id"], task["poster_verified"]) == ("institute", institute_id, True)
        assert (await research.publish(task))["state"] == "open"  # verified: no review
        agency_id = f"agency-{secrets.token_hex(4)}"
        purchase = await Market(platform, client, agency_id, mint(agency_id, "agency")).task("bounty", [600_000])
        assert purchase["poster_type"] == "agency"  # public-service purchase (政府购买服务)
        enterprise = await Market.open(platform, client)
        assert (await enterprise.task("bounty", [600_000]))["poster_type"] == "enterprise"
        body = {"mode": "bounty", "kind": "rd_solution", "title": "x", "milestones": [
            {"title": "m", "amount_fen": 600_000, "due_at": later(await research.now(), 5)}]}
        solver = (await platform.person("solver"))[1]
        refused = await client.post("/tasks", headers=solver, json=body)
        assert refused.status_code == 403, refused.text  # a role that may not post
        for claim in ("institute", "agency"):
            claimed = await client.post("/tasks", headers=enterprise.poster, json={**body, "poster_type": claim})
            assert claimed.status_code == 403 and claimed.json()["errors"][0]["field"] == "poster_type", claimed.text
        both = mint(f"both-{secrets.token_hex(4)}", "enterprise", "institute")
        unnamed = await client.post("/tasks", headers=both, json=body)
        assert unnamed.status_code == 422 and unnamed.json()["errors"][0]["field"] == "poster_type", unnamed.text
        named = await client.post("/tasks", headers=both, json={**body, "poster_type": "institute"})
        assert named.status_code == 201 and named.json()["poster_type"] == "institute", named.text

    async def recorded() -> None:
        posted = await platform.audit_entries(subject=task["id"], type="cn.sizhong.crowdsourcing.task.posted.v1")
        assert posted and '"poster_type":"institute"' in posted[0]["entry"].replace(" ", ""), posted

    await eventually(recorded, within=15)


async def test_an_unverified_posters_task_is_reviewed_and_a_verified_ones_is_not(platform: PlatformUnderTest) -> None:
    reviewer = mint(f"reviewer-{secrets.token_hex(4)}", "reviewer")
    async with platform.client("crowdsourcing") as client:
        market = await Market.open(platform, client)
        registered = await market.registered_organisation()  # a checked code, but never real-name verified
        unverified = await market.task("bid", [500_000], organisation_id=registered)
        assert unverified["poster_verified"] is False
        assert (await market.publish(unverified, expect="under_review"))["poster_verified"] is False
        verified = await market.task("bid", [500_000], organisation_id=await market.verified_organisation())
        assert verified["poster_verified"] is True
        await market.publish(verified)  # open at once
        approved = await market.call("POST", f"/tasks/{unverified['id']}/review", reviewer, {"approve": True})
        assert approved["state"] == "open"

    async def why() -> None:
        sent = await platform.audit_entries(subject=unverified["id"],
                                            type="cn.sizhong.crowdsourcing.task.sent_to_review.v1")
        assert sent and '"why":"unverified_poster"' in sent[0]["entry"].replace(" ", ""), sent

    await eventually(why, within=15)


async def review_positions(market: Market, reviewer: dict[str, str], *task_ids: str) -> list[int]:
    """Where each task stands in the review queue (read page by page until all are found)."""
    seen: list[str] = []
    while not set(task_ids) <= set(seen):
        page = await market.call("GET", f"/reviews/tasks?limit=200&offset={len(seen)}", reviewer)
        assert page, (task_ids, len(seen))
        seen += [t["id"] for t in page]
    return [seen.index(task_id) for task_id in task_ids]


async def test_a_red_listed_subject_is_reviewed_first_and_pays_half_the_commission(
        platform: PlatformUnderTest, credit_clock_restored: None) -> None:
    """Credit's clock is moved past the notice period; `credit_clock_restored` restores it afterwards."""
    reviewer = mint(f"reviewer-{secrets.token_hex(4)}", "reviewer")
    red_id, red = await platform.person("enterprise", "solver")  # solves tasks, and posts its own
    async with platform.client("crowdsourcing") as client, platform.client("credit") as credit:
        market = await Market.open(platform, client)
        organisation = await market.verified_organisation()
        pieces = await market.call("POST", "/tasks", market.poster, {
            "mode": "piece_rate", "kind": "supply_chain_after_sales", "title": "售后工单", "organisation_id":
            organisation, "piece_price_fen": PIECE, "piece_quantity": 12,
            "deadline": later(await market.now(), 20)}, status=201)
        await market.publish(pieces)
        delivered = [await market.submit(pieces, red, f"工单 {n} {secrets.token_hex(3)}") for n in range(12)]
        for submission in delivered[:11]:  # eleven accepted deliveries on time: a score of 765
            await market.call("POST", f"/submissions/{submission['id']}/accept", market.poster)
        listing = await red_notice(credit, red_id, red)
        # two bounties below the review threshold: a plain poster's first, then the red-listed subject's
        plain = await Market.open(platform, client)
        first = await plain.task("bounty", [300_000], organisation_id=await plain.verified_organisation())
        await plain.publish(first, expect="under_review")
        own = Market(platform, client, red_id, red)
        second = await own.task("bounty", [300_000])
        await own.publish(second, expect="under_review")
        plain_at, red_at = await review_positions(market, reviewer, first["id"], second["id"])
        assert plain_at < red_at  # oldest first, as long as the subject is not listed
        # the notice period (5 working days, not 5 days) passes on credit's clock; the listing job lists the entry
        assert (await list_after_notice(platform, red_id, red, listing))["state"] == "listed"

        async def fast_tracked() -> None:  # crowdsourcing's replica has the listing: its task goes first
            plain_at, red_at = await review_positions(market, reviewer, first["id"], second["id"])
            assert red_at < plain_at, (red_at, plain_at)

        await eventually(fast_tracked, within=10)
        await market.call("POST", f"/submissions/{delivered[11]['id']}/accept", market.poster)
        final = await market.call("GET", f"/tasks/{pieces['id']}", market.poster)
        assert final["state"] == "completed"
        # eleven pieces at 10,001 less 1,000, the twelfth less 500 only (half the commission relieved)
        assert await market.assert_settled(pieces) == {f"payout:{red_id}": 11 * 9_001 + 9_501}
        assert (await market.ledger(pieces))["accounts"]["revenue/commission"] == 11 * 1_000 + 500

    async def relieved() -> None:
        released = await platform.audit_entries(subject=pieces["id"],
                                                type="cn.sizhong.crowdsourcing.escrow.released.v1")
        reliefs = sorted('"commission_relief_percent":50' in e["entry"].replace(" ", "") for e in released)
        assert reliefs == [False] * 11 + [True], reliefs

    await eventually(relieved, within=15)
