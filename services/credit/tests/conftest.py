"""Fixtures of credit's database tests: a fresh credit database (SQLite and PostgreSQL) and a clock tests move."""

from __future__ import annotations

from datetime import datetime

import pytest

from shared.db import Database
from shared.ids import utcnow


class ControllableClock:
    """The service clock's interface, standing where the test puts it."""

    def __init__(self, at: datetime) -> None:
        self.at = at

    def now(self) -> datetime:
        return self.at


@pytest.fixture
def db(migrated_db: Database) -> Database:
    """A fresh database through credit's migrations (the root conftest's `migrated_db` is one)."""
    return migrated_db


@pytest.fixture
def clock() -> ControllableClock:
    """A clock the test moves (set `.at`), now at first."""
    return ControllableClock(utcnow())
