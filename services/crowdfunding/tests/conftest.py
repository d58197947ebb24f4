"""Crowdfunding fixtures: a migrated database of each kind (SQLite, PostgreSQL) and a money context on it, with the
sandbox provider and an adjustable clock; the same with a provider that declines payouts to closed accounts
(`closed`), and the service's HTTP API on it (`http`)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import crowdfunding
import pytest
from crowdfunding import flows

from shared.clock import AdjustableClock
from shared.db import Database
from shared.migrations import upgrade_to_head
from shared.payments import Payments, SandboxPaymentProvider
from tests.support.crowdfunding import Api, api, closed_accounts


@pytest.fixture
async def ctx(database_url: str) -> AsyncIterator[flows.Context]:
    db = Database(database_url)
    await upgrade_to_head(db, str(Path(crowdfunding.__file__).parent / "migrations"))
    try:
        yield flows.Context(db, AdjustableClock(), "crowdfunding", None,
                            Payments(db, SandboxPaymentProvider(db), backoff_seconds=0))
    finally:
        await db.dispose()


@pytest.fixture
async def closed(ctx: flows.Context) -> flows.Context:
    """`ctx` with a provider that declines payouts and refunds to accounts not ending in "-new"."""
    return closed_accounts(ctx)


@pytest.fixture
async def http(closed: flows.Context) -> AsyncIterator[Api]:
    """The service over HTTP on the `closed` context."""
    async with api(closed) as client:
        yield client
