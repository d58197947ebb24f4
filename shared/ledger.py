"""Double-entry ledger in integer minor units: every money movement is one balanced transaction.

Balances are derived from postings, never stored; the whole ledger (and each transaction) sums to
zero per currency. A transaction id is the idempotency key of a movement: posting it again is a no-op,
so a retried refund or payout cannot move money twice.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, String, bindparam, func, insert, select, text
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import Column, Field, SQLModel, col

from shared.db import UTCDateTime, utc_column
from shared.ids import utcnow
from shared.money import Money
from shared.statements import Executor, Statement


class LedgerTransaction(SQLModel, table=True):
    __tablename__ = "ledger_transactions"

    id: str = Field(primary_key=True, max_length=120)
    kind: str = Field(max_length=40)
    memo: str = Field(max_length=300)
    posted_at: datetime = Field(sa_column=utc_column())


class LedgerEntry(SQLModel, table=True):
    __tablename__ = "ledger_entries"

    id: int | None = Field(default=None, primary_key=True)
    transaction_id: str = Field(foreign_key="ledger_transactions.id", max_length=120, index=True)
    account: str = Field(max_length=200, index=True)
    currency: str = Field(max_length=3)
    amount: int = Field(sa_column=Column(BigInteger, nullable=False))  # + debit, - credit


ENTRIES = SQLModel.metadata.tables["ledger_entries"]
CLEARING = "provider/clearing"
"""Money at the payment provider: charges come in from it, payouts and refunds go out to it."""
_CLAIM = Statement(text("INSERT INTO ledger_transactions (id, kind, memo, posted_at) VALUES (:id, :kind, :memo, :at) "
                        "ON CONFLICT (id) DO NOTHING RETURNING id")
                   .bindparams(bindparam("at", type_=UTCDateTime())).columns(id=String()))
_INSERT_ENTRIES = Statement(insert(ENTRIES), column_keys=("transaction_id", "account", "currency", "amount"))


class UnbalancedPosting(ValueError):
    """A transaction whose debits and credits differ would create or destroy money."""


@dataclass(frozen=True)
class Posting:
    account: str
    amount: Money  # positive: debit (money arrives in the account), negative: credit


def transaction_id(scope: str, owner_id: str, *parts: str) -> str:
    """`<scope>:<owner>:<parts...>`: a transaction id (or payment idempotency key) derived from its cause, so a
    retried command moves money once, and under the owner's prefix (`trail_prefix`), so `money_trail` lists all
    of an owner's money (a task's, a campaign's, a programme's)."""
    return ":".join((scope, owner_id, *parts))


def trail_prefix(scope: str, owner_id: str) -> str:
    """The prefix every `transaction_id(scope, owner_id, ...)` starts with, for `money_trail`."""
    return transaction_id(scope, owner_id, "")


def transfer(amount: Money, from_account: str, to_account: str) -> list[Posting]:
    """The common two-line posting: `amount` moves from one account to another."""
    return [Posting(from_account, -amount), Posting(to_account, amount)]


async def post(session: Executor, transaction_id: str, postings: Sequence[Posting], *, kind: str,
               memo: str = "") -> bool:
    """Post a balanced transaction in the caller's transaction; False if this id was posted before."""
    totals: dict[str, int] = defaultdict(int)
    for posting in postings:
        totals[posting.amount.currency] += posting.amount.minor
    if not postings or any(totals.values()):
        raise UnbalancedPosting(f"transaction {transaction_id} does not balance: {dict(totals)}")
    claimed = await _CLAIM.first(session, {"id": transaction_id, "kind": kind, "memo": memo[:300], "at": utcnow()})
    if claimed is None:
        return False
    await _INSERT_ENTRIES.run_many(session, [
        {"transaction_id": transaction_id, "account": p.account, "currency": p.amount.currency,
         "amount": p.amount.minor} for p in postings if p.amount.minor != 0
    ])
    return True


async def balance(session: AsyncSession, account: str, currency: str = "CNY") -> Money:
    total = (await session.execute(
        select(func.coalesce(func.sum(ENTRIES.c.amount), 0))
        .where(ENTRIES.c.account == account, ENTRIES.c.currency == currency))).scalar_one()
    return Money(currency, int(total))


async def balances(session: AsyncSession, prefix: str = "") -> dict[tuple[str, str], int]:
    """Per (account, currency) under `prefix`, non-zero ones only."""
    rows = (await session.execute(
        select(ENTRIES.c.account, ENTRIES.c.currency, func.sum(ENTRIES.c.amount))
        .where(ENTRIES.c.account.startswith(prefix, autoescape=True))
        .group_by(ENTRIES.c.account, ENTRIES.c.currency))).all()
    return {(account, currency): int(total) for account, currency, total in rows if int(total) != 0}


async def trial_balance(session: AsyncSession) -> dict[str, int]:
    """The sum of every entry per currency: zero for every currency, always."""
    rows = (await session.execute(
        select(ENTRIES.c.currency, func.sum(ENTRIES.c.amount)).group_by(ENTRIES.c.currency))).all()
    return {currency: int(total) for currency, total in rows}


async def money_trail(session: AsyncSession, prefix: str) -> dict[str, Any]:
    """Everything recorded about money under one id prefix (a task's, a campaign's), for regulators and
    tests: each ledger transaction with its entries, the sum per currency (always zero), every account's
    balance, and the payment calls and sandbox-provider operations whose idempotency keys share the prefix."""
    transactions = (await session.execute(
        select(LedgerTransaction).where(col(LedgerTransaction.id).startswith(prefix, autoescape=True))
        .order_by(col(LedgerTransaction.posted_at), col(LedgerTransaction.id)))).scalars().all()
    entries = (await session.execute(
        select(LedgerEntry).where(col(LedgerEntry.transaction_id).startswith(prefix, autoescape=True))
        .order_by(col(LedgerEntry.id)))).scalars().all()
    by_transaction: dict[str, list[dict[str, Any]]] = defaultdict(list)
    total: dict[str, int] = defaultdict(int)
    accounts: dict[str, int] = defaultdict(int)
    for entry in entries:
        by_transaction[entry.transaction_id].append(
            {"account": entry.account, "currency": entry.currency, "amount": entry.amount})
        total[entry.currency] += entry.amount
        accounts[entry.account] += entry.amount
    like = {"p": prefix.replace("%", r"\%").replace("_", r"\_") + "%"}
    attempts = (await session.execute(text(
        "SELECT idempotency_key, kind, party, amount, status, calls FROM payment_attempts "
        "WHERE idempotency_key LIKE :p ESCAPE '\\' ORDER BY created_at"), like)).all()
    provider = (await session.execute(text(
        "SELECT idempotency_key, kind, amount, status FROM sandbox_provider_operations "
        "WHERE idempotency_key LIKE :p ESCAPE '\\' ORDER BY executed_at"), like)).all()
    return {
        "sum": dict(total),
        "accounts": dict(accounts),
        "transactions": [{"id": t.id, "kind": t.kind, "memo": t.memo, "posted_at": t.posted_at.isoformat(),
                          "entries": by_transaction.get(t.id, [])} for t in transactions],
        "payment_attempts": [dict(row._mapping) for row in attempts],
        "provider_operations": [dict(row._mapping) for row in provider],
    }
