"""Makerspace fixtures: a migrated database of each kind."""

from __future__ import annotations

from collections.abc import AsyncIterator

import makerspace
import pytest

from shared.db import Database
from tests.support.databases import migrated_database


@pytest.fixture
async def db(database_url: str) -> AsyncIterator[Database]:
    async with migrated_database(database_url, makerspace) as database:
        yield database
