"""Unit of work: one transaction per command; events leave only through the outbox written in it."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from contextlib import AsyncExitStack
from types import TracebackType

from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from shared.db import Database
from shared.envelope import CloudEvent, EventData
from shared.outbox import OutboxEntry, PendingEvent, check_attributes, write_outbox
from shared.tracing import current_traceparent

# Called after a commit that wrote outbox rows, with those rows: the relay's `wake`, which sends them
# from memory (the table stays the source of truth).
CommitListener = Callable[[Sequence[OutboxEntry]], None]


class UnitOfWork:
    """Rolls back unless `commit()` was called; `publish()` queues events written at commit."""

    def __init__(self, db: Database, service: str, on_commit: CommitListener | None = None) -> None:
        self._db = db
        self._service = service
        self._on_commit = on_commit
        self._pending: list[PendingEvent] = []
        self._before_commit: list[Callable[[], Awaitable[None]]] = []
        self._committed = False
        self._written: list[OutboxEntry] = []
        self._published: list[CloudEvent] | None = None
        self._connection: AsyncConnection | None = None
        self.session: AsyncSession

    async def __aenter__(self) -> UnitOfWork:
        self._resources = AsyncExitStack()
        try:
            await self._resources.enter_async_context(self._db.write_turn())
            # No explicit begin: the session begins its transaction at its first statement (autobegin), the
            # same transaction, without a greenlet round trip for an empty SessionTransaction first.
            self.session = await self._resources.enter_async_context(self._db.write_sessions())
        except BaseException:
            await self._resources.aclose()
            raise
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        try:
            if not self._committed:
                await self.session.rollback()
        finally:
            await self._resources.aclose()  # closes the session, then gives up the write turn

    async def connection(self) -> AsyncConnection:
        """The transaction's connection, taken from the session once: where `shared.statements` run."""
        if self._connection is None:
            self._connection = await self.session.connection()
        return self._connection

    def publish(self, data: EventData, *, subject: str, actor: str, partition_key: str | None = None) -> None:
        """Queue an event; it gets its sequence and outbox row in this transaction's commit."""
        key = partition_key or subject
        check_attributes(subject, key, actor)
        self._pending.append(PendingEvent(data, subject, key, actor, current_traceparent.get()))

    @property
    def published(self) -> list[CloudEvent]:
        """The events this unit of work wrote to the outbox (after commit), as their envelopes."""
        if self._published is None:
            self._published = [entry.event() for entry in self._written]
        return self._published

    def before_commit(self, hook: Callable[[], Awaitable[None]]) -> None:
        """Run `hook` at commit, inside the transaction, before the outbox rows are written: writes a consumer
        handler gathers over a whole fetch (one batch instead of a statement per event)."""
        self._before_commit.append(hook)

    async def commit(self) -> None:
        for hook in self._before_commit:
            await hook()
        if self._pending:
            self._written = await write_outbox(await self.connection(), self._service, self._pending)
        self._published = None
        await self.session.commit()
        self._connection = None  # back in the pool
        self._committed = True
        if self._written and self._on_commit is not None:
            self._on_commit(self._written)
