"""Crowdfunding (众筹) end to end with the real broker, on the running service's HTTP API: 500 concurrent pledges
racing for the last 100 units (exactly 100 succeed, the rest 409, the ledger balances); a reward campaign that
succeeds, ships and releases both tranches (its founder payout timing out once and paid once); one that fails and
refunds everyone; a duplicated payment callback applied once. After each, the campaign's ledger sums to zero and
nothing is left in custody; the events reach the audit log."""

from __future__ import annotations

import asyncio
import secrets
from datetime import datetime, timedelta
from typing import Any

import httpx
from crowdfunding.callbacks import SandboxCallbacks, derived_secret

from tests.support.platform import JWT_SECRET, PlatformUnderTest, eventually, mint

PREFIX = "cn.sizhong.crowdfunding"
DAY = 86400
PROVIDER = SandboxCallbacks(derived_secret(JWT_SECRET))  # the platform under test sets no PAYMENT_CALLBACK_SECRET


def someone(*roles: str) -> tuple[str, dict[str, str]]:
    subject = f"{roles[0]}-{secrets.token_hex(4)}"
    return subject, mint(subject, *roles)


class Funding:
    """The crowdfunding service seen by one founder, with the calls a scenario makes."""

    def __init__(self, platform: PlatformUnderTest, client: httpx.AsyncClient, founder_id: str,
                 founder: dict[str, str]) -> None:
        self.platform, self.client, self.founder_id, self.founder = platform, client, founder_id, founder
        self.reviewer = mint(f"reviewer-{secrets.token_hex(4)}", "reviewer")

    @classmethod
    async def open(cls, platform: PlatformUnderTest, client: httpx.AsyncClient) -> Funding:
        founder_id, founder = await platform.person("founder")
        return cls(platform, client, founder_id, founder)

    async def now(self) -> datetime:
        response = await self.client.get("/testing/clock", headers=self.platform.admin)
        assert response.status_code == 200, response.text
        return datetime.fromisoformat(response.json()["now"])

    async def advance(self, seconds: float) -> None:
        response = await self.client.post("/testing/clock/advance", headers=self.platform.admin,
                                          json={"seconds": seconds})
        assert response.status_code == 200, response.text

    async def job(self, name: str) -> int:
        response = await self.client.post(f"/testing/jobs/{name}/run", headers=self.platform.admin)
        assert response.status_code == 200, response.text
        return int(response.json()["acted"])

    async def verified_organisation(self) -> str:
        """The founder verifies itself and its organisation at the gateway; the replica here shows it verified."""
        organisation = await self.platform.verified_organisation(self.founder)

        async def replicated() -> None:
            response = await self.client.get(f"/subjects/{organisation['id']}", headers=self.founder)
            assert response.status_code == 200, response.text
            assert response.json()["verified_at"] is not None

        await eventually(replicated, within=15)
        return str(organisation["id"])

    async def call(self, method: str, path: str, headers: dict[str, str] | None, body: Any = None,
                   status: int = 200) -> Any:
        response = await self.client.request(method, path, headers=headers, json=body)
        assert response.status_code == status, (path, response.status_code, response.text)
        return response.json()

    async def draft(self, *, goal: int = 20_000, units: int | None = 10, days: int = 30, **fields: Any) -> Any:
        body = {"kind": "reward", "title": f"智能台灯 {secrets.token_hex(3)}", "summary": "护眼台灯",
                "story": "我们花了三年研发。", "industry": "hardware", "goal_fen": goal, "duration_days": days,
                **fields}
        campaign = await self.call("POST", "/campaigns", self.founder, body, status=201)
        now = await self.now()
        tier = await self.call("POST", f"/campaigns/{campaign['id']}/tiers", self.founder, {
            "title": "早鸟", "description": "一台台灯", "price_fen": 10_000, "units_limit": units,
            "delivery_date": (now + timedelta(days=days + 30)).isoformat(), "shipping": {"CN": 0, "HK": 2_000}},
            status=201)
        return campaign, tier

    async def live(self, **kwargs: Any) -> tuple[Any, Any]:
        organisation = await self.verified_organisation()
        campaign, tier = await self.draft(organisation_id=organisation, **kwargs)
        submitted = await self.call("POST", f"/campaigns/{campaign['id']}/submit", self.founder)
        assert submitted["state"] == "submitted" and submitted["review_findings"] == [], submitted
        await self.call("POST", f"/campaigns/{campaign['id']}/review", self.reviewer, {"decision": "approve"})
        launched = await self.call("POST", f"/campaigns/{campaign['id']}/launch", self.founder)
        assert launched["state"] == "live", launched
        return launched, tier

    async def pledge(self, campaign: Any, tier: Any, backer: dict[str, str], status: int = 201, **extra: Any) -> Any:
        return await self.call("POST", f"/campaigns/{campaign['id']}/pledges", backer,
                               {"tier_id": tier["id"], "shipping_region": "CN", **extra}, status=status)

    async def callback(self, pledge_id: str, status: str, reference: str = "", *, signer: SandboxCallbacks = PROVIDER,
                       expect: int = 200) -> Any:
        """The provider's notification, signed as the provider signs it."""
        body, headers = signer.notification(pledge_id, status, reference)
        response = await self.client.post("/payments/callback", content=body, headers=headers)
        assert response.status_code == expect, response.text
        return response.json()

    async def ledger(self, campaign_id: str) -> Any:
        return await self.call("GET", f"/campaigns/{campaign_id}/ledger", self.platform.regulator)

    async def assert_balanced(self, campaign_id: str, in_custody: int) -> Any:
        """The campaign's ledger and the whole trial balance sum to zero; custody holds exactly `in_custody` (the
        paid pledges of a campaign not settled yet) and nothing else is left on the campaign's accounts."""
        ledger = await self.ledger(campaign_id)
        assert set(ledger["sum"].values()) <= {0}, ledger["sum"]
        expected = {f"custody/campaign/{campaign_id}": in_custody} if in_custody else {}
        assert ledger["held"] == expected, ledger["held"]
        trial = await self.call("GET", "/ledger/trial-balance", self.platform.regulator)
        assert set(trial["trial_balance"].values()) <= {0}, trial
        return ledger

    async def assert_settled(self, campaign_id: str) -> Any:
        ledger = await self.assert_balanced(campaign_id, 0)
        assert {p["status"] for p in ledger["payouts"]} <= {"paid"}, ledger["payouts"]
        return ledger

    async def audited(self, subject: str, *verbs: str) -> None:
        async def check() -> None:
            types = [e["type"] for e in await self.platform.audit_entries(subject=subject)]
            for verb in verbs:
                assert f"{PREFIX}.{verb}.v1" in types, (verb, types)

        await eventually(check, within=15)


async def test_500_concurrent_pledges_race_for_the_last_100_units(platform: PlatformUnderTest) -> None:
    async with platform.client("crowdfunding") as client:
        funding = await Funding.open(platform, client)
        campaign, tier = await funding.live(units=120, goal=10**9)
        for _ in range(20):  # 20 units go first: 100 are left
            await funding.pledge(campaign, tier, someone("backer")[1])
        limits = httpx.Limits(max_connections=200, max_keepalive_connections=200)
        async with httpx.AsyncClient(base_url=platform.url("crowdfunding"), timeout=120, limits=limits) as racer:
            responses = await asyncio.gather(*(
                racer.post(f"/campaigns/{campaign['id']}/pledges", headers=someone("backer")[1],
                           json={"tier_id": tier["id"], "shipping_region": "CN"}) for _ in range(500)))
        codes = [r.status_code for r in responses]
        assert codes.count(201) == 100, sorted(set(codes))
        assert codes.count(409) == 400, sorted(set(codes))
        refused = next(r for r in responses if r.status_code == 409)
        assert refused.headers["content-type"].startswith("application/problem+json")
        assert "sold out" in refused.json()["detail"] and refused.json()["rule"] == "sold_out"
        read = await funding.call("GET", f"/campaigns/{campaign['id']}", None)
        assert read["tiers"][0]["units_taken"] == 120 and read["tiers"][0]["units_left"] == 0
        assert read["raised_fen"] == 120 * 10_000
        await funding.assert_balanced(campaign["id"], in_custody=120 * 10_000)


async def test_reward_campaign_succeeds_ships_and_releases_both_tranches(platform: PlatformUnderTest) -> None:
    async with platform.client("crowdfunding") as client:
        funding = await Funding.open(platform, client)
        campaign, tier = await funding.live(goal=20_000, payout_party="founder-timeout-once")
        backers = [someone("backer") for _ in range(3)]
        pledges = [await funding.pledge(campaign, tier, headers) for _, headers in backers]
        assert {p["state"] for p in pledges} == {"paid"}
        declined = await funding.call("POST", f"/campaigns/{campaign['id']}/pledges", someone("backer")[1],
                                      {"tier_id": tier["id"], "shipping_region": "CN",
                                       "payment_party": "card-declined"}, status=402)
        assert declined["rule"] == "payment_failed"
        # a duplicated provider callback for a paid pledge changes nothing
        for _ in range(2):
            again = await funding.callback(pledges[0]["id"], "succeeded", "dup")
            assert again["state"] == "paid"
        read = await funding.call("GET", f"/campaigns/{campaign['id']}", None)
        assert read["raised_fen"] == 30_000 and read["tiers"][0]["units_taken"] == 3

        await funding.advance(31 * DAY)
        await funding.job("settlement")
        funded = await funding.call("GET", f"/campaigns/{campaign['id']}", funding.founder)
        assert funded["state"] == "fulfilling" and funded["first_tranche_at"], funded
        ledger = await funding.ledger(campaign["id"])
        assert ledger["held"] == {f"held/campaign/{campaign['id']}": 9_000}, ledger["held"]
        first = [p for p in ledger["payouts"] if p["kind"] == "payout"]
        assert [(p["amount_fen"], p["status"]) for p in first] == [(21_000, "paid")]
        executed = [o for o in ledger["provider_operations"] if o["idempotency_key"] == first[0]["idempotency_key"]]
        assert len(executed) == 1 and executed[0]["status"] == "succeeded"  # the timed-out payout paid once

        await funding.call("POST", f"/campaigns/{campaign['id']}/delivery", funding.founder, {"note": "已发货"})
        for (_, headers), pledge in zip(backers, pledges, strict=True):
            confirmed = await funding.call("POST", f"/pledges/{pledge['id']}/confirm-delivery", headers)
            assert confirmed["delivery_confirmed_at"]
        await funding.job("delivery")
        done = await funding.call("GET", f"/campaigns/{campaign['id']}", funding.founder)
        assert done["state"] == "fulfilled" and done["second_tranche_at"]
        ledger = await funding.assert_settled(campaign["id"])
        assert sorted(p["amount_fen"] for p in ledger["payouts"] if p["kind"] == "payout") == [9_000, 21_000]
        history = await funding.call("GET", f"/campaigns/{campaign['id']}/history", funding.founder)
        assert [h["to_state"] for h in history] == ["submitted", "approved", "live", "successful", "fulfilling",
                                                    "fulfilled"]
        assert all(h["actor"] and h["why"] and h["at"] for h in history)
        backers_csv = await client.get(f"/campaigns/{campaign['id']}/backers.csv", headers=funding.founder)
        assert backers_csv.status_code == 200 and backers_csv.text.count("\n") == 5  # header, 3 paid, 1 declined
        await funding.audited(campaign["id"], "campaign.launched", "pledge.paid", "campaign.progress_reached",
                              "campaign.succeeded", "custody.tranche_released", "payout.completed",
                              "delivery.recorded", "delivery.confirmed", "campaign.fulfilled")


async def test_reward_campaign_fails_and_refunds_everyone(platform: PlatformUnderTest) -> None:
    async with platform.client("crowdfunding") as client:
        funding = await Funding.open(platform, client)
        campaign, tier = await funding.live(goal=1_000_000)
        backers = [someone("backer") for _ in range(4)]
        for _, headers in backers:
            await funding.pledge(campaign, tier, headers, shipping_region="HK")
        await funding.advance(30 * DAY + 60)
        await funding.job("settlement")
        failed = await funding.call("GET", f"/campaigns/{campaign['id']}", funding.founder)
        assert failed["state"] == "failed"
        started = datetime.fromisoformat(failed["refunds_started_at"])
        assert started - datetime.fromisoformat(failed["deadline"]) <= timedelta(hours=1)
        for _, headers in backers:
            mine = await funding.call("GET", "/pledges", headers)
            assert [(p["state"], p["amount_fen"]) for p in mine] == [("refunded", 12_000)]
        ledger = await funding.assert_settled(campaign["id"])
        assert sorted(p["amount_fen"] for p in ledger["payouts"]) == [12_000] * 4
        founder_view = await funding.call("GET", f"/campaigns/{campaign['id']}/payouts", funding.founder)
        assert [(p["kind"], p["party"], p["account"]) for p in founder_view] == [("refund", None, None)] * 4
        reviewer_view = await funding.call("GET", f"/campaigns/{campaign['id']}/payouts", funding.reviewer)
        assert len(reviewer_view) == 4 and all(p["party"] and p["account"] for p in reviewer_view)
        await funding.audited(campaign["id"], "campaign.failed", "pledge.refund_requested", "pledge.refunded")


async def test_payment_callbacks_must_carry_the_providers_signature(platform: PlatformUnderTest) -> None:
    async with platform.client("crowdfunding") as client:
        funding = await Funding.open(platform, client)
        campaign, tier = await funding.live(goal=10**8)
        pending = await funding.pledge(campaign, tier, someone("backer")[1], payment_party="card-timeout-always",
                                       status=201)
        assert pending["state"] == "pending"  # the provider has not answered: its callback will
        body, headers = PROVIDER.notification(pending["id"], "succeeded", "sbx-late")
        unsigned = await client.post("/payments/callback", content=body,
                                     headers={"content-type": "application/json", **platform.admin})
        assert unsigned.status_code == 401 and unsigned.headers["content-type"].startswith("application/problem+json")
        assert unsigned.json()["errors"][0]["field"] == "X-Payment-Signature"
        forged = await funding.callback(pending["id"], "succeeded", "sbx-late", signer=SandboxCallbacks(b"f" * 32),
                                        expect=403)
        assert forged["errors"][0]["field"] == "X-Payment-Signature"
        tampered = await client.post("/payments/callback", content=body.replace(b"sbx-late", b"sbx-evil"),
                                     headers=headers)
        assert tampered.status_code == 403
        read = await funding.call("GET", f"/pledges/{pending['id']}", platform.admin)
        assert read["state"] == "pending"  # nothing unsigned or forged was applied
        for _ in range(2):  # the genuine one, delivered twice, pays once
            paid = await funding.callback(pending["id"], "succeeded", "sbx-late")
            assert paid["state"] == "paid" and paid["payment_reference"] == "sbx-late"
        await funding.assert_balanced(campaign["id"], in_custody=10_000)
