"""Money in integer fen, the double-entry ledger and idempotent payments (SQLite and PostgreSQL)."""

from __future__ import annotations

import asyncio
from fractions import Fraction
from typing import Any

import pytest
from sqlalchemy import text

from shared.ledger import Posting, UnbalancedPosting, balance, balances, post, transfer, trial_balance
from shared.money import Money
from shared.payments import IdempotencyMismatch, PaymentKind, Payments, SandboxPaymentProvider


@pytest.mark.parametrize(("fen", "ratios", "parts"), [
    (10_000, [Fraction(7, 10), Fraction(3, 10)], [7_000, 3_000]),
    (10_001, [Fraction(7, 10), Fraction(3, 10)], [7_001, 3_000]),  # 7000.7 rounds half up
    (1, [Fraction(6, 10), Fraction(4, 10)], [1, 0]),
    (100, [Fraction(1, 3), Fraction(1, 3), Fraction(1, 3)], [34, 33, 33]),
    (170, [Fraction(1, 20)] * 20, [9] * 10 + [8] * 10),  # rounding each share up would exceed the whole
    (5, [Fraction(3, 10), Fraction(3, 10), Fraction(3, 10), Fraction(1, 10)], [2, 2, 1, 0]),
    (0, [Fraction(1, 2), Fraction(1, 2)], [0, 0]),
])
def test_splits_add_back_to_the_whole(fen: int, ratios: list[Fraction], parts: list[int]) -> None:
    split = Money.cny(fen).split(ratios)
    assert [p.minor for p in split] == parts
    assert sum(p.minor for p in split) == fen


def test_money_refuses_floats_mixed_currencies_and_bad_ratios() -> None:
    with pytest.raises(TypeError):
        Money("CNY", 1.5)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="mix"):
        Money.cny(1) + Money("USD", 1)
    with pytest.raises(ValueError, match="sum to 1"):
        Money.cny(100).split([Fraction(1, 2), Fraction(1, 3)])
    assert str(Money.cny(-12_345)) == "-CNY 123.45"


async def test_postings_balance_and_reposting_is_a_no_op(money_db: Any) -> None:
    async with money_db.writing() as session:
        assert await post(session, "pay-1", transfer(Money.cny(5_000), "provider/clearing", "escrow/task/1"),
                          kind="escrow.funded")
        assert await post(session, "pay-1", transfer(Money.cny(5_000), "provider/clearing", "escrow/task/1"),
                          kind="escrow.funded") is False
        assert await post(session, "release-1", [
            Posting("escrow/task/1", Money.cny(-5_000)), Posting("payable/solver/9", Money.cny(4_500)),
            Posting("revenue/commission", Money.cny(500))], kind="escrow.released")
        with pytest.raises(UnbalancedPosting):
            await post(session, "bad", [Posting("a", Money.cny(1))], kind="x")
    async with money_db.reading() as session:
        assert await balance(session, "escrow/task/1") == Money.cny(0)
        assert await balance(session, "payable/solver/9") == Money.cny(4_500)
        assert await balances(session, "revenue/") == {("revenue/commission", "CNY"): 500}
        assert await trial_balance(session) == {"CNY": 0}


async def test_a_repeated_or_timed_out_payment_happens_once(money_db: Any) -> None:
    payments = Payments(money_db, SandboxPaymentProvider(money_db), backoff_seconds=0)
    first = await payments.execute(PaymentKind.PAYOUT, "payout-1", Money.cny(7_000), "founder-timeout-once")
    again = await payments.execute(PaymentKind.PAYOUT, "payout-1", Money.cny(7_000), "founder-timeout-once")
    racing = await asyncio.gather(*(payments.execute(PaymentKind.CHARGE, "charge-9", Money.cny(100), "backer")
                                    for _ in range(20)))
    declined = await payments.execute(PaymentKind.CHARGE, "charge-10", Money.cny(100), "backer-declined")
    async with money_db.reading() as session:
        operations = dict((await session.execute(text(
            "SELECT idempotency_key, COUNT(*) FROM sandbox_provider_operations GROUP BY idempotency_key"))).all())
    assert first.succeeded and again == first
    assert {r.reference for r in racing} == {racing[0].reference} and racing[0].succeeded
    assert not declined.succeeded and "declined" in (declined.failure or "")
    assert operations == {"payout-1": 1, "charge-9": 1, "charge-10": 1}
    with pytest.raises(IdempotencyMismatch):
        await payments.execute(PaymentKind.PAYOUT, "payout-1", Money.cny(7_001), "founder-timeout-once")


async def test_the_provider_is_asked_how_an_unanswered_payment_ended(money_db: Any) -> None:
    payments = Payments(money_db, SandboxPaymentProvider(money_db), backoff_seconds=0)
    assert await payments.status("never-sent") is None  # the provider never executed it
    with pytest.raises(TimeoutError):  # executed, but no call ever answers in time
        await payments.execute(PaymentKind.CHARGE, "charge-late", Money.cny(300), "card-timeout-always")
    late = await payments.status("charge-late")
    assert late is not None and late.succeeded and late.reference.startswith("sbx_")
    await payments.execute(PaymentKind.CHARGE, "charge-no", Money.cny(300), "card-declined")
    refused = await payments.status("charge-no")
    assert refused is not None and not refused.succeeded and "declined" in (refused.failure or "")
    async with money_db.reading() as session:
        attempts = dict((await session.execute(text(
            "SELECT idempotency_key, status FROM payment_attempts WHERE idempotency_key LIKE 'charge-%'"))).all())
    assert attempts == {"charge-late": "succeeded", "charge-no": "failed"}  # our record learnt the answer


def test_every_split_adds_up_and_is_within_a_fen_of_exact() -> None:
    import random

    rng = random.Random(7)
    for _ in range(2000):
        weights = [rng.randint(0, 9) for _ in range(rng.randint(1, 12))]
        if not sum(weights):
            continue
        ratios = [Fraction(w, sum(weights)) for w in weights]
        whole = Money.cny(rng.randint(0, 10**7))
        parts = whole.split(ratios)
        assert sum(p.minor for p in parts) == whole.minor
        assert all(abs(p.minor - whole.minor * r) < 1 for p, r in zip(parts, ratios, strict=True))


async def test_the_money_trail_of_a_prefix_shows_only_its_own_money(money_db: Any) -> None:
    from shared.ledger import money_trail

    payments = Payments(money_db, SandboxPaymentProvider(money_db), backoff_seconds=0)
    await payments.execute(PaymentKind.CHARGE, "cs:t_1:charge", Money.cny(900), "poster")
    await payments.execute(PaymentKind.CHARGE, "cs:tX1:charge", Money.cny(50), "other")  # '_' must not match X
    async with money_db.writing() as session:
        await post(session, "cs:t_1:fund", transfer(Money.cny(900), "provider/clearing", "escrow/t_1"),
                   kind="escrow.funded")
        await post(session, "cs:tX1:fund", transfer(Money.cny(50), "provider/clearing", "escrow/tX1"),
                   kind="escrow.funded")
    async with money_db.reading() as session:
        trail = await money_trail(session, "cs:t_1:")
    assert [t["id"] for t in trail["transactions"]] == ["cs:t_1:fund"]
    assert trail["sum"] == {"CNY": 0}
    assert trail["accounts"] == {"provider/clearing": -900, "escrow/t_1": 900}
    assert [a["idempotency_key"] for a in trail["payment_attempts"]] == ["cs:t_1:charge"]
    assert [o["idempotency_key"] for o in trail["provider_operations"]] == ["cs:t_1:charge"]
