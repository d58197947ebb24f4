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

from collections import namedtuple
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from sqlalchemy import Dialect
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession
from sqlalchemy.sql import ClauseElement

from shared.sqlite_inloop import InLoopConnection

Processor = Callable[[Any], Any] | None
Executor = AsyncSession | AsyncConnection
"""Where a statement runs: a session's transaction, or its connection (`UnitOfWork.connection()`, taken once)."""


@dataclass(frozen=True)
class _Slot:
    """One positional parameter: taken from the caller's parameters by `name`, or the statement's own literal."""

    name: str
    required: bool
    default: Any
    process: Processor


@dataclass(frozen=True)
class _Compiled:
    sql: str
    slots: tuple[_Slot, ...]
    positional: bool
    row_type: Any  # a namedtuple class of the result columns, or None for a statement without rows
    processors: tuple[Processor, ...]
    any_processor: bool


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
        names = list(compiled.positiontup or ()) if compiled.positional else list(compiled.binds)
        slots = []
        for name in names:
            bind = compiled.binds[name]
            slots.append(_Slot(bind.key, bind.required, bind.effective_value if not bind.required else None,
                               bind.type.dialect_impl(dialect).bind_processor(dialect)))
        columns = list(getattr(self.statement, "exported_columns", ()))  # a select's or a RETURNING's
        row_type = namedtuple("Row", [c.key for c in columns], rename=True) if columns else None
        processors = tuple(c.type.dialect_impl(dialect).result_processor(dialect, None) for c in columns)
        return _Compiled(compiled.string, tuple(slots), bool(compiled.positional), row_type, processors,
                         any(p is not None for p in processors))

    @staticmethod
    def _parameters(compiled: _Compiled, values: Mapping[str, Any]) -> Any:
        converted = []
        for slot in compiled.slots:
            value = values[slot.name] if slot.required or slot.name in values else slot.default
            converted.append(value if slot.process is None or value is None else slot.process(value))
        if compiled.positional:
            return tuple(converted)
        return {slot.name: value for slot, value in zip(compiled.slots, converted, strict=True)}

    def _rows(self, compiled: _Compiled, raw: Sequence[Sequence[Any]]) -> list[Any]:
        make = compiled.row_type._make
        if not compiled.any_processor:
            return [make(row) for row in raw]
        processors = compiled.processors
        return [make([value if process is None or value is None else process(value)
                      for process, value in zip(processors, row, strict=True)]) for row in raw]

    async def rows(self, executor: Executor, values: Mapping[str, Any] | None = None) -> list[Any]:
        """Run it and return its rows (named tuples, converted as SQLAlchemy would)."""
        connection = await _connection(executor)
        compiled = self._for(connection.dialect)
        raw = await execute_driver(connection, compiled.sql, self._parameters(compiled, values or {}), fetch=True)
        return self._rows(compiled, raw) if compiled.row_type is not None else []

    async def first(self, executor: Executor, values: Mapping[str, Any] | None = None) -> Any | None:
        """The first row, or None."""
        rows = await self.rows(executor, values)
        return rows[0] if rows else None

    async def run(self, executor: Executor, values: Mapping[str, Any] | None = None) -> None:
        """Run it for its effect."""
        connection = await _connection(executor)
        compiled = self._for(connection.dialect)
        await execute_driver(connection, compiled.sql, self._parameters(compiled, values or {}))

    async def run_many(self, executor: Executor, values: Sequence[Mapping[str, Any]]) -> None:
        """Run it once per set of values, as one executemany."""
        if not values:
            return
        connection = await _connection(executor)
        compiled = self._for(connection.dialect)
        await execute_driver(connection, compiled.sql, [self._parameters(compiled, each) for each in values],
                             many=True)


async def _connection(executor: Executor) -> AsyncConnection:
    return executor if isinstance(executor, AsyncConnection) else await executor.connection()


async def execute_driver(connection: AsyncConnection, sql: str, parameters: Any, *, many: bool = False,
                         fetch: bool = False) -> list[Any]:
    """Run SQL text already in the driver's paramstyle with parameters already converted, in `connection`'s
    transaction: on the in-loop SQLite connection directly, elsewhere through `exec_driver_sql`. The raw rows
    when `fetch`."""
    driver = connection.sync_connection.connection.driver_connection  # type: ignore[union-attr]
    if isinstance(driver, InLoopConnection):
        cursor = driver.sqlite.executemany(sql, parameters) if many else driver.sqlite.execute(sql, parameters)
        return cursor.fetchall() if fetch else []
    result = await connection.exec_driver_sql(sql, parameters)
    return list(result.all()) if fetch else []
