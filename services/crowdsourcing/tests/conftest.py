"""Crowdsourcing fixtures: a migrated database of each kind (SQLite, PostgreSQL) with the mediator and reviewer
roster the identity events would fill, and a context on it with the sandbox provider and an adjustable clock."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import crowdsourcing
import pytest
from crowdsourcing import flows
from crowdsourcing.models import MediatorRoster

from services.crowdsourcing.tests.test_flows_with_database import EPOCH, MEDIATOR, REVIEWER
from shared.clock import AdjustableClock
from shared.db import Database
from shared.migrations import upgrade_to_head
from shared.payments import Payments, SandboxPaymentProvider


@pytest.fixture
async def ctx(database_url: str) -> AsyncIterator[flows.Context]:
    db = Database(database_url)
    await upgrade_to_head(db, str(Path(crowdsourcing.__file__).parent / "migrations"))
    async with db.write_sessions() as session, session.begin():
        session.add_all([MediatorRoster(person_id=p.subject, roles=",".join(sorted(p.roles)), updated_at=EPOCH,
                                        source_event_id=f"seed-{p.subject}") for p in (MEDIATOR, REVIEWER)])
    try:
        yield flows.Context(db, AdjustableClock(), "crowdsourcing", None,
                            Payments(db, SandboxPaymentProvider(db), backoff_seconds=0))
    finally:
        await db.dispose()
