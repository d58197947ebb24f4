"""The audit log: append-only entries, each with its RFC 6962 leaf hash, and the signed checkpoints."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import BigInteger
from sqlmodel import Field, SQLModel

from shared.db import utc_column


class LogEntry(SQLModel, table=True):
    __tablename__ = "log_entries"

    index: int = Field(primary_key=True, description="0-based position in the log, in arrival order")
    event_id: str = Field(unique=True, max_length=64)
    source: str = Field(max_length=100, index=True)
    sequence: int
    type: str = Field(max_length=200, index=True)
    subject: str = Field(max_length=200, index=True)
    event_time: datetime = Field(sa_column=utc_column())
    entry: str = Field(description="the canonical JSON bytes that were hashed")
    leaf_hash: str = Field(max_length=64)
    appended_at: datetime = Field(sa_column=utc_column())


class Checkpoint(SQLModel, table=True):
    """A signed (tree size, root hash, time); the signed bytes are audit.domain.checkpoint.checkpoint_body."""

    __tablename__ = "checkpoints"

    number: int = Field(primary_key=True, description="0-based, in signing order")
    tree_size: int = Field(index=True)
    root_hash: str = Field(max_length=64, description="hex")
    timestamp: str = Field(max_length=40, description="the signed time text, RFC 3339 UTC")
    signed_at: datetime = Field(sa_column=utc_column())
    signature: str = Field(max_length=100, description="Ed25519 signature, base64")
    key_id: str = Field(max_length=8)


class SupervisionOrder(SQLModel, table=True):
    """A regulator's order (监管指令) as issued; `number` is gapless so later orders win in the replicas."""

    __tablename__ = "audit_supervision_orders"

    id: str = Field(primary_key=True, max_length=64)
    number: int = Field(unique=True)
    action: str = Field(max_length=10)
    target_type: str = Field(max_length=20, index=True)
    target_id: str = Field(max_length=64, index=True)
    reason: str = Field(max_length=2000)
    issued_by: str = Field(max_length=200)
    issued_at: datetime = Field(sa_column=utc_column())
    expected: str = Field(max_length=200, description="comma-separated services expected to confirm")
    confirmed_at: datetime | None = Field(default=None, sa_column=utc_column(nullable=True))
    overdue_at: datetime | None = Field(default=None, sa_column=utc_column(nullable=True))


class OrderConfirmation(SQLModel, table=True):
    __tablename__ = "audit_order_confirmations"

    order_id: str = Field(primary_key=True, max_length=64)
    service: str = Field(primary_key=True, max_length=40)
    applied: bool
    detail: str = Field(max_length=2000)
    event_id: str = Field(max_length=64)
    confirmed_at: datetime = Field(sa_column=utc_column())


class SequenceGap(SQLModel, table=True):
    """A run of a source's sequence missing from the log; open until filled."""

    __tablename__ = "audit_sequence_gaps"

    source: str = Field(primary_key=True, max_length=100)
    first_missing: int = Field(primary_key=True)
    last_missing: int
    detected_at: datetime = Field(sa_column=utc_column())
    reported_at: datetime | None = Field(default=None, sa_column=utc_column(nullable=True))
    filled_at: datetime | None = Field(default=None, sa_column=utc_column(nullable=True))


class StatisticRow(SQLModel, table=True):
    """One metric of one crowd on one day (Asia/Shanghai) in one region: a count and a sum (fen or units)."""

    __tablename__ = "audit_statistics"

    crowd: str = Field(primary_key=True, max_length=20)
    metric: str = Field(primary_key=True, max_length=60)
    day: date = Field(primary_key=True)
    region: str = Field(primary_key=True, max_length=6)
    count: int = 0
    total: int = Field(default=0, sa_type=BigInteger)


class SubjectRegion(SQLModel, table=True):
    """Region of organisations and of the things they own, from the events audit sees (for statistics)."""

    __tablename__ = "audit_subject_regions"

    subject_id: str = Field(primary_key=True, max_length=64)
    region: str = Field(max_length=6)


class StreamWatermark(SQLModel, table=True):
    """How far the regulator stream has published the log (highest index the broker acknowledged)."""

    __tablename__ = "audit_stream_watermark"

    name: str = Field(primary_key=True, max_length=40)
    published_through: int
