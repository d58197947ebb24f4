"""The inbox: which events a consumer has handled, and how far each source is complete.

An inbox row is written in the handler's own transaction, so a redelivered event finds it and is
skipped. `source_progress` keeps, per source, the highest sequence up to which nothing is missing
(`contiguous_through`) and the highest seen; a difference that lasts is a gap to backfill.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import text, update
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session
from sqlmodel import Field, SQLModel, select

from shared.db import utc_column
from shared.envelope import CloudEvent
from shared.ids import utcnow


class Outcome(StrEnum):
    APPLIED = "applied"
    IGNORED = "ignored"  # a type this consumer does not subscribe to: seen, counted, nothing to do
    DEAD_LETTERED = "dead_lettered"


class InboxRecord(SQLModel, table=True):
    __tablename__ = "inbox"

    consumer: str = Field(primary_key=True, max_length=100)
    event_id: str = Field(primary_key=True, max_length=64)
    source: str = Field(max_length=100, index=True)
    sequence: int
    type: str = Field(max_length=200)
    outcome: str = Field(max_length=20)
    handled_at: datetime = Field(sa_column=utc_column())


INBOX = SQLModel.metadata.tables["inbox"]


class SourceProgress(SQLModel, table=True):
    __tablename__ = "source_progress"

    consumer: str = Field(primary_key=True, max_length=100)
    source: str = Field(primary_key=True, max_length=100)
    contiguous_through: int = 0
    highest_seen: int = 0


PROGRESS = SQLModel.metadata.tables["source_progress"]


async def claim(session: AsyncSession, consumer: str, events: Sequence[CloudEvent],
                outcomes: Sequence[Outcome]) -> set[str]:
    """Insert the inbox rows of events not handled yet, in one statement; returns the ids inserted now.
    An id another replica holds (committed, or committing: PostgreSQL waits for it) is left out."""
    if not events:  # an empty feed page: an insert of no rows is not even valid SQL
        return set()
    now = utcnow()
    rows = [{"consumer": consumer, "event_id": event.id, "source": event.source, "sequence": event.sequence,
             "type": event.type, "outcome": outcome.value, "handled_at": now}
            for event, outcome in zip(events, outcomes, strict=True)]
    statement = dialect_insert(session)(INBOX).on_conflict_do_nothing(
        index_elements=["consumer", "event_id"]).returning(INBOX.c.event_id)
    # executemany with RETURNING: SQLAlchemy batches it into multi-row statements compiled once
    return set((await session.execute(statement, rows)).scalars())


def dialect_insert(session: AsyncSession | Session) -> Any:
    """The INSERT construct of the session's dialect (PostgreSQL or SQLite), for ON CONFLICT upserts."""
    return postgresql_insert if _dialect(session) == "postgresql" else sqlite_insert


def _dialect(session: AsyncSession | Session) -> str:
    bind = session.bind
    assert bind is not None, "sessions are bound to the service's engine"
    return str(bind.dialect.name)


_UPSERT_PROGRESS = (
    "INSERT INTO source_progress (consumer, source, contiguous_through, highest_seen) VALUES (:c, :s, 0, :h) "
    "ON CONFLICT (consumer, source) DO UPDATE SET highest_seen = {larger}(source_progress.highest_seen, "
    "excluded.highest_seen) RETURNING contiguous_through, highest_seen"
)
_UPSERTS = {"postgresql": text(_UPSERT_PROGRESS.format(larger="GREATEST")),
            "sqlite": text(_UPSERT_PROGRESS.format(larger="MAX"))}


async def advance_progress(session: AsyncSession, consumer: str, source: str, sequences: Sequence[int]) -> None:
    """Move the source's completeness mark over newly handled sequences. The upsert takes the progress
    row's lock, so replicas advance one at a time and each sees the inbox rows the others committed
    (READ COMMITTED re-reads after the lock). Events arriving in order need no walk over the inbox."""
    ordered = sorted(sequences)
    contiguous, highest = (await session.execute(
        _UPSERTS[_dialect(session)], {"c": consumer, "s": source, "h": ordered[-1]})).one()
    in_order = ordered == list(range(contiguous + 1, contiguous + 1 + len(ordered)))
    if in_order and highest == ordered[-1]:
        mark = ordered[-1]
    elif ordered[0] <= contiguous + 1:
        mark = await _walk_contiguous(session, consumer, source, contiguous)
    else:
        return  # a gap before these: the mark stays until it is filled
    if mark != contiguous:
        await session.execute(update(PROGRESS).where(PROGRESS.c.consumer == consumer, PROGRESS.c.source == source)
                              .values(contiguous_through=mark))


async def _walk_contiguous(session: AsyncSession, consumer: str, source: str, start: int) -> int:
    """Advance from `start` over sequences present in the inbox (events that arrived out of order)."""
    mark = start
    while True:
        sequences = (await session.execute(
            select(INBOX.c.sequence)
            .where(INBOX.c.consumer == consumer, INBOX.c.source == source, INBOX.c.sequence > mark)
            .order_by(INBOX.c.sequence).limit(1000)
        )).scalars().all()
        for sequence in sequences:
            if sequence != mark + 1:
                return mark
            mark = sequence
        if len(sequences) < 1000:
            return mark


async def progress_of(session: AsyncSession, consumer: str) -> dict[str, SourceProgress]:
    rows = (await session.execute(select(SourceProgress).where(SourceProgress.consumer == consumer))).scalars()
    return {row.source: row for row in rows}
