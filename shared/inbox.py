"""The inbox: which events a consumer has handled, and how far each source is complete.

An inbox row is written in the handler's own transaction, so a redelivered event finds it and is
skipped. `source_progress` keeps, per source, the highest sequence up to which nothing is missing
(`contiguous_through`) and the highest seen; a difference that lasts is a gap to backfill.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from enum import StrEnum

from sqlalchemy import insert, text, update
from sqlalchemy.ext.asyncio import AsyncSession
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


async def already_handled(session: AsyncSession, consumer: str, event_id: str) -> bool:
    return bool(await handled_among(session, consumer, [event_id]))


async def handled_among(session: AsyncSession, consumer: str, event_ids: Sequence[str]) -> set[str]:
    """Which of these events this consumer has handled already (one query for a whole batch)."""
    rows = await session.execute(
        select(INBOX.c.event_id).where(INBOX.c.consumer == consumer, INBOX.c.event_id.in_(event_ids)))
    return set(rows.scalars())


async def claim(session: AsyncSession, consumer: str, events: Sequence[CloudEvent],
                outcomes: Sequence[Outcome]) -> None:
    """Insert the inbox rows first: a concurrent replica handling one of the same events fails here, on
    the key, with an IntegrityError that means "duplicate" and nothing else."""
    now = utcnow()
    await session.execute(insert(INBOX), [
        {"consumer": consumer, "event_id": event.id, "source": event.source, "sequence": event.sequence,
         "type": event.type, "outcome": outcome.value, "handled_at": now}
        for event, outcome in zip(events, outcomes, strict=True)
    ])


_ENSURE_PROGRESS = text(
    "INSERT INTO source_progress (consumer, source, contiguous_through, highest_seen) "
    "VALUES (:c, :s, 0, 0) ON CONFLICT (consumer, source) DO NOTHING")


async def advance_progress(session: AsyncSession, consumer: str, source: str, sequences: Sequence[int]) -> None:
    """Move the source's completeness mark over newly handled sequences, holding its row lock so that
    replicas walk one at a time and each sees the inbox rows the others committed (READ COMMITTED
    re-reads after the lock)."""
    await session.execute(_ENSURE_PROGRESS, {"c": consumer, "s": source})
    row = (await session.execute(
        select(PROGRESS.c.contiguous_through, PROGRESS.c.highest_seen)
        .where(PROGRESS.c.consumer == consumer, PROGRESS.c.source == source).with_for_update()
    )).one()
    contiguous, highest = int(row[0]), max(int(row[1]), max(sequences))
    if min(sequences) <= contiguous + 1:
        contiguous = await _walk_contiguous(session, consumer, source, contiguous)
    await session.execute(
        update(PROGRESS).where(PROGRESS.c.consumer == consumer, PROGRESS.c.source == source)
        .values(contiguous_through=contiguous, highest_seen=highest))


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
