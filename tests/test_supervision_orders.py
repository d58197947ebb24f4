"""Supervision orders (监管指令) end to end with the real broker: a regulator suspends a live campaign, crowdfunding
obeys and confirms, and a pledge made after the confirmation is refused naming the order; resume lets pledges in
again. A subject order is confirmed by every obeying crowd service and stops that subject in makerspace; an order
not confirmed in time is flagged. Only regulators issue orders; bad input gets a 4xx naming the field."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import httpx
import pytest

from tests.support.crowdsupport import Programme
from tests.support.platform import PlatformUnderTest, eventually, mint, start_platform
from tests.test_crowdfunding_scenarios import Funding, someone
from tests.test_crowdsourcing_scenarios import Market
from tests.test_makerspace_bookings import Space


async def order(audit: httpx.AsyncClient, regulator: dict[str, str], status: int = 201, **body: Any) -> Any:
    response = await audit.post("/supervision/orders", headers=regulator, json=body)
    assert response.status_code == status, response.text
    return response.json()


async def confirmed(platform: PlatformUnderTest, order_id: str) -> dict[str, Any]:
    async def check() -> dict[str, Any]:
        response = await platform.get("audit", f"/supervision/orders/{order_id}", platform.regulator)
        assert response.status_code == 200, response.text
        shown = dict(response.json())
        assert shown["status"] == "confirmed", shown
        return shown

    return await eventually(check, within=20)


async def test_an_order_suspends_a_live_campaign_and_a_pledge_after_its_confirmation_is_refused(
    platform: PlatformUnderTest,
) -> None:
    async with platform.client("crowdfunding") as client, platform.client("audit") as audit:
        funding = await Funding.open(platform, client)
        campaign, tier = await funding.live(goal=50_000)
        await funding.pledge(campaign, tier, someone("backer")[1])

        suspend = await order(audit, platform.regulator, action="suspend", target_type="campaign",
                              target_id=campaign["id"], reason="涉嫌虚假宣传，暂停募集")
        assert suspend["status"] == "pending" and suspend["expected"] == ["crowdfunding"]
        shown = await confirmed(platform, suspend["id"])
        [confirmation] = shown["confirmations"]
        assert confirmation["service"] == "crowdfunding" and confirmation["applied"] is True
        assert confirmation["detail"] == "campaign suspended"

        refused = await client.post(f"/campaigns/{campaign['id']}/pledges", headers=someone("backer")[1],
                                    json={"tier_id": tier["id"], "shipping_region": "CN"})
        assert refused.status_code == 423, refused.text
        problem = refused.json()
        assert problem["order_id"] == suspend["id"] and "涉嫌虚假宣传" in problem["detail"], problem
        state = await funding.call("GET", f"/campaigns/{campaign['id']}", funding.founder)
        assert state["state"] == "suspended"
        again = await order(audit, platform.regulator, status=409, action="suspend", target_type="campaign",
                            target_id=campaign["id"], reason="twice")
        assert again["current_state"] == "suspended"

        resume = await order(audit, platform.regulator, action="resume", target_type="campaign",
                             target_id=campaign["id"], reason="整改完成")
        await confirmed(platform, resume["id"])
        assert (await funding.call("GET", f"/campaigns/{campaign['id']}", funding.founder))["state"] == "live"
        await funding.pledge(campaign, tier, someone("backer")[1])
        await funding.audited(campaign["id"], "campaign.suspended", "campaign.reinstated")

        listed = await audit.get("/supervision/orders", headers=platform.regulator,
                                 params={"target_type": "campaign", "target_id": campaign["id"]})
        assert [o["action"] for o in listed.json()["orders"]] == ["suspend", "resume"]


async def test_a_subject_order_is_confirmed_by_every_crowd_service_and_stops_the_subject(
    platform: PlatformUnderTest,
) -> None:
    async with platform.client("makerspace") as client, platform.client("audit") as audit:
        space = await Space.create(platform, client)
        applicant_id = f"startup-{secrets.token_hex(4)}"
        applicant = mint(applicant_id, "founder")
        suspend = await order(audit, platform.regulator, action="suspend", target_type="subject",
                              target_id=applicant_id, reason="失信被执行人")
        shown = await confirmed(platform, suspend["id"])
        assert {c["service"] for c in shown["confirmations"]} == set(shown["expected"])
        assert {"crowdfunding", "makerspace"} <= set(shown["expected"])
        body = {"startup_name": "智造", "summary": "硬件孵化"}
        refused = await client.post(f"/spaces/{space.id}/applications", headers=applicant, json=body)
        assert refused.status_code == 423 and refused.json()["order_id"] == suspend["id"], refused.text
        other = await client.post(f"/spaces/{space.id}/applications", headers=mint("someone-else", "founder"),
                                  json=body)
        assert other.status_code == 201, other.text

        space_order = await order(audit, platform.regulator, action="suspend", target_type="space",
                                  target_id=space.id, reason="消防检查")
        await confirmed(platform, space_order["id"])
        closed = await client.post(f"/spaces/{space.id}/applications", headers=mint("third", "founder"), json=body)
        assert closed.status_code == 423 and closed.json()["target_type"] == "space", closed.text


@pytest.fixture(scope="module")
def audit_alone(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PlatformUnderTest]:
    """Audit without the crowd services: nobody is there to confirm an order."""
    yield from start_platform(tmp_path_factory.mktemp("audit-alone"), ("audit",))


async def test_an_order_nobody_confirms_is_flagged_after_the_window(audit_alone: PlatformUnderTest) -> None:
    platform = audit_alone
    async with platform.client("audit") as audit:
        issued = await order(audit, platform.regulator, action="suspend", target_type="programme",
                             target_id=f"prog-{secrets.token_hex(4)}", reason="预算违规")
        await audit.post("/testing/jobs/supervision_overdue/run", headers=platform.admin)
        before = (await audit.get(f"/supervision/orders/{issued['id']}", headers=platform.regulator)).json()
        assert before["status"] == "pending" and before["missing"] == before["expected"] == ["crowdsupport"], before
        moved = await audit.post("/testing/clock/advance", headers=platform.admin, json={"seconds": 61})
        assert moved.status_code == 200, moved.text
        ran = await audit.post("/testing/jobs/supervision_overdue/run", headers=platform.admin)
        assert ran.json()["acted"] >= 1, ran.text
        shown = (await audit.get(f"/supervision/orders/{issued['id']}", headers=platform.regulator)).json()
        assert shown["status"] == "overdue" and shown["overdue_at"] and shown["missing"] == ["crowdsupport"], shown
        overdue = (await audit.get("/supervision/orders", headers=platform.regulator,
                                   params={"status": "overdue"})).json()["orders"]
        assert issued["id"] in {o["id"] for o in overdue}


async def test_a_suspended_voucher_programme_redeems_nothing_until_resumed(platform: PlatformUnderTest) -> None:
    async with platform.client("crowdsupport") as client, platform.client("audit") as audit:
        programme = await Programme.create(client, budget_fen=1_000_000)
        voucher = await programme.voucher(mint(f"ent-{secrets.token_hex(5)}", "enterprise"))
        suspend = await order(audit, platform.regulator, action="suspend", target_type="programme",
                              target_id=programme.id, reason="预算违规，暂停兑付")
        assert suspend["expected"] == ["crowdsupport"]
        shown = await confirmed(platform, suspend["id"])
        assert [(c["service"], c["detail"]) for c in shown["confirmations"]] == [("crowdsupport",
                                                                                  "programme suspended")]
        refused = await programme.redeem(voucher["id"])
        assert refused.status_code == 423 and refused.json()["order_id"] == suspend["id"], refused.text
        assert "预算违规" in refused.json()["detail"]
        resume = await order(audit, platform.regulator, action="resume", target_type="programme",
                             target_id=programme.id, reason="整改完成")
        await confirmed(platform, resume["id"])
        redeemed = await programme.redeem(voucher["id"])
        assert redeemed.status_code == 200 and redeemed.json()["state"] == "redeemed", redeemed.text


async def test_only_regulators_issue_and_read_orders_and_bad_input_gets_4xx(platform: PlatformUnderTest) -> None:
    body = {"action": "suspend", "target_type": "task", "target_id": "t-1", "reason": "检查"}
    async with platform.client("audit") as audit:
        assert (await audit.post("/supervision/orders", json=body)).status_code == 401
        for who in (mint("a", "admin"), mint("f", "founder"), mint("r", "reviewer")):
            assert (await audit.post("/supervision/orders", headers=who, json=body)).status_code == 403
        for path in ("/supervision/orders", "/supervision/orders/x", "/statistics?from=2026-01-01&to=2026-01-02",
                     "/regulator/events", "/regulator/events/export"):
            assert (await audit.get(path, headers=mint("f", "founder"))).status_code == 403, path
        bad = [({**body, "action": "close"}, "action"), ({**body, "target_type": "bank"}, "target_type"),
               ({**body, "target_id": ""}, "target_id"), ({**body, "reason": ""}, "reason"),
               ({**body, "extra": 1}, "extra")]
        for payload, field in bad:
            response = await audit.post("/supervision/orders", headers=platform.regulator, json=payload)
            assert response.status_code == 422, response.text
            assert field in response.json()["detail"], response.text
        missing = await audit.get("/supervision/orders/nope", headers=platform.regulator)
        assert missing.status_code == 404
        resume = await audit.post("/supervision/orders", headers=platform.regulator,
                                  json={**body, "action": "resume", "target_id": f"t-{secrets.token_hex(3)}"})
        assert resume.status_code == 409 and resume.json()["current_state"] == "active", resume.text


async def test_a_suspended_task_takes_no_bids_and_a_suspended_subject_posts_no_task(
    platform: PlatformUnderTest,
) -> None:
    bidder_id, bidder = await platform.person("solver")
    async with platform.client("crowdsourcing") as client, platform.client("audit") as audit:
        market = await Market.open(platform, client)
        task = await market.task("bid", [600_000], organisation_id=await market.verified_organisation())
        await market.publish(task)
        suspend = await order(audit, platform.regulator, action="suspend", target_type="task", target_id=task["id"],
                              reason="涉嫌围标")
        shown = await confirmed(platform, suspend["id"])
        assert [c["service"] for c in shown["confirmations"]] == ["crowdsourcing"]
        bid = {"price_fen": 900_000, "days": 20, "plan": "三周完成"}
        refused = await client.post(f"/tasks/{task['id']}/bids", headers=bidder, json=bid)
        assert refused.status_code == 423 and refused.json()["order_id"] == suspend["id"], refused.text
        resume = await order(audit, platform.regulator, action="resume", target_type="task", target_id=task["id"],
                             reason="查无实据")
        await confirmed(platform, resume["id"])
        await market.call("POST", f"/tasks/{task['id']}/bids", bidder, bid, status=201)

        subject = await order(audit, platform.regulator, action="suspend", target_type="subject",
                              target_id=market.poster_id, reason="失信")
        await confirmed(platform, subject["id"])
        now = await market.now()
        posted = await client.post("/tasks", headers=market.poster, json={
            "mode": "bounty", "kind": "design_creative", "title": "任务", "description": "设计",
            "milestones": [{"title": "一", "amount_fen": 10_000, "due_at": (now + timedelta(days=5)).isoformat()}]})
        assert posted.status_code == 423 and posted.json()["target_id"] == market.poster_id, posted.text
        assert bidder_id != market.poster_id
