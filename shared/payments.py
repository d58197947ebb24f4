"""Payments through a provider interface, every call carrying an idempotency key.

`Payments` records each call by its key before calling the provider and retries timeouts with the same
key, so a timed-out or repeated charge, refund or payout happens once. The default provider is the
sandbox, named as such: it moves no money. Its test parties behave like a real provider's test cards:
a party containing "declined" is refused, one containing "timeout-once" is executed but the first call
times out (as a network timeout after the provider acted would), one containing "timeout-always" is executed
but no call ever answers in time (the payment is only learnt from a callback or a status query).

`Payments.status(key)` asks the provider how a payment ended when no answer came (a job deciding whether a
pending payment expired must ask first): None if the provider never executed it.

Call `Payments.execute` outside a command's UnitOfWork: on SQLite there is one writer, and it takes its
own short transactions (record the intent, then the outcome) around the provider call.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from typing import Literal, Protocol

from sqlalchemy import TextClause, text

from shared.db import Database
from shared.ids import new_id, utcnow
from shared.money import Money


class PaymentKind(StrEnum):
    CHARGE = "charge"
    REFUND = "refund"
    PAYOUT = "payout"


_SET_ANSWER = ("UPDATE payment_attempts SET status = :status, reference = :ref, failure = :failure, "
               "updated_at = :at")
_RECORD_CALL = text(_SET_ANSWER + ", calls = calls + 1 WHERE idempotency_key = :k")  # a call we made
_RECORD_ANSWER = text(_SET_ANSWER + " WHERE idempotency_key = :k AND status = 'pending'")  # asked afterwards


@dataclass(frozen=True)
class PaymentResult:
    idempotency_key: str
    status: Literal["succeeded", "failed"]
    reference: str
    failure: str | None = None

    @property
    def succeeded(self) -> bool:
        return self.status == "succeeded"


class IdempotencyMismatch(ValueError):
    """The same key was used for a different operation: a caller bug, never silently accepted."""


class PaymentProvider(Protocol):
    name: str

    async def execute(self, kind: PaymentKind, idempotency_key: str, amount: Money, party: str) -> PaymentResult: ...

    async def status(self, idempotency_key: str) -> PaymentResult | None: ...


class SandboxPaymentProvider:
    """The default provider: no real money. Keeps its operations in the service's database, by key."""

    name = "sandbox"

    def __init__(self, db: Database) -> None:
        self._db = db

    async def execute(self, kind: PaymentKind, idempotency_key: str, amount: Money, party: str) -> PaymentResult:
        status = "failed" if "declined" in party else "succeeded"
        async with self._db.writing() as session:
            inserted = (await session.execute(text(
                "INSERT INTO sandbox_provider_operations (idempotency_key, kind, party, currency, amount, status, "
                "reference, executed_at) VALUES (:k, :kind, :party, :cur, :amount, :status, :ref, :at) "
                "ON CONFLICT (idempotency_key) DO NOTHING RETURNING idempotency_key"),
                {"k": idempotency_key, "kind": kind.value, "party": party, "cur": amount.currency,
                 "amount": amount.minor, "status": status, "ref": f"sbx_{new_id()}", "at": utcnow()})).first()
            row = (await session.execute(text(
                "SELECT kind, party, currency, amount, status, reference FROM sandbox_provider_operations "
                "WHERE idempotency_key = :k"), {"k": idempotency_key})).one()
        if (row.kind, row.party, row.currency, row.amount) != (kind.value, party, amount.currency, amount.minor):
            raise IdempotencyMismatch(f"key {idempotency_key} was used for another {row.kind}")
        if (inserted is not None and "timeout-once" in party) or "timeout-always" in party:
            raise TimeoutError("sandbox provider: executed, but the response timed out")
        return self._result(idempotency_key, row.status, row.reference)

    async def status(self, idempotency_key: str) -> PaymentResult | None:
        async with self._db.reading() as session:
            row = (await session.execute(text(
                "SELECT status, reference FROM sandbox_provider_operations WHERE idempotency_key = :k"),
                {"k": idempotency_key})).first()
        return None if row is None else self._result(idempotency_key, row.status, row.reference)

    @staticmethod
    def _result(idempotency_key: str, status: str, reference: str) -> PaymentResult:
        failure = "sandbox: declined (test party)" if status == "failed" else None
        return PaymentResult(idempotency_key, "failed" if status == "failed" else "succeeded", reference, failure)


# The providers `PAYMENT_PROVIDER` may name (the setting's values; the sandbox is the default).
PAYMENT_PROVIDERS: dict[str, Callable[[Database], PaymentProvider]] = {"sandbox": SandboxPaymentProvider}


def payment_provider(name: str, db: Database) -> PaymentProvider:
    """The provider the settings name; an unknown name stops the service at start."""
    if name not in PAYMENT_PROVIDERS:
        raise ValueError(f"unknown payment provider {name!r}; known: {', '.join(sorted(PAYMENT_PROVIDERS))}")
    return PAYMENT_PROVIDERS[name](db)


class Payments:
    """Our side of every payment: intent recorded by key, timeouts retried with the same key."""

    def __init__(self, db: Database, provider: PaymentProvider, *, attempts: int = 3,
                 backoff_seconds: float = 0.05) -> None:
        self._db = db
        self.provider = provider
        self._attempts = attempts
        self._backoff = backoff_seconds

    async def execute(self, kind: PaymentKind, idempotency_key: str, amount: Money, party: str) -> PaymentResult:
        if amount.minor <= 0:
            raise ValueError("a payment moves a positive amount")
        async with self._db.writing() as session:
            await session.execute(text(
                "INSERT INTO payment_attempts (idempotency_key, kind, party, currency, amount, status, calls, "
                "created_at, updated_at) VALUES (:k, :kind, :party, :cur, :amount, 'pending', 0, :at, :at) "
                "ON CONFLICT (idempotency_key) DO NOTHING"),
                {"k": idempotency_key, "kind": kind.value, "party": party, "cur": amount.currency,
                 "amount": amount.minor, "at": utcnow()})
            row = (await session.execute(text(
                "SELECT kind, party, currency, amount, status, reference, failure FROM payment_attempts "
                "WHERE idempotency_key = :k"), {"k": idempotency_key})).one()
        if (row.kind, row.party, row.currency, row.amount) != (kind.value, party, amount.currency, amount.minor):
            raise IdempotencyMismatch(f"key {idempotency_key} was used for another {row.kind}")
        if row.status != "pending":
            return PaymentResult(idempotency_key, row.status, row.reference, row.failure)
        result = await self._call_with_retries(kind, idempotency_key, amount, party)
        await self._record(_RECORD_CALL, idempotency_key, result)
        return result

    async def status(self, idempotency_key: str) -> PaymentResult | None:
        """How the provider says a payment ended (None: it never executed it); recorded on our side as well."""
        result = await self.provider.status(idempotency_key)
        if result is not None:
            await self._record(_RECORD_ANSWER, idempotency_key, result)
        return result

    async def _record(self, statement: TextClause, idempotency_key: str, result: PaymentResult) -> None:
        """The provider's answer on our attempt row."""
        async with self._db.writing() as session:
            await session.execute(statement, {"status": result.status, "ref": result.reference,
                                              "failure": result.failure, "at": utcnow(), "k": idempotency_key})

    async def _call_with_retries(self, kind: PaymentKind, key: str, amount: Money, party: str) -> PaymentResult:
        for attempt in range(1, self._attempts + 1):
            try:
                return await self.provider.execute(kind, key, amount, party)
            except TimeoutError:
                if attempt == self._attempts:
                    raise
                await asyncio.sleep(self._backoff * attempt)
        raise AssertionError("unreachable")
