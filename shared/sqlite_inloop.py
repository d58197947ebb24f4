"""SQLite driven from the event loop's own thread, behind SQLAlchemy's aiosqlite dialect.

aiosqlite runs every call (cursor, execute, fetch, close: about four per statement) on a helper
thread and hands the result back through a future. On a busy process each of those hand-offs waits
for the GIL (up to the 5 ms switch interval), so a command of ten statements spent most of its time
queueing between threads, not in SQLite. SQLite itself answers in microseconds from the page cache:
calling it directly from the loop's thread is faster, and in WAL mode it never waits for a reader.
Writers within the process queue on `Database.write_connection()` before they begin, so `BEGIN IMMEDIATE`
only waits when another process writes the same file (the busy timeout covers that rare case, e.g. a
migration in a second process).

This module gives SQLAlchemy an object shaped like an aiosqlite connection whose coroutines finish
without suspending. It is the embedded default's driver (`SQLITE_DRIVER=inloop`); the thread-based
aiosqlite stays available as `SQLITE_DRIVER=thread`. PostgreSQL (production) is not affected.
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import AsyncIterator, Callable, Iterable, Sequence
from typing import Any


class _Cursor:
    """The aiosqlite cursor surface SQLAlchemy's adapter uses, running synchronously."""

    __slots__ = ("_cursor",)

    def __init__(self, cursor: sqlite3.Cursor) -> None:
        self._cursor = cursor

    async def __aenter__(self) -> _Cursor:
        return self

    async def __aexit__(self, *exc: object) -> None:
        self._cursor.close()

    def __await__(self) -> Any:  # `await connection.cursor()` as aiosqlite allows
        return self.__aenter__().__await__()

    @property
    def description(self) -> Any:
        return self._cursor.description

    @property
    def rowcount(self) -> int:
        return self._cursor.rowcount

    @property
    def lastrowid(self) -> int | None:
        return self._cursor.lastrowid

    @property
    def arraysize(self) -> int:
        return self._cursor.arraysize

    @arraysize.setter
    def arraysize(self, value: int) -> None:
        self._cursor.arraysize = value

    async def execute(self, sql: str, parameters: Any = None) -> _Cursor:
        self._cursor.execute(sql, () if parameters is None else parameters)
        return self

    async def executemany(self, sql: str, parameters: Iterable[Any]) -> _Cursor:
        self._cursor.executemany(sql, parameters)
        return self

    async def fetchone(self) -> Any:
        return self._cursor.fetchone()

    async def fetchmany(self, size: int | None = None) -> list[Any]:
        return self._cursor.fetchmany(self._cursor.arraysize if size is None else size)

    async def fetchall(self) -> list[Any]:
        return self._cursor.fetchall()

    async def close(self) -> None:
        self._cursor.close()

    async def setinputsizes(self, *sizes: Any) -> None:
        return None

    async def nextset(self) -> None:
        return None

    async def __aiter__(self) -> AsyncIterator[Any]:
        for row in self._cursor:
            yield row


class _RunNow:
    """Stands in for aiosqlite's request queue: SQLAlchemy sets the isolation level through it."""

    def put_nowait(self, item: tuple[asyncio.Future[Any], Callable[[], Any]]) -> None:
        future, function = item
        try:
            future.set_result(function())
        except Exception as error:
            future.set_exception(error)


class InLoopConnection:
    """An aiosqlite-shaped connection whose every coroutine completes at once."""

    def __init__(self, connection: sqlite3.Connection) -> None:
        self._conn = connection
        self._connection: sqlite3.Connection | None = connection
        self._tx = _RunNow()

    @property
    def sqlite(self) -> sqlite3.Connection:
        """The sqlite3 connection itself, for `shared.statements` (synchronous, on the loop's thread)."""
        return self._conn

    @property
    def isolation_level(self) -> str | None:
        return self._conn.isolation_level

    def cursor(self) -> _Cursor:
        return _Cursor(self._conn.cursor())

    async def execute(self, sql: str, parameters: Sequence[Any] | None = None) -> _Cursor:
        return await self.cursor().execute(sql, parameters)

    async def commit(self) -> None:
        self._conn.commit()

    async def rollback(self) -> None:
        self._conn.rollback()

    async def create_function(self, *args: Any, **kwargs: Any) -> None:
        self._conn.create_function(*args, **kwargs)

    async def close(self) -> None:
        if self._connection is not None:
            self._connection = None
            self._conn.close()

    def stop(self) -> None:
        if self._connection is not None:
            self._connection = None
            self._conn.close()


def in_loop_creator(database: str) -> Callable[[], Any]:
    """An `async_creator` for `create_async_engine("sqlite+aiosqlite://...")`."""

    async def connect() -> InLoopConnection:
        return InLoopConnection(sqlite3.connect(database, check_same_thread=False, isolation_level=None))

    return connect
