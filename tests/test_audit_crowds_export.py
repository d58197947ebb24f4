"""The proof of issue 8 end to end with the real broker: activity in all four crowds (众包 crowdsourcing,
众筹 crowdfunding, 众创 makerspace, 众扶 crowdsupport) lands in the log; the signed export passes the offline
verifier (the real command line) and a copy altered at a crowdfunding entry fails at exactly that entry; the
statistics count the same activity in its region (the division code inside the organisation's unified social
credit code, or the voucher programme's registered region)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from tests.support.crowdsupport import Programme, enterprise
from tests.support.platform import PlatformUnderTest, eventually
from tests.test_audit_log import entry_positions, verify
from tests.test_crowdfunding_scenarios import Funding, someone
from tests.test_crowdsourcing_scenarios import Market
from tests.test_makerspace_bookings import Space

REGION = "110108"  # tests.support.platform.fresh_uscc registers organisations in Beijing Haidian


async def test_activity_in_every_crowd_exports_verifies_and_counts(platform: PlatformUnderTest, tmp_path: Path) -> None:
    async with platform.client("crowdfunding") as cf, platform.client("crowdsourcing") as cs, \
            platform.client("makerspace") as ms, platform.client("crowdsupport") as su:
        funding = await Funding.open(platform, cf)
        campaign, tier = await funding.live(goal=50_000)
        pledge = await funding.pledge(campaign, tier, someone("backer")[1])
        market = await Market.open(platform, cs)
        task = await market.task("bounty", [20_000], organisation_id=await market.verified_organisation())
        space = await Space.create(platform, ms)
        programme = await Programme.create(su, budget_fen=1_000_000)  # registered in Haidian, 110108
        voucher = await programme.voucher(enterprise())
        redeemed = await programme.redeem(voucher["id"])
        assert redeemed.status_code == 200, redeemed.text

    async def logged() -> None:
        for subject in (campaign["id"], task["id"], space.id, voucher["id"]):
            assert await platform.audit_entries(subject=subject), subject
        assert await platform.audit_entries(subject=campaign["id"], type="cn.sizhong.crowdfunding.pledge.paid.v1")

    await eventually(logged, within=20)
    async with platform.client("audit") as audit:
        key = (await audit.get("/log/public-key")).json()["public_key"]
        checkpoint = (await audit.post("/log/checkpoints", headers=platform.regulator)).json()
        export = await audit.get("/log/export", headers=platform.regulator, params={"signed_only": "true"})
    assert export.status_code == 200, export.text
    lines = export.text.splitlines(keepends=True)
    original = tmp_path / "export.jsonl"
    original.write_text(export.text, encoding="utf-8")
    accepted = verify(original, key)
    assert accepted.returncode == 0 and accepted.stdout.startswith(f"OK {checkpoint['tree_size']} entries"), \
        accepted.stdout + accepted.stderr

    entries = entry_positions(lines)
    victim = next(i for i, at in enumerate(entries) if pledge["id"] in lines[at] and "pledge.paid" in lines[at])
    tampered = list(lines)
    tampered[entries[victim]] = tampered[entries[victim]].replace('\\"amount_fen\\":10000', '\\"amount_fen\\":1000', 1)
    assert tampered[entries[victim]] != lines[entries[victim]]
    path = tmp_path / "tampered.jsonl"
    path.write_text("".join(tampered), encoding="utf-8")
    refused = verify(path, key)
    assert refused.returncode == 1 and refused.stdout.startswith(f"FAIL entry {victim}: altered"), refused.stdout

    today = datetime.now(UTC)
    window = {"from": (today - timedelta(days=1)).date().isoformat(),
              "to": (today + timedelta(days=1)).date().isoformat()}

    async def counted() -> None:
        stats = (await platform.get("audit", "/statistics", platform.regulator, region=REGION, **window)).json()
        metrics = {(t["crowd"], t["metric"]): t for t in stats["totals"]}
        assert metrics[("crowdfunding", "campaigns_launched")]["count"] >= 1, metrics
        assert metrics[("crowdfunding", "pledges_paid")]["total"] >= 10_000, metrics
        assert metrics[("crowdsourcing", "tasks_posted")]["total"] >= 20_000, metrics
        assert metrics[("crowdsupport", "vouchers_redeemed")]["total"] >= 70_000, metrics

    await eventually(counted, within=15)
