"""Async database access: one engine for writes, one for reads, SQLite or PostgreSQL.

On SQLite (the embedded default) every write transaction starts with BEGIN IMMEDIATE on a single
pooled connection, so writers queue instead of failing with "database is locked", and the file runs
in WAL mode so readers never wait for writers. On PostgreSQL both engines are the same pool.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

from sqlalchemy import Column, DateTime, Dialect, TypeDecorator, event, text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine

from shared.sqlite_checkpoint import FALLBACK_PAGES, WalCheckpointer
from shared.sqlite_inloop import InLoopConnection, in_loop_creator


def is_sqlite(url: str) -> bool:
    return make_url(url).get_backend_name() == "sqlite"


SqliteDriver = Literal["inloop", "thread"]  # the settings' SQLITE_DRIVER: see shared.sqlite_inloop


def _sqlite_engine(url: str, *, immediate: bool, pool_size: int, driver: SqliteDriver,
                   autocheckpoint: int | None = None) -> AsyncEngine:
    database = make_url(url).database
    if database and database != ":memory:":
        Path(database).parent.mkdir(parents=True, exist_ok=True)
    # Sessions always end their transaction themselves, so the pool's extra rollback on return is skipped.
    options: dict[str, Any] = {}
    if database and database != ":memory:" and driver == "inloop":
        options["async_creator"] = in_loop_creator(database)  # see shared.sqlite_inloop: no thread hops
    engine = create_async_engine(url, pool_size=pool_size, max_overflow=0, pool_timeout=60,
                                 pool_reset_on_return=None, **options)

    @event.listens_for(engine.sync_engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None  # we issue BEGIN ourselves
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.execute("PRAGMA foreign_keys=ON")
        if autocheckpoint is not None:
            cursor.execute(f"PRAGMA wal_autocheckpoint={int(autocheckpoint)}")
        cursor.close()

    begin = "BEGIN IMMEDIATE" if immediate else "BEGIN"

    @event.listens_for(engine.sync_engine, "begin")
    def _on_begin(connection: Any) -> None:
        driver = connection.connection.driver_connection
        if isinstance(driver, InLoopConnection):  # straight to sqlite3: an execution context costs ~40 µs
            driver.sqlite.execute(begin)
        else:
            connection.exec_driver_sql(begin)

    return engine


class Database:
    """The service's own database. Built in the app's lifespan, disposed at shutdown."""

    def __init__(self, url: str, *, sqlite_driver: SqliteDriver = "inloop") -> None:
        self.url = url
        self.checkpointer: WalCheckpointer | None = None
        if is_sqlite(url):
            database = make_url(url).database
            if database and database != ":memory:" and sqlite_driver == "inloop":
                self.checkpointer = WalCheckpointer(database)  # the loop's commits no longer checkpoint
            # Two: the connection kept for the write turns, and one for a migration or a test writing directly.
            self.write_engine = _sqlite_engine(url, immediate=True, pool_size=2, driver=sqlite_driver,
                                               autocheckpoint=FALLBACK_PAGES if self.checkpointer else None)
            self.read_engine = _sqlite_engine(url, immediate=False, pool_size=5, driver=sqlite_driver)
        else:
            self.write_engine = create_async_engine(url, pool_size=10, max_overflow=10, pool_pre_ping=True)
            self.read_engine = self.write_engine
        self.write_sessions = async_sessionmaker(self.write_engine, expire_on_commit=False, autoflush=True)
        self.read_sessions = async_sessionmaker(self.read_engine, expire_on_commit=False)
        # SQLite has one writer: queue for it first-come-first-served (the pool alone lets a busy loop of
        # commits starve the relay), instead of waiting on the pool with a timeout.
        self.write_lock: asyncio.Lock | None = asyncio.Lock() if is_sqlite(url) else None
        self._kept: AsyncConnection | None = None  # SQLite: the one write connection, kept across turns

    @asynccontextmanager
    async def writing(self) -> AsyncIterator[AsyncSession]:
        """One write transaction (commits when the block ends without error), in turn on SQLite."""
        async with self.write_connection() as connection:
            await connection.begin()
            session = bound_session(connection)
            try:
                yield session
                await session.commit()  # flushes and runs its commit hooks; the transaction is committed below
                await connection.commit()
            finally:
                await session.close()
                if connection.in_transaction():
                    await connection.rollback()

    @asynccontextmanager
    async def write_connection(self) -> AsyncIterator[AsyncConnection]:
        """A connection for one write transaction, not yet begun; the caller ends the transaction it begins.

        SQLite has one writer: this process's writers queue for their turn first-come-first-served (the pool
        alone lets a busy loop of commits starve the relay) and every turn uses the one connection kept open,
        so a command pays neither a pool checkout nor a check-in. PostgreSQL: a connection from the pool."""
        if self.write_lock is None:
            async with self.write_engine.connect() as connection:
                yield connection
            return
        async with self.write_lock:
            if self._kept is None or self._kept.closed or self._kept.invalidated:
                self._kept = await self.write_engine.connect()
            elif self._kept.in_transaction():  # a turn that ended without ending its transaction
                await self._kept.rollback()
            yield self._kept
        if self.checkpointer is not None:
            self.checkpointer.after_write()
        # On the in-loop driver a command never waits for I/O: without this, a job running a thousand commands in
        # a row would hold the loop (requests, the relay) for all of them.
        await asyncio.sleep(0)

    @asynccontextmanager
    async def reading(self) -> AsyncIterator[AsyncSession]:
        """A read-only session; never commits."""
        async with self.read_sessions() as session:
            yield session

    async def ping(self) -> None:
        async with self.read_engine.connect() as connection:
            await connection.execute(text("SELECT 1"))

    async def dispose(self) -> None:
        if self._kept is not None:
            await self._kept.close()
            self._kept = None
        if self.checkpointer is not None:
            await self.checkpointer.close()
        await self.write_engine.dispose()
        if self.read_engine is not self.write_engine:
            await self.read_engine.dispose()


def bound_session(connection: AsyncConnection) -> AsyncSession:
    """An ORM session on a connection whose transaction its owner began and ends: the session's flushes and
    queries run in that transaction, its rollback rolls it back, its commit and close leave it alone."""
    return AsyncSession(bind=connection, expire_on_commit=False, autoflush=True,
                        join_transaction_mode="rollback_only")


class UTCDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC on every backend: SQLite keeps no zone, so one is attached on the way out,
    and a naive datetime on the way in is refused (it would be ambiguous)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime: store timezone-aware UTC")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def utc_column(nullable: bool = False) -> Any:
    """A SQLModel `sa_column` for a UTC timestamp."""
    return Column(UTCDateTime(), nullable=nullable)
