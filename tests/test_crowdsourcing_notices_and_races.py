"""Crowdsourcing (众包), the rest of issue 4, end to end with the real broker and HTTP: a contest with ranked
prizes whose winners go through public notice (任务公示) with an objection; a bounty dispute about one
submission mediated to a split by a mediator on the roster (a person without the role is refused); the
abandonment escalation ending an assignment with a refund; 200 concurrent bids at a task capped at 50,
concurrent winner selection and duplicate deliveries paying and counting once. Every ledger balances."""

from __future__ import annotations

import asyncio
import secrets
from typing import Any

from tests.support.platform import PlatformUnderTest, eventually, mint
from tests.test_crowdsourcing_scenarios import DAY, PREFIX, Market, in_audit


async def test_ranked_contest_in_public_notice_objection_dismissed_then_paid(platform: PlatformUnderTest) -> None:
    solvers = [await platform.person("solver") for _ in range(3)]
    reviewer = mint(f"reviewer-{secrets.token_hex(4)}", "reviewer")
    async with platform.client("crowdsourcing") as client:
        market = await Market.open(platform, client)
        organisation = await market.verified_organisation()
        task = await market.task("contest", [1_000_000], winners=3, prize_shares_percent=[50, 30, 20],
                                 public_notice=True, organisation_id=organisation)
        assert (task["prize_basis"], task["prize_ranks"], task["public_notice"]) == ("percent", [50, 30, 20], True)
        await market.publish_open(task)
        subs = [await market.submit(task, headers, f"方案 {n} {secrets.token_hex(3)}")
                for n, (_, headers) in enumerate(solvers)]
        await market.call("POST", f"/tasks/{task['id']}/winners", market.poster,
                          {"submission_ids": [subs[2]["id"], subs[0]["id"]]})
        again = await client.post(f"/tasks/{task['id']}/winners", headers=market.poster,
                                  json={"submission_ids": [subs[1]["id"]]})
        assert again.status_code == 409 and again.json()["rule"] == "in_public_notice", again.text
        notices = await market.call("GET", f"/tasks/{task['id']}/notices", solvers[1][1])
        assert len(notices) == 1 and notices[0]["notice"]["state"] == "published"
        notice_id = notices[0]["notice"]["id"]
        path = f"/notices/{notice_id}/objections"
        body = {"reason": "评选不公", "evidence": "评分表"}
        outsider = mint(f"solver-{secrets.token_hex(4)}", "solver")
        assert (await client.post(path, headers=outsider, json=body)).status_code == 403  # not a participant
        assert (await client.post(path, headers=market.poster, json=body)).status_code == 403  # wrong role
        bad = await client.post(path, headers=solvers[1][1], json={"reason": "", "evidence": "x"})
        assert bad.status_code == 422 and "reason" in bad.text, bad.text
        objection = await market.call("POST", path, solvers[1][1], body, status=201)
        queue = await market.call("GET", "/objections", reviewer)
        assert objection["id"] in [o["id"] for o in queue]
        assert (await client.get("/objections", headers=solvers[1][1])).status_code == 403
        decision = f"/objections/{objection['id']}/decision"
        assert (await client.post(decision, headers=market.poster, json={"upheld": True})).status_code == 403
        await market.call("POST", "/testing/clock/advance", platform.admin, {"seconds": 5 * DAY + 60})
        assert (await market.call("POST", "/testing/jobs/notices/run", platform.admin))["acted"] == 0  # pending
        await market.call("POST", decision, reviewer, {"upheld": False, "note": "评分有据"})
        assert (await market.call("POST", "/testing/jobs/notices/run", platform.admin))["acted"] >= 1
        final = await market.call("GET", f"/tasks/{task['id']}", market.poster)
        assert final["state"] == "completed"
        paid = await market.assert_settled(task)
        assert paid == {f"payout:{solvers[2][0]}": 450_000, f"payout:{solvers[0][0]}": 270_000,
                        f"refund:{market.poster_id}": 200_000}
    await in_audit(platform, task["id"], "notice.published", "objection.filed", "objection.decided",
                   "notice.finalised", "submission.accepted", "task.completed")


async def test_bounty_dispute_about_a_submission_mediated_to_sixty_forty(platform: PlatformUnderTest) -> None:
    (a_id, a), (b_id, b) = [await platform.person("solver") for _ in range(2)]
    mediator_id = f"mediator-{secrets.token_hex(4)}"
    mediator = mint(mediator_id, "mediator")
    not_a_mediator_id, _ = await platform.person("solver")
    async with platform.client("crowdsourcing") as client:
        market = await Market.open(platform, client)
        organisation = await market.verified_organisation()
        task = await market.task("bounty", [1_000_000], winners=2, organisation_id=organisation)
        await market.publish_open(task)
        sub_a = await market.submit(task, a, f"甲 {secrets.token_hex(3)}")
        sub_b = await market.submit(task, b, f"乙 {secrets.token_hex(3)}")
        disputes = f"/tasks/{task['id']}/disputes"
        missing = await client.post(disputes, headers=b, json={"reason": "r", "evidence": "e"})
        assert missing.status_code == 422 and missing.json()["errors"][0]["field"] == "submission_id", missing.text
        others = await client.post(disputes, headers=a, json={"reason": "r", "evidence": "e",
                                                              "submission_id": sub_b["id"]})
        assert others.status_code == 403, others.text
        opened = await market.call("POST", disputes, b, {"reason": "未获评审", "evidence": "提交记录",
                                                         "submission_id": sub_b["id"]}, status=201)
        dispute = opened["dispute"]
        assert (dispute["submission_id"], dispute["stake_fen"]) == (sub_b["id"], 500_000)
        held = await client.post(f"/tasks/{task['id']}/winners", headers=market.poster,
                                 json={"submission_ids": [sub_a["id"]]})
        assert held.status_code == 409 and held.json()["rule"] == "round_disputed", held.text
        path = f"/disputes/{dispute['id']}"
        await market.call("POST", f"{path}/escalation", b, {})
        wrong = await client.post(f"{path}/mediator", headers=platform.admin, json={"mediator_id": not_a_mediator_id})
        assert wrong.status_code == 422 and wrong.json()["errors"][0]["field"] == "mediator_id", wrong.text
        assert (await client.post("/mediators/me", headers=b)).status_code == 403  # only a mediator enrols
        await market.call("POST", "/mediators/me", mediator)
        await market.call("POST", f"{path}/mediator", platform.admin, {"mediator_id": mediator_id})
        await market.call("POST", f"{path}/resolution", mediator, {"solver_share_percent": 60, "basis": "部分采用"})
        await market.call("POST", f"/tasks/{task['id']}/winners", market.poster, {"submission_ids": [sub_a["id"]]})
        final = await market.call("GET", f"/tasks/{task['id']}", market.poster)
        assert final["state"] == "completed"
        paid = await market.assert_settled(task)
        assert paid == {f"payout:{b_id}": 270_000, f"refund:{market.poster_id}": 200_000, f"payout:{a_id}": 450_000}
    await in_audit(platform, dispute["id"], "dispute.opened", "dispute.escalated", "dispute.mediator_assigned",
                   "dispute.resolved")


async def test_abandonment_escalation_cancels_the_assignment_and_refunds(platform: PlatformUnderTest) -> None:
    solver_id, solver = await platform.person("solver")
    async with platform.client("crowdsourcing") as client:
        market = await Market.open(platform, client)
        organisation = await market.verified_organisation()
        task = await market.hired([700_000], solver_id, solver, organisation_id=organisation)
        await market.call("POST", "/testing/clock/advance", platform.admin, {"seconds": 5 * DAY + 60})
        await market.call("POST", "/testing/jobs/abandonment/run", platform.admin)
        await market.call("POST", "/testing/clock/advance", platform.admin, {"seconds": 3 * DAY + 60})
        await market.call("POST", "/testing/jobs/abandonment/run", platform.admin)
        final = await market.call("GET", f"/tasks/{task['id']}", market.poster)
        assert (final["state"], final["reason"]) == ("expired", "winner_unresponsive")
        assert await market.assert_settled(task) == {f"refund:{market.poster_id}": 700_000}

    async def escalated() -> None:
        entries = await platform.audit_entries(subject=task["id"], type=f"{PREFIX}.abandonment.escalated.v1")
        assert entries and solver_id in str(entries[0]), entries

    await eventually(escalated, within=15)
    await in_audit(platform, task["id"], "abandonment.warned", "abandonment.escalated", "task.expired")


async def test_races_for_the_last_bid_the_winners_and_a_duplicate_delivery(platform: PlatformUnderTest) -> None:
    async with platform.client("crowdsourcing") as client:
        market = await Market.open(platform, client)
        organisation = await market.verified_organisation()
        capped = await market.task("bid", [500_000], max_bids=50, organisation_id=organisation)
        await market.publish(capped)

        async def bid(n: int) -> int:
            headers = mint(f"racer-{secrets.token_hex(5)}", "solver")
            response = await client.post(f"/tasks/{capped['id']}/bids", headers=headers,
                                         json={"price_fen": 400_000 + n, "days": 5, "plan": "p"})
            return response.status_code

        outcomes = await asyncio.gather(*(bid(n) for n in range(200)))
        assert outcomes.count(201) == 50 and outcomes.count(409) == 150, sorted(set(outcomes))
        view = await market.call("GET", f"/tasks/{capped['id']}", market.poster)
        assert view["bids_placed"] == 50
        assert len(await market.call("GET", f"/tasks/{capped['id']}/bids?limit=200", market.poster)) == 50

        contest = await market.task("contest", [900_000], winners=2, organisation_id=organisation)
        await market.publish_open(contest)
        solver = mint(f"solver-{secrets.token_hex(4)}", "solver")
        content = f"唯一交付 {secrets.token_hex(4)}"
        deliveries = await asyncio.gather(*(client.post(f"/tasks/{contest['id']}/submissions", headers=solver,
                                                        json={"content": content}) for _ in range(10)))
        assert sorted(r.status_code for r in deliveries) == [201] + [409] * 9
        first = next(r.json() for r in deliveries if r.status_code == 201)
        other = await market.submit(contest, mint(f"solver-{secrets.token_hex(4)}", "solver"), "另一方案")

        async def choose() -> Any:
            return await client.post(f"/tasks/{contest['id']}/winners", headers=market.poster,
                                     json={"submission_ids": [first["id"], other["id"]]})

        choices = await asyncio.gather(*(choose() for _ in range(20)))
        assert sorted(r.status_code for r in choices) == [200] + [409] * 19
        paid = await market.assert_settled(contest)
        assert sorted(paid.values()) == [405_000, 405_000]
