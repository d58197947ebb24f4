"""The transactional outbox: event rows written in the business transaction, with a gapless sequence.

The sequence comes from a counter row updated inside the same transaction, so a rolled-back command
leaves no hole and concurrent commands are ordered by the counter's row lock.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from json.encoder import encode_basestring
from typing import Any, NamedTuple

from sqlalchemy import Dialect, Index, Integer, String, bindparam, insert, text
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import Field, SQLModel, col, select

from shared.db import utc_column
from shared.envelope import CloudEvent, EventData, source_for
from shared.ids import ordered_ids, utcnow
from shared.statements import Executor, Statement, connection_of, execute_driver
from shared.tracing import child_traceparents


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


class PendingEvent(NamedTuple):
    data: EventData
    subject: str
    partition_key: str
    actor: str
    parent_trace: str | None  # the traceparent current when the event was published; the event gets a child span


class OutboxEntry(NamedTuple):
    """One committed outbox row as the relay sends it: the envelope serialised once, key and value as bytes."""

    sequence: int
    event_id: str
    type: str
    key: bytes
    value: bytes

    def event(self) -> CloudEvent:
        return CloudEvent.from_json_bytes(self.value)


MAX_ATTRIBUTE_LENGTH = 200  # subject, partitionkey and actor, as the envelope and the outbox columns allow


def check_attributes(subject: str, partition_key: str, actor: str) -> None:
    """What the envelope's validation would refuse, checked when the event is published (the envelope
    itself is composed without a second validation)."""
    if 0 < len(subject) <= MAX_ATTRIBUTE_LENGTH and 0 < len(partition_key) <= MAX_ATTRIBUTE_LENGTH \
            and 0 < len(actor) <= MAX_ATTRIBUTE_LENGTH:
        return
    for name, value in (("subject", subject), ("partition_key", partition_key), ("actor", actor)):
        if not 0 < len(value) <= MAX_ATTRIBUTE_LENGTH:
            raise ValueError(f"{name} must be 1 to {MAX_ATTRIBUTE_LENGTH} characters, got {len(value)}")


_RESERVE = Statement(text(
    "INSERT INTO outbox_sequence (source, last_sequence) VALUES (:s, :n) "
    "ON CONFLICT (source) DO UPDATE SET last_sequence = outbox_sequence.last_sequence + :n "
    "RETURNING last_sequence"
).bindparams(bindparam("s", type_=String()), bindparam("n", type_=Integer())).columns(last_sequence=Integer()))


async def reserve_sequences(session: Executor, source: str, count: int) -> int:
    """Take `count` consecutive numbers of the counter `source` in one statement (its row lock is held
    until commit, so commits come in counter order); returns the first one."""
    last = int((await _RESERVE.rows(session, {"s": source, "n": count}))[0].last_sequence)
    return last - count + 1


_json_text: Callable[[str], str] = encode_basestring  # a JSON string literal, escaped as json.dumps would


def compose_envelope(*, event_id: str, source: str, event_type: str, time: str, subject: str, data_json: str,
                     sequence: int, partition_key: str, actor: str, traceparent: str) -> str:
    """The CloudEvents JSON of one event, written out directly: every attribute is either ours (id, source,
    type, time as RFC 3339 text, sequence, traceparent) or checked when published (subject, partitionkey,
    actor), and the data is the pydantic model's own JSON. `CloudEvent` parses it back unchanged (tested)."""
    return (f'{{"specversion":"1.0","id":"{event_id}","source":"{source}","type":"{event_type}","time":"{time}",'
            f'"subject":{_json_text(subject)},"datacontenttype":"application/json","data":{data_json},'
            f'"sequence":{sequence},"partitionkey":{_json_text(partition_key)},"actor":{_json_text(actor)},'
            f'"traceparent":"{traceparent}"}}')


_COLUMNS = ("sequence", "event_id", "type", "subject", "partition_key", "envelope", "created_at", "sent_at")


class _OutboxInsert(NamedTuple):
    sql: str
    positional: bool  # parameters in the order of _COLUMNS, else by name
    created_at: Callable[[datetime], Any]  # a timestamp as SQLAlchemy would store it


_INSERTS: dict[str, _OutboxInsert] = {}


def _insert_statement(dialect: Dialect) -> _OutboxInsert:
    """The outbox INSERT compiled once per dialect, with the conversion of its timestamp."""
    cached = _INSERTS.get(dialect.name)
    if cached is None:
        compiled = insert(OUTBOX_TABLE).compile(dialect=dialect, column_keys=list(_COLUMNS))
        if compiled.positional and tuple(compiled.positiontup or ()) != _COLUMNS:
            raise RuntimeError(f"unexpected outbox INSERT parameter order {compiled.positiontup}")
        to_database = OUTBOX_TABLE.c.created_at.type.dialect_impl(dialect).bind_processor(dialect)
        cached = _INSERTS[dialect.name] = _OutboxInsert(compiled.string, compiled.positional,
                                                        to_database or (lambda value: value))
    return cached


async def write_outbox(session: Executor, service: str, pending: list[PendingEvent]) -> list[OutboxEntry]:
    """Turn pending events into envelopes and outbox rows inside the caller's transaction.

    The hot path of every command: each envelope is serialised once (the same bytes go to the table and,
    through the relay, to the broker), and the rows go to the driver as one executemany with the
    timestamp converted once, skipping SQLAlchemy's per-row parameter processing."""
    if not pending:
        return []
    source = source_for(service)
    first = await reserve_sequences(session, source, len(pending))
    now = utcnow()
    ids = ordered_ids(len(pending))
    traces = child_traceparents([item.parent_trace for item in pending])
    connection = await connection_of(session)
    sql, positional, to_database = _insert_statement(connection.dialect)
    created_at = to_database(now)
    time_text = now.isoformat().replace("+00:00", "Z")
    entries: list[OutboxEntry] = []
    rows: list[tuple[Any, ...]] = []
    for offset, item in enumerate(pending):
        sequence, event_id, event_type = first + offset, ids[offset], item.data.event_type
        envelope = compose_envelope(event_id=event_id, source=source, event_type=event_type, time=time_text,
                                    subject=item.subject, data_json=item.data.model_dump_json(), sequence=sequence,
                                    partition_key=item.partition_key, actor=item.actor, traceparent=traces[offset])
        rows.append((sequence, event_id, event_type, item.subject, item.partition_key, envelope, created_at, None))
        entries.append(OutboxEntry(sequence, event_id, event_type, item.partition_key.encode(), envelope.encode()))
    parameters: list[Any] = rows if positional else [dict(zip(_COLUMNS, row, strict=True)) for row in rows]
    await execute_driver(connection, sql, parameters, many=True)
    return entries


async def read_feed(session: AsyncSession, after: int, limit: int) -> tuple[list[CloudEvent], int]:
    """Events with sequence > after, oldest first, and the current head sequence."""
    rows = (await session.execute(
        select(OutboxRecord.envelope).where(col(OutboxRecord.sequence) > after)
        .order_by(col(OutboxRecord.sequence)).limit(limit)
    )).scalars().all()
    head = (await session.execute(text("SELECT COALESCE(MAX(sequence), 0) FROM outbox"))).scalar_one()
    return [CloudEvent.model_validate_json(raw) for raw in rows], int(head)
