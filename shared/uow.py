"""Unit of work: one transaction per command; events leave only through the outbox written in it."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from types import TracebackType

from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from shared.db import Database, bound_session
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
        self._session: AsyncSession | None = None

    async def __aenter__(self) -> UnitOfWork:
        self._turn = self._db.write_connection()
        self._connection = await self._turn.__aenter__()
        try:
            await self._connection.begin()
        except BaseException as error:
            await self._turn.__aexit__(type(error), error, error.__traceback__)
            raise
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        try:
            if self._session is not None:
                await self._session.close()  # detaches its objects; leaves the transaction to us
            if self._connection.in_transaction():  # not committed, or used again after the commit
                await self._connection.rollback()
        finally:
            await self._turn.__aexit__(exc_type, exc, tb)  # gives up the write turn

    @property
    def session(self) -> AsyncSession:
        """The ORM session of this transaction, made when first asked for: a command that needs only
        `shared.statements` (the pledge) does not pay for one."""
        if self._session is None:
            self._session = bound_session(self._connection)
        return self._session

    async def connection(self) -> AsyncConnection:
        """The transaction's connection: where `shared.statements` run."""
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
        if self._session is not None:  # flushes and runs the session's commit hooks; the transaction is ours
            await self._session.commit()
        await self._connection.commit()
        self._committed = True
        if self._written and self._on_commit is not None:
            self._on_commit(self._written)
