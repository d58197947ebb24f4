"""Makerspace fixtures: a migrated database of each kind."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import makerspace
import pytest

from shared.db import Database
from shared.migrations import upgrade_to_head


@pytest.fixture
async def db(database_url: str) -> AsyncIterator[Database]:
    database = Database(database_url)
    await upgrade_to_head(database, str(Path(makerspace.__file__).parent / "migrations"))
    try:
        yield database
    finally:
        await database.dispose()
