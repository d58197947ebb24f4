"""Hot-path statements: a Core statement compiled once per dialect and run on the transaction's own connection.

`session.execute()` costs 50–100 µs of Python per statement (the ORM's execution options, the cache key of the
statement, a result object) where SQLite answers in 2–80 µs; a command of six statements spent most of its time
there. A `Statement` is compiled once per dialect into its SQL text, the order of its parameters with their
bind processors and its result columns with their result processors, exactly as SQLAlchemy would convert them.
It runs in the caller's transaction:

- on the embedded default (SQLite driven from the loop, `shared.sqlite_inloop`), straight on the sqlite3
  connection of the session's transaction: no greenlet hop, no execution context;
- anywhere else (PostgreSQL, SQLite through aiosqlite's thread) through `exec_driver_sql` on the same connection,
  so the driver adapter keeps its own transaction handling.

The ORM session does not see these statements: objects it holds are not refreshed and pending ones are not
flushed first. Use it for writes and reads of rows the command does not also hold as ORM objects.
"""

from __future__ import annotations

import sqlite3
from collections import namedtuple
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from operator import itemgetter
from typing import Any, Generic, TypeVar

from sqlalchemy import Dialect
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession
from sqlalchemy.sql import ClauseElement

from shared.sqlite_inloop import InLoopConnection

Executor = AsyncSession | AsyncConnection
"""Where a statement runs: a session's transaction, or its connection (`UnitOfWork.connection()`, taken once)."""


@dataclass(frozen=True)
class _Compiled:
    sql: str
    names: tuple[str, ...]  # the parameters in the driver's order (positional) or its names
    positional: bool
    literals: dict[str, Any]  # the statement's own values (`count + 1`, a compared constant), by name
    take: Callable[[Mapping[str, Any]], Any]  # the values of `names` out of one mapping, in order
    bind_processors: tuple[tuple[int, Callable[[Any], Any]], ...]  # (position, conversion) where there is one
    row_type: Any  # a namedtuple class of the result columns, or None for a statement without rows
    result_processors: tuple[tuple[int, Callable[[Any], Any]], ...]


def _taker(names: tuple[str, ...]) -> Callable[[Mapping[str, Any]], Any]:
    """`itemgetter` over `names`, always returning a tuple."""
    if not names:
        return lambda _values: ()
    if len(names) == 1:
        name = names[0]
        return lambda values: (values[name],)
    return itemgetter(*names)


StatementT = TypeVar("StatementT", bound=ClauseElement)


class Statement(Generic[StatementT]):
    """A Core statement (select, insert, update, delete, text) run with few Python layers; see the module."""

    def __init__(self, statement: StatementT, *, column_keys: Sequence[str] | None = None) -> None:
        self.statement = statement
        self._column_keys = list(column_keys) if column_keys is not None else None
        self._compiled: dict[str, _Compiled] = {}

    def _for(self, dialect: Dialect) -> _Compiled:
        compiled = self._compiled.get(dialect.name)
        if compiled is None:
            compiled = self._compiled[dialect.name] = self._compile(dialect)
        return compiled

    def _compile(self, dialect: Dialect) -> _Compiled:
        compiled: Any = self.statement.compile(dialect=dialect, column_keys=self._column_keys)
        names = tuple(compiled.positiontup or ()) if compiled.positional else tuple(compiled.binds)
        binds = [compiled.binds[name] for name in names]
        literals = {bind.key: bind.effective_value for bind in binds if not bind.required}
        bind_processors = tuple((position, process) for position, bind in enumerate(binds)
                                if (process := bind.type.dialect_impl(dialect).bind_processor(dialect)) is not None)
        columns = list(getattr(self.statement, "exported_columns", ()))  # a select's or a RETURNING's
        row_type = namedtuple("Row", [c.key for c in columns], rename=True) if columns else None
        result_processors = tuple(
            (position, process) for position, column in enumerate(columns)
            if (process := column.type.dialect_impl(dialect).result_processor(dialect, None)) is not None)
        return _Compiled(compiled.string, tuple(bind.key for bind in binds), bool(compiled.positional), literals,
                         _taker(tuple(bind.key for bind in binds)), bind_processors, row_type, result_processors)

    @staticmethod
    def _parameters(compiled: _Compiled, values: Mapping[str, Any]) -> Any:
        """The driver's parameters: the caller's values (and the statement's literals), converted as SQLAlchemy
        converts them; a missing value is a KeyError."""
        taken = compiled.take({**compiled.literals, **values} if compiled.literals else values)
        if compiled.bind_processors:
            taken = list(taken)
            for position, process in compiled.bind_processors:
                if taken[position] is not None:
                    taken[position] = process(taken[position])
        if compiled.positional:
            return tuple(taken)
        return dict(zip(compiled.names, taken, strict=True))

    @staticmethod
    def _rows(compiled: _Compiled, raw: Sequence[Sequence[Any]]) -> list[Any]:
        make = compiled.row_type._make
        if not compiled.result_processors:
            return [make(row) for row in raw]
        rows = []
        for row in raw:
            values = list(row)
            for position, process in compiled.result_processors:
                if values[position] is not None:
                    values[position] = process(values[position])
            rows.append(make(values))
        return rows

    async def rows(self, executor: Executor, values: Mapping[str, Any] | None = None) -> list[Any]:
        """Run it and return its rows (named tuples, converted as SQLAlchemy would)."""
        connection = await connection_of(executor)
        compiled = self._for(connection.dialect)
        raw = await execute_driver(connection, compiled.sql, self._parameters(compiled, values or {}), fetch=True)
        return self._rows(compiled, raw) if compiled.row_type is not None else []

    async def first(self, executor: Executor, values: Mapping[str, Any] | None = None) -> Any | None:
        """The first row, or None."""
        rows = await self.rows(executor, values)
        return rows[0] if rows else None

    async def run(self, executor: Executor, values: Mapping[str, Any] | None = None) -> None:
        """Run it for its effect."""
        connection = await connection_of(executor)
        compiled = self._for(connection.dialect)
        await execute_driver(connection, compiled.sql, self._parameters(compiled, values or {}))

    async def run_many(self, executor: Executor, values: Sequence[Mapping[str, Any]]) -> None:
        """Run it once per set of values, as one executemany."""
        if not values:
            return
        connection = await connection_of(executor)
        compiled = self._for(connection.dialect)
        await execute_driver(connection, compiled.sql, [self._parameters(compiled, each) for each in values],
                             many=True)


async def connection_of(executor: Executor) -> AsyncConnection:
    """The connection a statement runs on: the executor itself, or its session's (begun if need be)."""
    return executor if isinstance(executor, AsyncConnection) else await executor.connection()


async def execute_driver(connection: AsyncConnection, sql: str, parameters: Any, *, many: bool = False,
                         fetch: bool = False) -> list[Any]:
    """Run SQL text already in the driver's paramstyle with parameters already converted, in `connection`'s
    transaction: on the in-loop SQLite connection directly, elsewhere through `exec_driver_sql`. The raw rows
    when `fetch`."""
    driver = connection.sync_connection.connection.driver_connection  # type: ignore[union-attr]
    if isinstance(driver, InLoopConnection):
        try:
            cursor = driver.sqlite.executemany(sql, parameters) if many else driver.sqlite.execute(sql, parameters)
            return cursor.fetchall() if fetch else []
        except sqlite3.Error as error:  # raised as SQLAlchemy raises it (IntegrityError, OperationalError, ...)
            raise DBAPIError.instance(sql, parameters, error, sqlite3.Error) from error
    result = await connection.exec_driver_sql(sql, parameters)
    return list(result.all()) if fetch else []
