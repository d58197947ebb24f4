"""The inbox: which events a consumer has handled, and how far each source is complete.

An inbox row is written in the handler's own transaction, so a redelivered event finds it and is
skipped. `source_progress` keeps, per source, the highest sequence up to which nothing is missing
(`contiguous_through`) and the highest seen; a difference that lasts is a gap to backfill.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import Field, SQLModel, col, select

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


class SourceProgress(SQLModel, table=True):
    __tablename__ = "source_progress"

    consumer: str = Field(primary_key=True, max_length=100)
    source: str = Field(primary_key=True, max_length=100)
    contiguous_through: int = 0
    highest_seen: int = 0


async def already_handled(session: AsyncSession, consumer: str, event_id: str) -> bool:
    return await session.get(InboxRecord, (consumer, event_id)) is not None


async def claim(session: AsyncSession, consumer: str, event: CloudEvent, outcome: Outcome) -> None:
    """Insert the inbox row first: a concurrent replica handling the same event fails here, on the key,
    with an IntegrityError that means "duplicate" and nothing else."""
    session.add(InboxRecord(consumer=consumer, event_id=event.id, source=event.source, sequence=event.sequence,
                            type=event.type, outcome=outcome.value, handled_at=utcnow()))
    await session.flush()


async def advance_progress(session: AsyncSession, consumer: str, event: CloudEvent) -> None:
    """Move the source's completeness mark, holding its row lock so that replicas walk one at a time
    and each sees the inbox rows the others committed (READ COMMITTED re-reads after the lock)."""
    await session.execute(
        text("INSERT INTO source_progress (consumer, source, contiguous_through, highest_seen) "
             "VALUES (:c, :s, 0, 0) ON CONFLICT (consumer, source) DO NOTHING"),
        {"c": consumer, "s": event.source},
    )
    progress = (await session.execute(
        select(SourceProgress).where(SourceProgress.consumer == consumer, SourceProgress.source == event.source)
        .with_for_update().execution_options(populate_existing=True)
    )).scalars().one()
    progress.highest_seen = max(progress.highest_seen, event.sequence)
    if event.sequence == progress.contiguous_through + 1 or event.sequence <= progress.contiguous_through:
        progress.contiguous_through = await _walk_contiguous(session, consumer, event.source,
                                                             progress.contiguous_through)


async def _walk_contiguous(session: AsyncSession, consumer: str, source: str, start: int) -> int:
    """Advance from `start` over sequences present in the inbox (events that arrived out of order)."""
    mark = start
    while True:
        sequences = (await session.execute(
            select(InboxRecord.sequence)
            .where(InboxRecord.consumer == consumer, InboxRecord.source == source,
                   col(InboxRecord.sequence) > mark)
            .order_by(col(InboxRecord.sequence)).limit(1000)
        )).scalars().all()
        advanced = False
        for sequence in sequences:
            if sequence == mark + 1:
                mark = sequence
                advanced = True
            elif sequence > mark + 1:
                return mark
        if not advanced or len(sequences) < 1000:
            return mark


async def progress_of(session: AsyncSession, consumer: str) -> dict[str, SourceProgress]:
    rows = (await session.execute(select(SourceProgress).where(SourceProgress.consumer == consumer))).scalars()
    return {row.source: row for row in rows}
