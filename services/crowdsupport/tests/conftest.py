"""Crowd-support fixtures: a migrated database of each kind and a money context on it (sandbox payments)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime

import crowdsupport
import pytest

from shared.context import MoneyContext
from shared.db import Database
from shared.payments import Payments, SandboxPaymentProvider
from tests.support.databases import migrated_database

NOW = datetime(2026, 3, 2, 1, 0, tzinfo=UTC)  # Monday 09:00 in Shanghai; the tests' NOW


class FixedClock:
    def __init__(self, moment: datetime) -> None:
        self.moment = moment

    def now(self) -> datetime:
        return self.moment


@pytest.fixture
async def db(database_url: str) -> AsyncIterator[Database]:
    async with migrated_database(database_url, crowdsupport) as database:
        yield database


@pytest.fixture
def clock() -> FixedClock:
    """The service clock of `ctx`, at NOW; a test moves it by setting `moment`."""
    return FixedClock(NOW)


@pytest.fixture
def ctx(db: Database, clock: FixedClock) -> MoneyContext:
    return MoneyContext(db, clock, "crowdsupport", None, Payments(db, SandboxPaymentProvider(db)))
