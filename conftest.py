"""Fixtures every test tier shares: fresh databases of each kind (see tests.support.databases)."""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator, Iterator

import pytest

from tests.support.databases import create_postgres_database, drop_postgres_database, require_postgres


@pytest.fixture(params=["sqlite", "postgres"])
def database_url(request: pytest.FixtureRequest, tmp_path: object) -> Iterator[str]:
    """A fresh, empty database of each kind."""
    if request.param == "sqlite":
        yield f"sqlite+aiosqlite:///{tmp_path}/test.db"
        return
    require_postgres()
    name = f"sz_unit_{secrets.token_hex(6)}"
    url = create_postgres_database(name)
    try:
        yield url
    finally:
        drop_postgres_database(name)


@pytest.fixture
async def money_db(database_url: str) -> AsyncIterator[object]:
    """A Database with the platform tables plus the ledger and payment tables (a money-moving service's)."""
    from pathlib import Path

    import crowdfunding

    from shared.db import Database
    from shared.migrations import upgrade_to_head

    db = Database(database_url)
    await upgrade_to_head(db, str(Path(crowdfunding.__file__).parent / "migrations"))
    try:
        yield db
    finally:
        await db.dispose()


@pytest.fixture
async def migrated_db(database_url: str) -> AsyncIterator[object]:
    """A Database with the platform tables (outbox, inbox, completeness), through a real migration."""
    from pathlib import Path

    import credit

    from shared.db import Database
    from shared.migrations import upgrade_to_head

    db = Database(database_url)
    await upgrade_to_head(db, str(Path(credit.__file__).parent / "migrations"))
    try:
        yield db
    finally:
        await db.dispose()
