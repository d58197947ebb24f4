"""Crowdsourcing (众包) end to end with the real broker, on the running service's HTTP API: a bounty with two
milestones accepted and paid; a contest with three submissions and two winners; a bid ending in a dispute
mediated to a 60/40 split; a task auto-accepted after its window (the clock moved, never slept). After each
the task's ledger sums to zero, no escrow is left and the platform's trial balance is zero. Two acceptances of
the same submission, and a payout retried after a provider timeout, pay exactly once. Every step reaches the
audit log as an event."""

from __future__ import annotations

import asyncio
import secrets
from datetime import datetime, timedelta
from typing import Any

import httpx

from tests.support.platform import PlatformUnderTest, eventually, mint

PREFIX = "cn.sizhong.crowdsourcing"
DAY = 86400


class Market:
    """The crowdsourcing service seen by one poster, with the calls a scenario makes."""

    def __init__(self, platform: PlatformUnderTest, client: httpx.AsyncClient, poster_id: str,
                 poster: dict[str, str]) -> None:
        self.platform, self.client, self.poster_id, self.poster = platform, client, poster_id, poster

    @classmethod
    async def open(cls, platform: PlatformUnderTest, client: httpx.AsyncClient) -> Market:
        poster_id, poster = await platform.person("enterprise")
        return cls(platform, client, poster_id, poster)

    async def now(self) -> datetime:
        response = await self.client.get("/testing/clock", headers=self.platform.admin)
        assert response.status_code == 200, response.text
        return datetime.fromisoformat(response.json()["now"])

    async def verified_organisation(self) -> str:
        """Registered and real-name verified through the gateway (the poster verified first); usable once
        crowdsourcing's replica shows it verified (an event away)."""
        organisation = await self.platform.verified_organisation(self.poster)
        await self.replicated(organisation["id"], verified=True)
        return str(organisation["id"])

    async def registered_organisation(self) -> str:
        """Registered through the gateway, never verified: its poster's tasks are reviewed."""
        organisation = await self.platform.register_organisation(self.poster)
        await self.replicated(organisation["id"], verified=False)
        return str(organisation["id"])

    async def replicated(self, organisation_id: str, *, verified: bool) -> None:
        async def known() -> None:
            response = await self.client.get(f"/subjects/{organisation_id}", headers=self.poster)
            assert response.status_code == 200, response.text
            assert (response.json()["verified_at"] is not None) is verified, response.json()

        await eventually(known, within=15)

    async def call(self, method: str, path: str, headers: dict[str, str], body: Any = None,
                   status: int = 200) -> Any:
        response = await self.client.request(method, path, headers=headers, json=body)
        assert response.status_code == status, (path, response.text)
        return response.json()

    async def task(self, mode: str, amounts: list[int], *, days: list[int] | None = None, **fields: Any) -> Any:
        now = await self.now()
        days = days or [5 * (n + 1) for n in range(len(amounts))]
        body = {"mode": mode, "kind": "design_creative", "title": f"任务 {secrets.token_hex(3)}",
                "description": "工业设计", **fields,
                "milestones": [{"title": f"阶段 {n + 1}", "amount_fen": fen,
                                "due_at": (now + timedelta(days=d)).isoformat()}
                               for n, (fen, d) in enumerate(zip(amounts, days, strict=True))]}
        if mode == "bid":
            body.setdefault("deadline", (now + timedelta(days=2)).isoformat())
        return await self.call("POST", "/tasks", self.poster, body, status=201)

    async def publish(self, task: Any, expect: str = "open") -> Any:
        published = await self.call("POST", f"/tasks/{task['id']}/publish", self.poster)
        assert published["state"] == expect, published
        return published

    async def publish_open(self, task: Any) -> Any:
        """Publish, and where it goes to review, have a reviewer approve it."""
        published = await self.call("POST", f"/tasks/{task['id']}/publish", self.poster)
        if published["state"] == "under_review":
            reviewer = mint(f"reviewer-{secrets.token_hex(4)}", "reviewer")
            published = await self.call("POST", f"/tasks/{task['id']}/review", reviewer, {"approve": True})
        assert published["state"] == "open", published
        return published

    async def hired(self, amounts: list[int], solver_id: str, solver: dict[str, str], **fields: Any) -> Any:
        """A direct-hire task of `solver_id`, published and accepted by its solver."""
        task = await self.task("direct_hire", amounts, solver_id=solver_id, **fields)
        await self.publish(task)
        await self.call("POST", f"/tasks/{task['id']}/hire", solver, {"accept": True})
        return task

    async def submit(self, task: Any, solver: dict[str, str], content: str) -> Any:
        return await self.call("POST", f"/tasks/{task['id']}/submissions", solver, {"content": content}, status=201)

    async def ledger(self, task: Any) -> Any:
        return await self.call("GET", f"/tasks/{task['id']}/ledger", self.platform.regulator)

    async def assert_settled(self, task: Any) -> dict[str, int]:
        """The task's postings sum to zero, no escrow is held, every payout is paid, and the trial balance is
        zero; returns what each party was paid (kind:party -> fen)."""
        ledger = await self.ledger(task)
        assert all(v == 0 for v in ledger["sum"].values()), ledger["sum"]
        for transaction in ledger["transactions"]:
            assert sum(e["amount"] for e in transaction["entries"]) == 0, transaction
        assert ledger["escrow_held"] == {}, ledger["escrow_held"]
        assert all(p["status"] == "paid" for p in ledger["payouts"]), ledger["payouts"]
        assert all(a["status"] == "succeeded" for a in ledger["payment_attempts"]), ledger["payment_attempts"]
        # the provider executed exactly what was asked of it, by key, kind and amount ...
        executed = {op["idempotency_key"]: (op["kind"], int(op["amount"])) for op in ledger["provider_operations"]}
        asked = {a["idempotency_key"]: (a["kind"], int(a["amount"])) for a in ledger["payment_attempts"]}
        assert executed == asked, (executed, asked)
        # ... every payout and refund owed was executed for its amount ...
        for payout in ledger["payouts"]:
            assert executed.get(payout["idempotency_key"]) == (payout["kind"], payout["amount_fen"]), payout
        # ... and what was charged equals what left again plus the commission the platform kept
        moved = {kind: sum(fen for k, fen in executed.values() if k == kind) for kind in ("charge", "payout", "refund")}
        kept = ledger["accounts"].get("revenue/commission", 0)
        assert moved["charge"] == moved["payout"] + moved["refund"] + kept, (moved, kept)
        owed = {k: v for k, v in ledger["accounts"].items() if k.startswith("payable/") and v}
        assert owed == {}, owed
        trial = await self.call("GET", "/ledger/trial-balance", self.platform.admin)
        assert all(v == 0 for v in trial["trial_balance"].values()), trial
        paid: dict[str, int] = {}
        for payout in ledger["payouts"]:
            key = f"{payout['kind']}:{payout['party_id']}"
            paid[key] = paid.get(key, 0) + payout["amount_fen"]
        return paid


async def in_audit(platform: PlatformUnderTest, subject: str, *verbs: str) -> None:
    async def check() -> None:
        types = [e["type"] for e in await platform.audit_entries(subject=subject)]
        for verb in verbs:
            assert f"{PREFIX}.{verb}.v1" in types, (verb, types)

    await eventually(check, within=15)


async def test_bounty_with_two_milestones_reviewed_accepted_and_paid(platform: PlatformUnderTest) -> None:
    reviewer = mint(f"reviewer-{secrets.token_hex(4)}", "reviewer")
    solver_id, solver = await platform.person("solver")
    _, rival = await platform.person("solver")
    async with platform.client("crowdsourcing") as client:
        market = await Market.open(platform, client)
        # CNY 3,000 is below the review threshold: the bounty is reviewed before it opens
        task = await market.task("bounty", [100_000, 200_000])
        await market.publish(task, expect="under_review")
        assert (await client.get(f"/tasks/{task['id']}", headers=solver)).status_code == 404  # not public yet
        queue = await market.call("GET", "/reviews/tasks", reviewer)
        assert task["id"] in [t["id"] for t in queue]
        opened = await market.call("POST", f"/tasks/{task['id']}/review", reviewer, {"approve": True})
        assert opened["state"] == "open"
        assert [m["escrow_fen"] for m in opened["milestones"]] == [100_000, 200_000]

        first = await market.submit(task, solver, "方案 第一阶段")
        await market.submit(task, rival, "另一个方案")
        round_one = await market.call("POST", f"/tasks/{task['id']}/winners", market.poster,
                                      {"submission_ids": [first["id"]]})
        assert (round_one["state"], round_one["current_seq"]) == ("open", 2)
        second = await market.submit(task, solver, "方案 第二阶段")
        done = await market.call("POST", f"/tasks/{task['id']}/winners", market.poster,
                                 {"submission_ids": [second["id"]]})
        assert done["state"] == "completed"
        assert await market.assert_settled(task) == {f"payout:{solver_id}": 90_000 + 180_000}

        # ratings both ways close the task
        await market.call("POST", f"/tasks/{task['id']}/ratings", market.poster,
                          {"ratee_id": solver_id, "score": 5}, status=201)
        await market.call("POST", f"/tasks/{task['id']}/ratings", solver,
                          {"ratee_id": market.poster_id, "score": 4}, status=201)
        assert (await market.call("GET", f"/tasks/{task['id']}", market.poster))["state"] == "rated"
    await in_audit(platform, task["id"], "task.posted", "milestone.funded", "task.escrow_funded",
                   "task.sent_to_review", "task.reviewed", "task.opened", "submission.received", "escrow.released",
                   "submission.accepted", "submission.not_selected", "payout.completed", "task.completed",
                   "rating.given", "task.rated")


async def test_contest_with_three_submissions_and_two_winners(platform: PlatformUnderTest) -> None:
    solvers = [await platform.person("solver") for _ in range(3)]
    async with platform.client("crowdsourcing") as client:
        market = await Market.open(platform, client)
        organisation = await market.verified_organisation()
        task = await market.task("contest", [1_000_000], winners=2, organisation_id=organisation)
        published = await market.publish(task)  # verified, and CNY 10,000: no review
        assert published["poster_verified"] is True
        subs = [await market.submit(task, headers, f"logo concept {n}") for n, (_, headers) in enumerate(solvers)]
        # a solver sees only its own submission; the poster sees all three
        own = await market.call("GET", f"/tasks/{task['id']}/submissions", solvers[0][1])
        assert [s["id"] for s in own] == [subs[0]["id"]]
        assert len(await market.call("GET", f"/tasks/{task['id']}/submissions", market.poster)) == 3
        won = await market.call("POST", f"/tasks/{task['id']}/winners", market.poster,
                                {"submission_ids": [subs[0]["id"], subs[2]["id"]]})
        assert won["state"] == "completed"
        paid = await market.assert_settled(task)
        assert paid == {f"payout:{solvers[0][0]}": 450_000, f"payout:{solvers[2][0]}": 450_000}
        loser = await market.call("GET", f"/submissions/{subs[1]['id']}", solvers[1][1])
        assert loser["state"] == "not_selected"
    await in_audit(platform, task["id"], "task.opened", "task.started",
                   "submission.accepted", "submission.not_selected", "task.completed")


async def test_bid_ends_in_a_dispute_mediated_to_sixty_forty(platform: PlatformUnderTest) -> None:
    mediator_id = f"mediator-{secrets.token_hex(4)}"
    mediator, other_mediator = mint(mediator_id, "mediator"), mint(f"mediator-{secrets.token_hex(4)}", "mediator")
    bidders = [await platform.person("solver") for _ in range(2)]
    async with platform.client("crowdsourcing") as client:
        market = await Market.open(platform, client)
        organisation = await market.verified_organisation()
        task = await market.task("bid", [600_000, 400_000], organisation_id=organisation)
        await market.publish(task)
        bids = [await market.call("POST", f"/tasks/{task['id']}/bids", headers,
                                  {"price_fen": 900_000 + n * 50_000, "days": 20, "plan": "三周完成"}, status=201)
                for n, (_, headers) in enumerate(bidders)]
        assert len(await market.call("GET", f"/tasks/{task['id']}/bids", bidders[0][1])) == 1  # its own only
        assert len(await market.call("GET", f"/tasks/{task['id']}/bids", market.poster)) == 2
        started = await market.call("POST", f"/bids/{bids[0]['id']}/choose", market.poster)
        assert (started["state"], started["assignee_id"]) == ("in_progress", bidders[0][0])
        assert [m["escrow_fen"] for m in started["milestones"]] == [540_000, 360_000]  # scaled to the bid
        solver_id, solver = bidders[0]
        await market.submit(task, solver, "第一阶段交付")
        opened = await market.call("POST", f"/tasks/{task['id']}/disputes", market.poster,
                                   {"reason": "交付不完整", "evidence": "验收记录"}, status=201)
        dispute_id = opened["dispute"]["id"]
        path = f"/disputes/{dispute_id}"
        await market.call("POST", f"{path}/evidence", solver, {"text": "聊天记录"}, status=201)
        await market.call("POST", f"{path}/proposals", solver, {"solver_share_percent": 90})
        await market.call("POST", f"{path}/proposals", market.poster, {"solver_share_percent": 20})
        escalated = await market.call("POST", f"{path}/escalation", solver, {})
        assert escalated["dispute"]["stage"] == "platform_mediation"
        await market.call("POST", "/mediators/me", mediator)  # on the roster (disputes go to mediators only)
        await market.call("POST", f"{path}/mediator", platform.admin, {"mediator_id": mediator_id})
        # mediators see only the disputes assigned to them
        assert dispute_id in [d["id"] for d in await market.call("GET", "/disputes/assigned", mediator)]
        assert dispute_id not in [d["id"] for d in await market.call("GET", "/disputes/assigned", other_mediator)]
        assert (await client.get(path, headers=other_mediator)).status_code == 404
        refused = await client.post(f"{path}/resolution", headers=other_mediator,
                                    json={"solver_share_percent": 100, "basis": "x"})
        assert refused.status_code == 403, refused.text
        resolved = await market.call("POST", f"{path}/resolution", mediator,
                                     {"solver_share_percent": 60, "basis": "部分交付符合约定"})
        assert resolved["dispute"]["stage"] == "resolved"
        final = await market.call("GET", f"/tasks/{task['id']}", market.poster)
        assert final["state"] == "completed"
        paid = await market.assert_settled(task)
        # milestone one's 540,000: 324,000 to the solver less 32,400 commission; 216,000 back to the poster,
        # with the unstarted milestone two (360,000)
        assert paid == {f"payout:{solver_id}": 291_600, f"refund:{market.poster_id}": 216_000 + 360_000}
    await in_audit(platform, task["id"], "bid.placed", "bid.chosen", "task.disputed", "task.completed",
                   "payout.completed", "escrow.refunded")
    await in_audit(platform, dispute_id, "dispute.opened", "dispute.evidence_added", "dispute.proposal_made",
                   "dispute.escalated", "dispute.mediator_assigned", "dispute.resolved")


async def test_delivery_is_auto_accepted_when_the_window_passes(platform: PlatformUnderTest) -> None:
    solver_id, solver = await platform.person("solver")
    async with platform.client("crowdsourcing") as client:
        market = await Market.open(platform, client)
        organisation = await market.verified_organisation()
        task = await market.hired([800_000], solver_id, solver, organisation_id=organisation)
        await market.submit(task, solver, "交付物")
        run = await market.call("POST", "/testing/jobs/auto-accept/run", platform.admin)
        assert run["acted"] == 0
        await market.call("POST", "/testing/clock/advance", platform.admin, {"seconds": 14 * DAY + 60})
        run = await market.call("POST", "/testing/jobs/auto-accept/run", platform.admin)
        assert run["acted"] >= 1
        final = await market.call("GET", f"/tasks/{task['id']}", market.poster)
        assert final["state"] == "completed"
        assert await market.assert_settled(task) == {f"payout:{solver_id}": 720_000}
        again = await market.call("POST", "/testing/jobs/auto-accept/run", platform.admin)
        assert again["acted"] == 0
        assert await market.assert_settled(task) == {f"payout:{solver_id}": 720_000}
    async def automatic() -> None:
        accepted = await platform.audit_entries(subject=task["id"], type=f"{PREFIX}.submission.accepted.v1")
        assert accepted and '"automatically":true' in accepted[0]["entry"].replace(" ", ""), accepted

    await eventually(automatic, within=15)


async def test_two_acceptances_and_a_timed_out_payout_pay_exactly_once(platform: PlatformUnderTest) -> None:
    solver_id = f"solver-timeout-once-{secrets.token_hex(4)}"
    solver = mint(solver_id, "solver")
    async with platform.client("crowdsourcing") as client:
        market = await Market.open(platform, client)
        organisation = await market.verified_organisation()
        task = await market.hired([700_000], solver_id, solver, organisation_id=organisation)
        submission = await market.submit(task, solver, "成果")
        results = await asyncio.gather(*(client.post(f"/submissions/{submission['id']}/accept", headers=market.poster)
                                         for _ in range(2)))
        assert sorted(r.status_code for r in results) == [200, 409], [r.text for r in results]
        paid = await market.assert_settled(task)
        assert paid == {f"payout:{solver_id}": 630_000}
        ledger = await market.ledger(task)
        # the provider paid the solver 630,000 once (its first answer timed out), kept 70,000 and charged 700,000
        money_moved = sorted((op["kind"], int(op["amount"])) for op in ledger["provider_operations"])
        assert money_moved == [("charge", 700_000), ("payout", 630_000)], money_moved
        assert ledger["accounts"]["revenue/commission"] == 70_000
        await market.call("POST", "/testing/jobs/payouts/run", platform.admin)
        assert await market.assert_settled(task) == paid
        assert (await market.ledger(task))["provider_operations"] == ledger["provider_operations"]  # nothing more


async def test_declined_charge_cancels_the_task_with_a_typed_reason(platform: PlatformUnderTest) -> None:
    poster_id = f"poster-declined-{secrets.token_hex(4)}"
    async with platform.client("crowdsourcing") as client:
        market = Market(platform, client, poster_id, mint(poster_id, "enterprise"))
        task = await market.task("bounty", [600_000])
        cancelled = await market.publish(task, expect="cancelled")
        assert cancelled["reason"] == "payment_failed"
        ledger = await market.ledger(task)
        assert ledger["transactions"] == [] and ledger["payouts"] == []  # nothing was charged, nothing moved
        assert [a["status"] for a in ledger["payment_attempts"]] == ["failed"]
    await in_audit(platform, task["id"], "task.posted", "task.cancelled")
