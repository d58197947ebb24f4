"""PostgreSQL for tests: where the server is, whether it is reachable, and fresh databases on it.

`SIZHONG_TEST_POSTGRES_URL` names the server (default postgresql+asyncpg://postgres@127.0.0.1:5432).
Where none is reachable the PostgreSQL tests skip with a message, unless `SIZHONG_REQUIRE_POSTGRES=1`
(CI sets it), in which case they fail.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from types import ModuleType

import asyncpg
import pytest

from shared.db import Database
from shared.migrations import upgrade_to_head

DEFAULT_POSTGRES = "postgresql+asyncpg://postgres@127.0.0.1:5432"


def postgres_server_url() -> str:
    return os.environ.get("SIZHONG_TEST_POSTGRES_URL", DEFAULT_POSTGRES).rstrip("/")


def _dsn(url: str, database: str) -> str:
    return url.replace("postgresql+asyncpg://", "postgresql://", 1) + f"/{database}"


async def _admin(sql: str) -> None:
    connection = await asyncpg.connect(_dsn(postgres_server_url(), "postgres"), timeout=3)
    try:
        await connection.execute(sql)
    finally:
        await connection.close()


def postgres_available() -> str | None:
    """None when reachable, else the reason."""
    try:
        asyncio.run(_admin("SELECT 1"))
    except Exception as exc:
        return f"{type(exc).__name__}: {exc}"
    return None


def require_postgres() -> None:
    reason = postgres_available()
    if reason is None:
        return
    message = f"PostgreSQL at {postgres_server_url()} is not reachable ({reason})"
    if os.environ.get("SIZHONG_REQUIRE_POSTGRES") == "1":
        pytest.fail(message + " and SIZHONG_REQUIRE_POSTGRES=1", pytrace=False)
    pytest.skip(message + "; set SIZHONG_TEST_POSTGRES_URL to run these tests")


def create_postgres_database(name: str) -> str:
    asyncio.run(_admin(f'CREATE DATABASE "{name}"'))
    return f"{postgres_server_url()}/{name}"


def drop_postgres_database(name: str) -> None:
    asyncio.run(_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


def platform_on_postgres() -> bool:
    """The whole suite runs its services on PostgreSQL when CI asks for it."""
    return os.environ.get("SIZHONG_TEST_DATABASE") == "postgres"


@asynccontextmanager
async def migrated_database(database_url: str, service: ModuleType) -> AsyncIterator[Database]:
    """A Database at `database_url` migrated to the head of `service`'s own chain (`<package>/migrations`),
    disposed of afterwards: the `db` fixture of a service's tests."""
    database = Database(database_url)
    await upgrade_to_head(database, str(Path(service.__file__ or "").parent / "migrations"))
    try:
        yield database
    finally:
        await database.dispose()
