"""Crowd-support vouchers end to end (real HTTP, real broker, the service's real database): 200 concurrent
redemptions against a budget for 50, and a fraudulent voucher voided, clawed back and logged for credit."""

from __future__ import annotations

import asyncio
import json
import secrets
from typing import Any

from tests.support.crowdsupport import Programme, enterprise
from tests.support.platform import PlatformUnderTest, eventually, mint

VOIDED = "cn.sizhong.crowdsupport.voucher.voided.v1"


async def test_200_concurrent_redemptions_against_a_budget_for_50(platform: PlatformUnderTest) -> None:
    async with platform.client("crowdsupport") as client:
        programme = await Programme.create(client, budget_fen=50 * 70_000)
        vouchers = await asyncio.gather(*(programme.voucher(enterprise()) for _ in range(200)))
        outcomes = await asyncio.gather(*(programme.redeem(v["id"]) for v in vouchers))
        statuses = sorted(r.status_code for r in outcomes)
        assert statuses.count(200) == 50 and statuses.count(409) == 150, statuses
        refused = next(r for r in outcomes if r.status_code == 409)
        assert refused.headers["content-type"] == "application/problem+json"
        assert refused.json()["rule"] == "budget"
        accepted = [r.json()["id"] for r in outcomes if r.status_code == 200]
        approvals = await asyncio.gather(*(client.post(f"/vouchers/{v}/approval", headers=programme.agency)
                                           for v in accepted))
        assert all(a.status_code == 200 and a.json()["state"] == "paid" for a in approvals)
        ledger = await programme.ledger()
    assert (ledger["spent_fen"], ledger["reserved_fen"], ledger["left_fen"]) == (50 * 70_000, 0, 0)
    assert ledger["sum"] == {"CNY": 0}
    assert ledger["accounts"].get(f"budget/programme/{programme.id}", 0) == 0
    assert len(ledger["payment_attempts"]) == 50
    assert {a["status"] for a in ledger["payment_attempts"]} == {"succeeded"}


async def test_a_fraudulent_voucher_is_voided_clawed_back_and_reaches_the_audit_log_and_credit(
        platform: PlatformUnderTest) -> None:
    reviewer = mint(f"rev-{secrets.token_hex(4)}", "reviewer")
    async with platform.client("crowdsupport") as client:
        programme = await Programme.create(client, budget_fen=1_000_000, copay_ratio_pct=30)
        holder = enterprise()
        voucher = await programme.voucher(holder, face_fen=80_000)
        redeemed = await programme.redeem(voucher["id"])
        assert redeemed.status_code == 200 and redeemed.json()["voucher_fen"] == 70_000, redeemed.text
        paid = await client.post(f"/vouchers/{voucher['id']}/approval", headers=programme.agency)
        assert paid.status_code == 200 and paid.json()["state"] == "paid", paid.text
        voided = await client.post(f"/vouchers/{voucher['id']}/void", headers=reviewer, json={
            "reason": "invoice forged", "fraud": True, "fraud_by": [programme.provider_id]})
        assert voided.status_code == 200, voided.text
        assert (voided.json()["state"], voided.json()["clawed_back_fen"]) == ("voided", 70_000)
        ledger = await programme.ledger()
        payments = await client.get(f"/vouchers/{voucher['id']}/payments", headers=programme.agency)
        mine = await client.get(f"/vouchers/{voucher['id']}", headers=holder)
    assert mine.status_code == 200 and mine.json()["state"] == "voided"
    assert ledger["sum"] == {"CNY": 0}
    assert ledger["spent_fen"] == 0
    assert ledger["accounts"][f"budget/programme/{programme.id}"] == 1_000_000  # restored by the claw-back
    assert ledger["accounts"].get(f"clawback/provider/{programme.provider_id}", 0) == 0  # recovered
    assert [(a["kind"], a["status"]) for a in ledger["payment_attempts"]] == [("payout", "succeeded"),
                                                                               ("charge", "succeeded")]
    assert [(p["kind"], p["status"]) for p in payments.json()] == [("payout", "done"), ("clawback", "done")]

    async def logged() -> dict[str, Any]:
        entries = await platform.audit_entries(subject=voucher["id"], type=VOIDED)
        assert len(entries) == 1, entries
        return entries[0]

    entry = await eventually(logged, within=20)
    event = json.loads(entry["entry"])  # the canonical bytes the log hashed: the whole CloudEvent
    assert event["partitionkey"] == voucher["enterprise_id"]
    assert event["data"] == {"voucher_id": voucher["id"], "programme_id": programme.id,
                             "agency_id": voucher["agency_id"], "enterprise_id": voucher["enterprise_id"],
                             "provider_id": programme.provider_id, "reason": "invoice forged", "fraud": True,
                             "fraud_by": [programme.provider_id], "clawed_back_fen": 70_000, "currency": "CNY"}

    async def scored_by_credit() -> dict[str, Any]:
        record = await platform.credit_record(programme.provider_id)  # the party held responsible for the fraud
        changes = [c for c in record["changes"] if c["event_type"] == VOIDED]
        assert changes and event["id"] in changes[-1]["cause_event_ids"], record
        return record

    record = await eventually(scored_by_credit, within=20)
    fraud = [c for c in record["changes"] if c["event_type"] == VOIDED][-1]
    assert fraud["score_after"] < fraud["score_before"]  # voucher fraud lowers the provider's score
