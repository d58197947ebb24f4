"""Vouchers on a real database (SQLite and PostgreSQL): caps and budget under concurrency, approval and payout
through the sandbox provider, rejection, fraud voiding with claw-back; the ledger balances throughout."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from crowdsupport import flows
from crowdsupport.handlers import vouchers
from crowdsupport.models import Programme, Voucher, VoucherPayment
from sqlmodel import select

from shared.auth import Principal
from shared.context import MoneyContext
from shared.db import Database
from shared.ledger import balance, money_trail, trial_balance
from shared.money import Money
from shared.outbox import read_feed
from shared.payments import PaymentKind, PaymentResult, Payments
from shared.problems import DomainError
from shared.uow import UnitOfWork

NOW = datetime(2026, 3, 2, 1, 0, tzinfo=UTC)
AGENCY = Principal(subject="agency-bj", roles=frozenset({"agency"}))
PROVIDER = Principal(subject="prov-1", roles=frozenset({"provider"}))
REVIEWER = Principal(subject="rev-1", roles=frozenset({"reviewer"}))


def enterprise(n: int) -> Principal:
    return Principal(subject=f"ent-{n}", roles=frozenset({"enterprise"}))


async def run(db: Database, command: Any, *args: Any) -> Any:
    async with UnitOfWork(db, "crowdsupport") as uow:
        return await command(uow, *args)


async def events(db: Database, suffix: str) -> list[dict[str, Any]]:
    async with db.reading() as session:
        feed, _ = await read_feed(session, 0, 5000)
    return [{**event.data, "_key": event.partitionkey} for event in feed if event.type.endswith(suffix)]


async def a_programme(db: Database, *, budget: int = 10_000_000, cap: int | None = None, region: str = "110000",
                      recognised: list[str] | None = None, providers: list[str] | None = None,
                      agency: Principal = AGENCY) -> Programme:
    data = vouchers.ProgrammeInput(
        name="Beijing innovation vouchers", kind="innovation", region_code=region, currency="CNY", budget_fen=budget,
        per_enterprise_year_cap_fen=cap, copay_ratio_pct=None, permitted_uses=["testing", "r&d"],
        recognised_regions=recognised or [], providers=["prov-1"] if providers is None else providers)
    programme: Programme = await run(db, vouchers.create_programme, agency, data, NOW)
    return programme


REDEMPTION = vouchers.Redemption(contract_no="C-1", contract_amount_fen=100_000, invoice_no="INV-1",
                                 payment_proof="bank ref 123")  # the voucher covers 70,000 fen


async def test_a_voucher_from_application_to_payment(db: Database, ctx: MoneyContext) -> None:
    programme = await a_programme(db)
    voucher = await run(db, vouchers.apply, enterprise(1), programme.id, 80_000, "testing", NOW)
    assert voucher.state == "issued" and voucher.policy_version == "crowdsupport-2026.1"
    redeemed = await run(db, vouchers.redeem, PROVIDER, voucher.id, REDEMPTION, NOW)
    assert (redeemed.state, redeemed.voucher_fen, redeemed.copay_fen) == ("redeemed", 70_000, 30_000)
    paid = await flows.approve(ctx, AGENCY, voucher.id, NOW)
    assert (paid.state, paid.paid_fen) == ("paid", 70_000)
    async with db.reading() as session:
        trail = await money_trail(session, f"csv:{programme.id}:")
        assert await trial_balance(session) == {"CNY": 0}
        row = await session.get(Programme, programme.id)
    assert row is not None and (row.reserved_fen, row.spent_fen) == (0, 70_000)
    assert trail["sum"] == {"CNY": 0}
    assert trail["accounts"][f"budget/programme/{programme.id}"] == 10_000_000 - 70_000
    assert [a["status"] for a in trail["payment_attempts"]] == ["succeeded"]
    assert trail["payment_attempts"][0]["idempotency_key"] == f"csv:{programme.id}:payout:{voucher.id}"
    # a second approval is refused by state; settling again pays nothing twice
    with pytest.raises(DomainError) as refused:
        await flows.approve(ctx, AGENCY, voucher.id, NOW)
    assert refused.value.extra["current_state"] == "paid"
    assert await flows.settle_pending(ctx) == 0
    paid_events = await events(db, "voucher.paid.v1")
    assert [(e["amount_fen"], e["_key"]) for e in paid_events] == [(70_000, "ent-1")]
    [approved] = await events(db, "voucher.approved.v1")  # the approval's own event, from its transaction
    assert (approved["amount_fen"], approved["idempotency_key"], approved["ledger_transaction"], approved["_key"]) == (
        70_000, f"csv:{programme.id}:payout:{voucher.id}", f"csv:{programme.id}:approve:{voucher.id}", "ent-1")


async def test_200_concurrent_redemptions_never_overspend_a_budget_for_50(db: Database, ctx: MoneyContext) -> None:
    programme = await a_programme(db, budget=50 * 70_000)
    issued = [await run(db, vouchers.apply, enterprise(n), programme.id, 70_000, "testing", NOW) for n in range(200)]

    async def redeem(voucher: Voucher) -> bool:
        try:
            await run(db, vouchers.redeem, PROVIDER, voucher.id, REDEMPTION, NOW)
            return True
        except DomainError as exc:
            assert exc.status == 409 and exc.extra.get("rule") == "budget", exc.detail
            return False

    outcomes = await asyncio.gather(*(redeem(v) for v in issued))
    assert sum(outcomes) == 50
    async with db.reading() as session:
        row = await session.get(Programme, programme.id)
    assert row is not None and (row.reserved_fen, row.spent_fen) == (50 * 70_000, 0)
    redeemed = [v for v, ok in zip(issued, outcomes, strict=True) if ok]
    await asyncio.gather(*(flows.approve(ctx, AGENCY, v.id, NOW) for v in redeemed))
    async with db.reading() as session:
        row = await session.get(Programme, programme.id)
        left = await balance(session, f"budget/programme/{programme.id}")
        assert await trial_balance(session) == {"CNY": 0}
        trail = await money_trail(session, f"csv:{programme.id}:")
    assert row is not None and (row.reserved_fen, row.spent_fen) == (0, 50 * 70_000)
    assert left.minor == 0
    assert len(trail["payment_attempts"]) == 50
    assert all(a["status"] == "succeeded" for a in trail["payment_attempts"])
    assert len(await events(db, "voucher.redeemed.v1")) == 50


async def test_per_enterprise_yearly_cap_holds_under_concurrency(db: Database) -> None:
    programme = await a_programme(db, cap=300_000)

    async def apply(_: int) -> bool:
        try:
            await run(db, vouchers.apply, enterprise(1), programme.id, 100_000, "testing", NOW)
            return True
        except DomainError as exc:
            assert exc.status == 409 and exc.extra.get("rule") == "per_enterprise_year_cap"
            return False

    assert sum(await asyncio.gather(*(apply(n) for n in range(20)))) == 3
    issued = await events(db, "voucher.issued.v1")
    assert sorted(e["issued_in_year_fen"] for e in issued) == [100_000, 200_000, 300_000]
    # the next local year starts a new cap (Asia/Shanghai: 2027-01-01 00:00 is 2026-12-31 16:00 UTC)
    new_year = datetime(2026, 12, 31, 16, 0, tzinfo=UTC)
    later = await run(db, vouchers.apply, enterprise(1), programme.id, 100_000, "testing", new_year)
    assert later.year == 2027
    other = await run(db, vouchers.apply, enterprise(2), programme.id, 300_000, "testing", NOW)
    assert other.face_fen == 300_000


async def test_input_and_ownership_refusals(db: Database, ctx: MoneyContext) -> None:
    programme = await a_programme(db)
    with pytest.raises(DomainError) as refused:
        await run(db, vouchers.apply, enterprise(1), programme.id, 10_000, "catering", NOW)
    assert refused.value.field == "use"
    voucher = await run(db, vouchers.apply, enterprise(1), programme.id, 80_000, "testing", NOW)
    stranger = Principal(subject="prov-x", roles=frozenset({"provider"}))
    with pytest.raises(DomainError) as refused:
        await run(db, vouchers.redeem, stranger, voucher.id, REDEMPTION, NOW)
    assert refused.value.status == 403
    await run(db, vouchers.redeem, PROVIDER, voucher.id, REDEMPTION, NOW)
    other_agency = Principal(subject="agency-sh", roles=frozenset({"agency"}))
    for command, args in ((flows.approve, (ctx, other_agency, voucher.id, NOW)),):
        with pytest.raises(DomainError) as refused:
            await command(*args)
        assert refused.value.status == 403
    with pytest.raises(DomainError) as refused:
        await run(db, vouchers.reject_redemption, other_agency, voucher.id, "no", NOW)
    assert refused.value.status == 403
    with pytest.raises(DomainError) as refused:
        await run(db, vouchers.redeem, PROVIDER, voucher.id, REDEMPTION, NOW)
    assert refused.value.extra["current_state"] == "redeemed"
    expired = await run(db, vouchers.apply, enterprise(2), programme.id, 80_000, "testing", NOW)
    with pytest.raises(DomainError) as refused:
        await run(db, vouchers.redeem, PROVIDER, expired.id, REDEMPTION, NOW + timedelta(days=366))
    assert refused.value.extra["current_state"] == "expired"


async def test_rejection_releases_the_reservation_and_the_voucher_is_usable_again(db: Database) -> None:
    programme = await a_programme(db, budget=70_000)
    voucher = await run(db, vouchers.apply, enterprise(1), programme.id, 80_000, "testing", NOW)
    await run(db, vouchers.redeem, PROVIDER, voucher.id, REDEMPTION, NOW)
    again = await run(db, vouchers.reject_redemption, AGENCY, voucher.id, "invoice does not match", NOW)
    assert (again.state, again.provider_id, again.voucher_fen) == ("issued", None, 0)
    redeemed = await run(db, vouchers.redeem, PROVIDER, voucher.id, REDEMPTION, NOW)
    assert redeemed.state == "redeemed"  # the whole budget was free again


async def test_cross_region_recognition_needs_both_programmes(db: Database) -> None:
    beijing = await a_programme(db, region="110000", recognised=["310000"], providers=[])
    shanghai_agency = Principal(subject="agency-sh", roles=frozenset({"agency"}))
    await a_programme(db, region="310000", recognised=["110000"], providers=["prov-sh"], agency=shanghai_agency)
    await a_programme(db, region="120000", recognised=["110000"], providers=["prov-tj"], agency=shanghai_agency)
    voucher = await run(db, vouchers.apply, enterprise(1), beijing.id, 80_000, "testing", NOW)
    tianjin = Principal(subject="prov-tj", roles=frozenset({"provider"}))
    with pytest.raises(DomainError):
        await run(db, vouchers.redeem, tianjin, voucher.id, REDEMPTION, NOW)
    shanghai = Principal(subject="prov-sh", roles=frozenset({"provider"}))
    redeemed = await run(db, vouchers.redeem, shanghai, voucher.id, REDEMPTION, NOW)
    assert redeemed.redeemed_via.startswith("recognition:")


async def test_fraud_voids_claws_back_and_tells_credit(db: Database, ctx: MoneyContext) -> None:
    programme = await a_programme(db)
    voucher = await run(db, vouchers.apply, enterprise(1), programme.id, 80_000, "testing", NOW)
    await run(db, vouchers.redeem, PROVIDER, voucher.id, REDEMPTION, NOW)
    await flows.approve(ctx, AGENCY, voucher.id, NOW)
    with pytest.raises(DomainError) as refused:
        await flows.void(ctx, REVIEWER, voucher.id, vouchers.Voiding("fake invoice", True, ["someone-else"]), NOW)
    assert refused.value.field == "fraud_by"
    voided = await flows.void(ctx, REVIEWER, voucher.id, vouchers.Voiding("fake invoice", True, ["prov-1"]), NOW)
    assert (voided.state, voided.clawed_back_fen) == ("voided", 70_000)
    async with db.reading() as session:
        trail = await money_trail(session, f"csv:{programme.id}:")
        row = await session.get(Programme, programme.id)
    assert row is not None and row.spent_fen == 0
    assert trail["sum"] == {"CNY": 0}
    assert trail["accounts"][f"budget/programme/{programme.id}"] == 10_000_000  # restored
    assert trail["accounts"].get("clawback/provider/prov-1", 0) == 0  # recovered
    kinds = [(a["kind"], a["status"]) for a in trail["payment_attempts"]]
    assert kinds == [("payout", "succeeded"), ("charge", "succeeded")]
    [event] = await events(db, "voucher.voided.v1")
    assert event == {"voucher_id": voucher.id, "programme_id": programme.id, "agency_id": "agency-bj",
                     "enterprise_id": "ent-1", "provider_id": "prov-1", "reason": "fake invoice", "fraud": True,
                     "fraud_by": ["prov-1"], "clawed_back_fen": 70_000, "currency": "CNY", "_key": "ent-1"}
    with pytest.raises(DomainError) as refused:
        await flows.void(ctx, REVIEWER, voucher.id, vouchers.Voiding("again", True, []), NOW)
    assert refused.value.extra["current_state"] == "voided"


async def test_voiding_a_redeemed_voucher_releases_its_reservation(db: Database, ctx: MoneyContext) -> None:
    programme = await a_programme(db)
    voucher = await run(db, vouchers.apply, enterprise(1), programme.id, 80_000, "testing", NOW)
    await run(db, vouchers.redeem, PROVIDER, voucher.id, REDEMPTION, NOW)
    outsider = Principal(subject="agency-sh", roles=frozenset({"agency"}))
    with pytest.raises(DomainError) as refused:
        await flows.void(ctx, outsider, voucher.id, vouchers.Voiding("x", False, []), NOW)
    assert refused.value.status == 403
    voided = await flows.void(ctx, AGENCY, voucher.id, vouchers.Voiding("withdrawn", True, []), NOW)
    assert voided.clawed_back_fen == 0
    async with db.reading() as session:
        row = await session.get(Programme, programme.id)
    assert row is not None and row.reserved_fen == 0
    [event] = await events(db, "voucher.voided.v1")
    assert sorted(event["fraud_by"]) == ["ent-1", "prov-1"]


async def test_a_suspended_programme_refuses_vouchers(db: Database) -> None:
    programme = await a_programme(db)
    async with UnitOfWork(db, "crowdsupport") as uow:
        row = await uow.session.get(Programme, programme.id)
        assert row is not None
        row.suspended = True
        await uow.commit()
    with pytest.raises(DomainError) as refused:
        await run(db, vouchers.apply, enterprise(1), programme.id, 10_000, "testing", NOW)
    assert refused.value.extra["current_state"] == "suspended"


async def test_a_declined_payout_is_reissued_by_its_agency_under_a_new_key(db: Database, ctx: MoneyContext) -> None:
    programme = await a_programme(db, providers=["prov-declined"])
    declined = Principal(subject="prov-declined", roles=frozenset({"provider"}))
    voucher = await run(db, vouchers.apply, enterprise(1), programme.id, 80_000, "testing", NOW)
    await run(db, vouchers.redeem, declined, voucher.id, REDEMPTION, NOW)
    stuck = await flows.approve(ctx, AGENCY, voucher.id, NOW)
    assert stuck.state == "approved"  # the sandbox declines this party: nothing was paid
    async with db.reading() as session:
        trail = await money_trail(session, f"csv:{programme.id}:")
    assert trail["accounts"]["payable/provider/prov-declined"] == 70_000  # still owed
    [failed] = [p for p in trail["payment_attempts"] if p["status"] == "failed"]
    async with db.reading() as session:
        payment = (await session.execute(select(VoucherPayment))).scalars().one()
    [declined_event] = await events(db, "voucher.payout_declined.v1")
    assert (declined_event["payment_id"], declined_event["payable_fen"], declined_event["_key"]) == (
        payment.id, 70_000, "ent-1")  # the voucher's key: its holder, not the provider
    other_agency = Principal(subject="agency-sh", roles=frozenset({"agency"}))
    for outsider in (other_agency, declined):
        with pytest.raises(DomainError) as refused:
            await flows.reissue(ctx, outsider, payment.id, NOW)
        assert refused.value.status == 403
    again = await flows.reissue(ctx, AGENCY, payment.id, NOW)
    assert again.idempotency_key == f"{failed['idempotency_key']}/retry-1" and again.status == "failed"
    with pytest.raises(DomainError) as twice:
        await flows.reissue(ctx, AGENCY, payment.id, NOW)
    assert twice.value.extra["current_state"] == "reissued"
    admin = Principal(subject="admin-1", roles=frozenset({"admin"}))
    third = await flows.reissue(ctx, admin, again.id, NOW)
    assert third.idempotency_key.endswith("/retry-2")
    assert len(await events(db, "voucher.payment_reissued.v1")) == 2
    assert len(await events(db, "voucher.payout_declined.v1")) == 3  # each declined attempt is an event


class DeclinesFirstCall:
    """A provider that declines a party's first payout and pays every later one (a bank that refused once)."""

    name = "declines-first-call"

    def __init__(self) -> None:
        self.calls: list[tuple[str, str]] = []

    async def execute(self, kind: PaymentKind, idempotency_key: str, amount: Money, party: str) -> PaymentResult:
        first = all(called_party != party for _, called_party in self.calls)
        self.calls.append((idempotency_key, party))
        if first:
            return PaymentResult(idempotency_key, "failed", f"ref-{len(self.calls)}", "declined once")
        return PaymentResult(idempotency_key, "succeeded", f"ref-{len(self.calls)}")


async def test_a_reissued_payout_pays_the_provider_exactly_once_even_when_reissued_concurrently(
        db: Database, ctx: MoneyContext) -> None:
    provider = DeclinesFirstCall()
    ctx = replace(ctx, payments=Payments(db, provider))
    programme = await a_programme(db)
    voucher = await run(db, vouchers.apply, enterprise(1), programme.id, 80_000, "testing", NOW)
    await run(db, vouchers.redeem, PROVIDER, voucher.id, REDEMPTION, NOW)
    assert (await flows.approve(ctx, AGENCY, voucher.id, NOW)).state == "approved"  # declined: still owed
    async with db.reading() as session:
        declined = (await session.execute(select(VoucherPayment))).scalars().one()

    async def reissue() -> VoucherPayment | None:
        try:
            return await flows.reissue(ctx, AGENCY, declined.id, NOW)
        except DomainError as refused:
            assert refused.extra["current_state"] == "reissued"
            return None

    outcomes = await asyncio.gather(*(reissue() for _ in range(5)))
    [reissued] = [o for o in outcomes if o is not None]
    assert (reissued.status, reissued.idempotency_key) == ("done", f"{declined.idempotency_key}/retry-1")
    assert [key for key, _ in provider.calls] == [declined.idempotency_key, reissued.idempotency_key]
    with pytest.raises(DomainError) as paid_already:
        await flows.reissue(ctx, AGENCY, reissued.id, NOW)
    assert paid_already.value.extra["current_state"] == "done"
    assert await flows.settle_pending(ctx) == 0
    async with db.reading() as session:
        trail = await money_trail(session, f"csv:{programme.id}:")
        row = await session.get(Voucher, voucher.id)
    assert row is not None and (row.state, row.paid_fen) == ("paid", 70_000)
    assert trail["accounts"].get("payable/provider/prov-1", 0) == 0 and trail["sum"] == {"CNY": 0}
    assert len(await events(db, "voucher.paid.v1")) == 1
    assert len(await events(db, "voucher.payout_declined.v1")) == 1


async def test_every_event_of_a_voucher_carries_its_enterprise_as_partition_key(
        db: Database, ctx: MoneyContext) -> None:
    """One partition per voucher, so a consumer sees its events in order: a decline never before the approval,
    the re-issue after the decline, the claw-back after the voiding."""
    ctx = replace(ctx, payments=Payments(db, DeclinesFirstCall()))
    programme = await a_programme(db)
    voucher = await run(db, vouchers.apply, enterprise(1), programme.id, 80_000, "testing", NOW)
    await run(db, vouchers.redeem, PROVIDER, voucher.id, REDEMPTION, NOW)
    await run(db, vouchers.reject_redemption, AGENCY, voucher.id, "invoice unreadable", NOW)
    await run(db, vouchers.redeem, PROVIDER, voucher.id, REDEMPTION, NOW)
    assert (await flows.approve(ctx, AGENCY, voucher.id, NOW)).state == "approved"  # the payout declined
    async with db.reading() as session:
        declined = (await session.execute(select(VoucherPayment))).scalars().one()
    assert (await flows.reissue(ctx, AGENCY, declined.id, NOW)).status == "done"
    voided = await flows.void(ctx, REVIEWER, voucher.id, vouchers.Voiding("forged invoice", True, []), NOW)
    assert voided.clawed_back_fen == 70_000
    async with db.reading() as session:
        feed, _ = await read_feed(session, 0, 5000)
    lifecycle = [(event.type.removeprefix("cn.sizhong.crowdsupport."), event.partitionkey) for event in feed
                 if event.data.get("voucher_id") == voucher.id]
    assert [kind for kind, _ in lifecycle] == [
        "voucher.issued.v1", "voucher.redeemed.v1", "voucher.redemption_rejected.v1", "voucher.redeemed.v1",
        "voucher.approved.v1", "voucher.payout_declined.v1", "voucher.payment_reissued.v1", "voucher.paid.v1",
        "voucher.voided.v1", "voucher.clawback_settled.v1"]
    assert {key for _, key in lifecycle} == {"ent-1"}
