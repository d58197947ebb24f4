"""The transactional outbox: event rows written in the business transaction, with a gapless sequence.

The sequence comes from a counter row updated inside the same transaction, so a rolled-back command
leaves no hole and concurrent commands are ordered by the counter's row lock.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Index, insert, text
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import Field, SQLModel, col, select

from shared.db import utc_column
from shared.envelope import CloudEvent, EventData, source_for
from shared.ids import new_id, utcnow


class OutboxRecord(SQLModel, table=True):
    __tablename__ = "outbox"
    __table_args__ = (Index("ix_outbox_unsent", "sequence", sqlite_where=text("sent_at IS NULL"),
                            postgresql_where=text("sent_at IS NULL")),)

    sequence: int = Field(primary_key=True)
    event_id: str = Field(unique=True, max_length=64)
    type: str = Field(max_length=200)
    subject: str = Field(max_length=200)
    partition_key: str = Field(max_length=200)
    envelope: str
    created_at: datetime = Field(sa_column=utc_column())
    sent_at: datetime | None = Field(default=None, sa_column=utc_column(nullable=True))


OUTBOX_TABLE = SQLModel.metadata.tables["outbox"]


class OutboxSequence(SQLModel, table=True):
    __tablename__ = "outbox_sequence"

    source: str = Field(primary_key=True, max_length=100)
    last_sequence: int = 0


@dataclass(frozen=True)
class PendingEvent:
    data: EventData
    subject: str
    partition_key: str
    actor: str
    traceparent: str  # a span of the trace that was current when the event was published


_RESERVE = text(
    "INSERT INTO outbox_sequence (source, last_sequence) VALUES (:s, :n) "
    "ON CONFLICT (source) DO UPDATE SET last_sequence = outbox_sequence.last_sequence + :n "
    "RETURNING last_sequence"
)


async def reserve_sequences(session: AsyncSession, source: str, count: int) -> int:
    """Take `count` consecutive numbers of the counter `source` in one statement (its row lock is held
    until commit, so commits come in counter order); returns the first one."""
    last = int((await session.execute(_RESERVE, {"s": source, "n": count})).scalar_one())
    return last - count + 1


async def write_outbox(session: AsyncSession, service: str, pending: list[PendingEvent]) -> list[CloudEvent]:
    """Turn pending events into envelopes and outbox rows inside the caller's transaction."""
    if not pending:
        return []
    source = source_for(service)
    first = await reserve_sequences(session, source, len(pending))
    now = utcnow()
    written: list[CloudEvent] = []
    rows: list[dict[str, object]] = []
    for offset, item in enumerate(pending):
        envelope = CloudEvent(
            id=new_id(),
            source=source,
            type=item.data.event_type,
            time=now,
            subject=item.subject,
            data=item.data.model_dump(mode="json"),
            sequence=first + offset,
            partitionkey=item.partition_key,
            actor=item.actor,
            traceparent=item.traceparent,
        )
        rows.append({"sequence": envelope.sequence, "event_id": envelope.id, "type": envelope.type,
                     "subject": envelope.subject, "partition_key": envelope.partitionkey,
                     "envelope": envelope.model_dump_json(), "created_at": now, "sent_at": None})
        written.append(envelope)
    await session.execute(insert(OUTBOX_TABLE), rows)  # Core insert: no ORM bookkeeping on the hot path
    return written


async def read_feed(session: AsyncSession, after: int, limit: int) -> tuple[list[CloudEvent], int]:
    """Events with sequence > after, oldest first, and the current head sequence."""
    rows = (await session.execute(
        select(OutboxRecord.envelope).where(col(OutboxRecord.sequence) > after)
        .order_by(col(OutboxRecord.sequence)).limit(limit)
    )).scalars().all()
    head = (await session.execute(text("SELECT COALESCE(MAX(sequence), 0) FROM outbox"))).scalar_one()
    return [CloudEvent.model_validate_json(raw) for raw in rows], int(head)
