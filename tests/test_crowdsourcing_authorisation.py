"""Crowdsourcing: every mutating endpoint refuses the wrong role and the wrong owner (403) and the anonymous
(401); bad input is a 4xx problem+json naming the field, never a 500."""

from __future__ import annotations

import secrets
from datetime import timedelta
from typing import Any

import pytest

from tests.support.platform import PlatformUnderTest, mint
from tests.test_crowdsourcing_scenarios import Market

PROBLEM = "application/problem+json"


def someone(*roles: str) -> tuple[str, dict[str, str]]:
    subject = f"{roles[0]}-{secrets.token_hex(4)}"
    return subject, mint(subject, *roles)


async def _scenario(market: Market) -> dict[str, Any]:
    """A poster's tasks in the states the endpoints need, with their solvers."""
    ids: dict[str, Any] = {}
    solver_id, solver = someone("solver")
    bidder_id, bidder = someone("solver")
    ids["solver"], ids["bidder"] = solver, bidder
    organisation = await market.verified_organisation()
    bounty = await market.task("bounty", [600_000], organisation_id=organisation)
    await market.publish(bounty)
    ids["bounty"] = bounty["id"]
    ids["bounty_submission"] = (await market.submit(bounty, solver, f"idea {secrets.token_hex(4)}"))["id"]
    hire = await market.hired([600_000, 600_000], solver_id, solver, organisation_id=organisation)
    ids["hire"] = hire["id"]
    ids["hire_submission"] = (await market.submit(hire, solver, f"work {secrets.token_hex(4)}"))["id"]
    bid = await market.task("bid", [600_000], organisation_id=organisation, involves_personal_data=True,
                            visibility="invited", invited_solver_ids=[bidder_id])
    await market.publish(bid)
    ids["bid"] = bid["id"]
    ids["bid_id"] = (await market.call("POST", f"/tasks/{bid['id']}/bids", bidder,
                                       {"price_fen": 500_000, "days": 5, "plan": "p"}, status=201))["id"]
    ids["draft"] = (await market.task("bounty", [600_000]))["id"]
    review = await market.task("bounty", [100_000])
    await market.publish(review, expect="under_review")
    ids["review"] = review["id"]
    disputed = await market.hired([600_000], solver_id, solver, organisation_id=organisation)
    opened = await market.call("POST", f"/tasks/{disputed['id']}/disputes", solver,
                               {"reason": "r", "evidence": "e"}, status=201)
    ids["dispute"] = opened["dispute"]["id"]
    await market.call("POST", f"/disputes/{ids['dispute']}/escalation", solver, {})
    ids["mediator_id"], ids["mediator"] = someone("mediator")
    await market.call("POST", "/mediators/me", ids["mediator"])  # on the roster: disputes go to mediators only
    await market.call("POST", f"/disputes/{ids['dispute']}/mediator", market.platform.admin,
                      {"mediator_id": ids["mediator_id"]})
    ids["report"] = (await market.call("POST", "/reports", bidder, {"task_id": bounty["id"], "reason": "spam"},
                                       status=201))["id"]
    return ids


async def test_every_mutating_endpoint_refuses_wrong_roles_and_wrong_owners(platform: PlatformUnderTest) -> None:
    async with platform.client("crowdsourcing") as client:
        market = await Market.open(platform, client)
        ids = await _scenario(market)
        _, other_poster = someone("enterprise")
        _, other_solver = someone("solver")
        _, other_mediator = someone("mediator")
        _, reviewer = someone("reviewer")
        regulator = platform.regulator
        d = f"/disputes/{ids['dispute']}"
        # (method, path, body, [refused principals])
        calls: list[tuple[str, str, Any, list[dict[str, str]]]] = [
            ("POST", "/tasks", {"mode": "bounty", "kind": "rd_solution", "title": "x", "milestones": []},
             [ids["solver"], regulator, reviewer]),
            ("POST", f"/tasks/{ids['draft']}/publish", None, [ids["solver"], other_poster, regulator]),
            ("POST", f"/tasks/{ids['draft']}/cancel", None, [ids["solver"], other_poster, regulator]),
            ("POST", f"/tasks/{ids['review']}/review", {"approve": True}, [market.poster, other_poster, regulator]),
            ("POST", f"/tasks/{ids['bid']}/bids", {"price_fen": 1, "days": 1, "plan": "p"},
             [other_poster, other_solver, regulator]),
            ("POST", f"/bids/{ids['bid_id']}/choose", None, [ids["bidder"], other_poster, regulator]),
            ("POST", f"/tasks/{ids['hire']}/hire", {"accept": True}, [other_poster, other_solver, regulator]),
            ("POST", f"/tasks/{ids['hire']}/submissions", {"content": "mine"},
             [market.poster, other_solver, regulator]),
            ("POST", f"/submissions/{ids['hire_submission']}/accept", None, [ids["solver"], other_poster, regulator]),
            ("POST", f"/submissions/{ids['hire_submission']}/revision", {"note": "n"},
             [ids["solver"], other_poster, regulator]),
            ("POST", f"/tasks/{ids['bounty']}/winners", {"submission_ids": [ids["bounty_submission"]]},
             [ids["solver"], other_poster, regulator]),
            ("POST", f"/tasks/{ids['hire']}/disputes", {"reason": "r", "evidence": "e"},
             [other_poster, other_solver, regulator, reviewer]),
            ("POST", f"{d}/evidence", {"text": "t"}, [other_poster, other_solver, regulator, ids["mediator"]]),
            ("POST", f"{d}/proposals", {"solver_share_percent": 50}, [other_poster, other_solver, regulator]),
            ("POST", f"{d}/escalation", {"third_party": "调解委员会"}, [other_poster, other_mediator, regulator]),
            ("POST", f"{d}/mediator", {"mediator_id": "m"}, [ids["mediator"], market.poster, regulator]),
            ("POST", f"{d}/resolution", {"solver_share_percent": 50, "basis": "b"},
             [other_mediator, market.poster, ids["solver"], regulator]),
            ("POST", f"/tasks/{ids['hire']}/ratings", {"ratee_id": "x", "score": 5},
             [other_poster, other_solver, regulator]),
            ("POST", f"/reports/{ids['report']}/decision", {"upheld": False}, [market.poster, regulator]),
            ("POST", "/reports", {"task_id": ids["bounty"], "reason": "spam"}, [mint("service:x", "service")]),
        ]
        for method, path, body, refused in calls:
            for headers in refused:
                response = await client.request(method, path, headers=headers, json=body)
                assert response.status_code == 403, (method, path, response.text)
                assert response.headers["content-type"] == PROBLEM
            assert (await client.request(method, path, json=body)).status_code == 401, path

        # an agency purchase needs the agency role
        now = await market.now()
        agency_only = await client.post("/tasks", headers=market.poster, json={
            "mode": "bounty", "kind": "rd_solution", "title": "x", "poster_type": "agency",
            "milestones": [{"title": "m", "amount_fen": 1, "due_at": (now + timedelta(days=3)).isoformat()}]})
        assert agency_only.status_code == 403 and agency_only.json()["errors"][0]["field"] == "poster_type"
        # reads: solvers see their own bids and submissions only; a non-public task is hidden from outsiders
        assert (await client.get(f"/tasks/{ids['bid']}", headers=other_solver)).status_code == 404
        assert (await client.get(f"/submissions/{ids['hire_submission']}", headers=other_solver)).status_code == 404
        assert (await client.get(f"/tasks/{ids['hire']}/ledger", headers=market.poster)).status_code == 403
        assert (await client.get("/ledger/trial-balance", headers=ids["solver"])).status_code == 403
        assert (await client.get("/disputes", headers=ids["mediator"])).status_code == 403
        # and the owners succeed where the others were refused
        accepted = await client.post(f"/submissions/{ids['hire_submission']}/accept", headers=market.poster)
        assert accepted.status_code == 200, accepted.text
        resolved = await client.post(f"{d}/resolution", headers=ids["mediator"],
                                     json={"solver_share_percent": 50, "basis": "b"})
        assert resolved.status_code == 200, resolved.text


@pytest.mark.parametrize(("target", "body", "field", "status"), [
    ("tasks", {"mode": "auction"}, "mode", 422),
    ("tasks", {"milestones": [{"title": "m", "amount_fen": -1, "due_at": "+3"}]}, "milestones.0.amount_fen", 422),
    ("tasks", {"milestones": [{"title": "m", "amount_fen": 1.5, "due_at": "+3"}]}, "milestones.0.amount_fen", 422),
    ("tasks", {"milestones": [{"title": "m", "amount_fen": 10**16, "due_at": "+3"}]}, "milestones.0.amount_fen",
     422),
    ("tasks", {"milestones": [{"title": "m", "amount_fen": 1, "due_at": "2030-01-01T00:00:00"}]},
     "milestones.0.due_at", 422),
    ("tasks", {"milestones": [{"title": "m", "amount_fen": 1, "due_at": "-3"}]}, "milestones.0.due_at", 422),
    ("tasks", {"milestones": [{"title": "m", "amount_fen": 1, "due_at": "9999-12-31T23:59:59+00:00"}]},
     "milestones.0.due_at", 422),
    ("tasks", {"involves_personal_data": True, "visibility": "public"}, "visibility", 422),
    ("tasks", {"mode": "direct_hire"}, "solver_id", 422),
    ("tasks", {"mode": "bid"}, "deadline", 422),
    ("tasks", {"winners": 0}, "winners", 422),
    ("tasks", {"mode": "bid", "winners": 2, "deadline": "+1"}, "winners", 422),
    ("tasks", {"title": "a\x00b"}, "title", 422),
    ("tasks", {"surprise": 1}, "surprise", 422),
    ("tasks", {"milestones": []}, "milestones", 422),
    ("tasks", {"mode": "piece_rate", "milestones": [], "piece_quantity": 3, "deadline": "+2"}, "piece_price_fen",
     422),
    ("tasks", {"parent_id": "no-such-task"}, "parent_id", 404),
    ("tasks", {"organisation_id": "bad id!"}, "organisation_id", 422),
    ("tasks", {"organisation_id": "org-never-registered"}, "organisation_id", 409),  # unknown: cannot be checked
    ("tasks", {"winners": 2, "prize_shares_percent": [40, 60]}, "prize_shares_percent", 422),
    ("tasks", {"winners": 2, "prize_shares_percent": [0, 100]}, "prize_shares_percent.0", 422),
    ("tasks", {"winners": 2, "prize_shares_percent": [60, 40], "prize_amounts_fen": [1, 1]}, "prize_amounts_fen",
     422),
    ("tasks", {"winners": 2, "prize_amounts_fen": [400_000, 100_000]}, "prize_amounts_fen", 422),
    ("tasks", {"public_notice": "soon"}, "public_notice", 422),
    ("tasks", {"max_bids": 3}, "max_bids", 422),
    ("tasks", {"mode": "bid", "deadline": "+1", "max_bids": 0}, "max_bids", 422),
    ("bids", {"price_fen": 0, "days": 1, "plan": "p"}, "price_fen", 422),
    ("bids", {"price_fen": 1, "days": 0, "plan": "p"}, "days", 422),
    ("bids", {"price_fen": 1, "days": 1, "plan": ""}, "plan", 422),
    ("submissions", {"content": ""}, "content", 422),
    ("submissions", {"content": "x\x00"}, "content", 422),
    ("winners", {"submission_ids": []}, "submission_ids", 422),
    ("winners", {"submission_ids": ["unknown"]}, "submission_ids", 422),
    ("winners", {"submission_ids": ["a"], "leftover": "keep"}, "leftover", 422),
    ("disputes", {"evidence": "e"}, "reason", 422),
    ("disputes", {"reason": "r", "evidence": "e", "submission_id": "bad id!"}, "submission_id", 422),
    ("ratings", {"ratee_id": "x", "score": 6}, "score", 422),
    ("reports", {"reason": "ugly"}, "reason", 422),
    ("reports", {"reason": "spam", "submission_id": "unknown"}, "submission_id", 422),
])
async def test_bad_input_is_a_4xx_naming_the_field(platform: PlatformUnderTest, target: str, body: dict[str, Any],
                                                   field: str, status: int) -> None:
    async with platform.client("crowdsourcing") as client:
        market = await Market.open(platform, client)
        now = await market.now()

        def when(value: Any) -> Any:
            if isinstance(value, str) and value[:1] in "+-" and value[1:].isdigit():
                return (now + timedelta(days=int(value))).isoformat()
            return value

        if "milestones" in body:
            body = {**body, "milestones": [{k: when(v) for k, v in m.items()} for m in body["milestones"]]}
        body = {k: when(v) for k, v in body.items()}
        if target == "tasks":
            base = {"mode": "bounty", "kind": "rd_solution", "title": "t",
                    "milestones": [{"title": "m", "amount_fen": 600_000,
                                    "due_at": (now + timedelta(days=3)).isoformat()}]}
            response = await client.post("/tasks", headers=market.poster, json={**base, **body})
        else:
            _, solver = someone("solver")
            bid = await market.task("bid", [600_000])
            bounty = await market.task("bounty", [600_000])
            await market.publish(bid, expect="under_review")
            paths = {"bids": (f"/tasks/{bid['id']}/bids", solver), "submissions": (
                f"/tasks/{bounty['id']}/submissions", solver), "winners": (
                f"/tasks/{bounty['id']}/winners", market.poster), "disputes": (
                f"/tasks/{bounty['id']}/disputes", market.poster), "ratings": (
                f"/tasks/{bounty['id']}/ratings", market.poster), "reports": ("/reports", solver)}
            if target in ("submissions", "winners", "reports"):  # a draft is not there to report
                await market.publish_open(bounty)
            if target == "winners":
                await market.submit(bounty, solver, f"entry {secrets.token_hex(4)}")
            if target == "reports":
                body = {"task_id": bounty["id"], **body}
            path, headers = paths[target]
            response = await client.post(path, headers=headers, json=body)
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == PROBLEM
    assert field in {error["field"] for error in response.json()["errors"]}, response.json()


async def test_garbage_never_makes_a_500(platform: PlatformUnderTest) -> None:
    rng = secrets.SystemRandom()
    values: list[object] = [None, 0, -1, 2**63, 1.5, True, "", "x" * 300, [], {}, "\x00", "a\x00b", "' OR 1=1 --",
                            "2030-02-30T10:00:00+08:00", "9999-12-31T23:59:59+14:00", "0001-01-01T00:00:00-12:00",
                            "名字\u202e", [{"title": "m", "amount_fen": 2**62, "due_at": "2031-01-01T00:00:00Z"}]]
    keys = ["mode", "kind", "title", "milestones", "deadline", "winners", "piece_price_fen", "piece_quantity",
            "solver_id", "visibility", "invited_solver_ids", "parent_id", "organisation_id", "price_fen", "days",
            "plan", "content", "submission_ids", "leftover", "reason", "evidence", "score", "ratee_id",
            "solver_share_percent", "task_id", "prize_shares_percent", "prize_amounts_fen", "public_notice",
            "max_bids", "submission_id", "upheld", "note"]
    async with platform.client("crowdsourcing") as client:
        market = await Market.open(platform, client)
        _, solver = someone("solver")
        bounty = await market.task("bounty", [600_000])
        await market.publish_open(bounty)
        targets = [("/tasks", market.poster), (f"/tasks/{bounty['id']}/submissions", solver),
                   (f"/tasks/{bounty['id']}/winners", market.poster), (f"/tasks/{bounty['id']}/bids", solver),
                   (f"/tasks/{bounty['id']}/disputes", market.poster), ("/reports", solver),
                   (f"/tasks/{bounty['id']}/ratings", market.poster), ("/notices/x/objections", solver),
                   ("/objections/x/decision", mint("reviewer-g", "reviewer")), ("/mediators/me", solver)]
        for _ in range(150):
            path, headers = rng.choice(targets)
            body = {key: rng.choice(values) for key in rng.sample(keys, rng.randint(1, 6))}
            response = await client.post(path, headers=headers, json=body)
            assert response.status_code < 500, (path, body, response.text)
        for path in ("/tasks/%00", "/tasks/x'--", "/submissions/" + "a" * 65, "/disputes/..%2F..", "/tasks?limit=0",
                     "/tasks?mode=zzz", "/disputes?stage=%00"):
            response = await client.get(path, headers=market.poster)
            assert 400 <= response.status_code < 500, (path, response.text)


async def test_invited_solvers_reports_and_reissued_payouts_are_for_the_right_people_only(
        platform: PlatformUnderTest) -> None:
    async with platform.client("crowdsourcing") as client:
        market = await Market.open(platform, client)
        organisation = await market.verified_organisation()
        bidder_id, bidder = someone("solver")
        secret = await market.task("bid", [600_000], organisation_id=organisation, involves_personal_data=True,
                                   visibility="invited", invited_solver_ids=[bidder_id])
        assert (await market.publish(secret))["invited_solver_ids"] == [bidder_id]  # the poster sees them
        seen = await market.call("GET", f"/tasks/{secret['id']}", bidder)
        assert seen["invited_solver_ids"] == []  # an invited solver does not learn who else is invited
        # a task one may not see cannot be reported (it is not there)
        _, outsider = someone("solver")
        hidden = await client.post("/reports", headers=outsider, json={"task_id": secret["id"], "reason": "spam"})
        assert hidden.status_code == 404, hidden.text
        # a reviewer never decides its own report
        _, reviewer = someone("reviewer")
        report = await market.call("POST", "/reports", reviewer, {"task_id": secret["id"], "reason": "spam"},
                                   status=201)
        own = await client.post(f"/reports/{report['id']}/decision", headers=reviewer, json={"upheld": True})
        assert own.status_code == 403, own.text
        assert own.headers["content-type"].startswith(PROBLEM)

        # a payout declined by the provider is re-issued by an admin only, under a new key
        solver_id = f"solver-declined-{secrets.token_hex(4)}"
        solver = mint(solver_id, "solver")
        hire = await market.hired([600_000], solver_id, solver, organisation_id=organisation)
        work = await market.submit(hire, solver, f"work {secrets.token_hex(4)}")
        await market.call("POST", f"/submissions/{work['id']}/accept", market.poster)
        payouts = await market.call("GET", f"/tasks/{hire['id']}/payouts", market.poster)
        assert [p["status"] for p in payouts] == ["failed"], payouts
        for refused in (market.poster, solver, platform.regulator):
            response = await client.post(f"/payouts/{payouts[0]['id']}/reissue", headers=refused)
            assert response.status_code == 403, response.text
        reissued = await market.call("POST", f"/payouts/{payouts[0]['id']}/reissue", platform.admin)
        assert reissued["idempotency_key"] == f"{payouts[0]['idempotency_key']}/retry-1"
        assert reissued["status"] == "failed"  # the sandbox declines this test party every time
        again = await client.post(f"/payouts/{payouts[0]['id']}/reissue", headers=platform.admin)
        assert again.status_code == 409, again.text
        statuses = [p["status"] for p in await market.call("GET", f"/tasks/{hire['id']}/payouts", market.poster)]
        assert sorted(statuses) == ["failed", "reissued"]
