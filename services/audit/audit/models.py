"""The audit log: append-only entries, each with its RFC 6962 leaf hash, and the signed checkpoints."""

from __future__ import annotations

from datetime import datetime

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
