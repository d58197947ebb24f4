"""Audit's catch-all handler: every event of every service is appended to the log, in arrival order.

The append path is built for batches: the consumer applies a whole fetch in one transaction, and each event
only canonicalises, hashes and queues its row. The first append of a transaction takes the log counter's row
(a lock held until commit, so transactions commit in index order and a reader never sees index i + 1 without
index i); the indexes are then counted in memory, and just before commit the queued rows are inserted with one
executemany and the counter is moved once. An append knows its index at once (the return value), but its row
is written at commit: a query in the same transaction does not see it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import event as sa_event
from sqlalchemy import insert, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session

from audit.domain.merkle import leaf_hash
from audit.models import LogEntry
from audit.statistics import concerns_statistics, record_statistics
from audit.supervision import record_confirmation
from shared.envelope import CloudEvent
from shared.ids import utcnow
from shared.outbox import OutboxSequence, reserve_sequences
from shared.uow import UnitOfWork

LOG_COUNTER = "audit.log"
_PENDING = "audit.pending_log_entries"
_LOG_TABLE = LogEntry.__table__
CONFIRMATION_SUFFIX = ".supervision_order.confirmed.v1"


def canonical_entry(event: CloudEvent) -> str:
    """Sorted keys, no whitespace: the same event always hashes to the same leaf."""
    return json.dumps(event.model_dump(mode="json"), sort_keys=True, separators=(",", ":"), ensure_ascii=False)


@dataclass
class _Pending:
    next_index: int
    rows: list[dict[str, Any]] = field(default_factory=list)


async def append_to_log(uow: UnitOfWork, event: CloudEvent) -> None:
    """The catch-all: append, then what else the event means to audit, in the same transaction (statistics,
    a supervision order's confirmation). The regulator stream is published from the log (audit.stream)."""
    await append_event(uow.session, event, utcnow())
    if concerns_statistics(event.type):
        await record_statistics(uow.session, event)
    if event.type.endswith(CONFIRMATION_SUFFIX):
        await record_confirmation(uow, event)


async def append_event(session: AsyncSession, event: CloudEvent, now: datetime) -> int:
    """Queue the event as the next log entry of this transaction; returns its index."""
    pending: _Pending | None = session.info.get(_PENDING)
    if pending is None:
        # count 0: takes (and creates) the counter row without moving it; returns entries so far + 1
        pending = _Pending(await reserve_sequences(session, LOG_COUNTER, 0) - 1)
        session.info[_PENDING] = pending
        sync_session = session.sync_session
        if not sa_event.contains(sync_session, "before_commit", _write_pending):
            sa_event.listen(sync_session, "before_commit", _write_pending)
            sa_event.listen(sync_session, "after_rollback", _forget_pending)
    entry = canonical_entry(event)
    index = pending.next_index
    pending.next_index += 1
    pending.rows.append({
        "index": index, "event_id": event.id, "source": event.source, "sequence": event.sequence,
        "type": event.type, "subject": event.subject, "event_time": event.time, "entry": entry,
        "leaf_hash": leaf_hash(entry.encode()).hex(), "appended_at": now,
    })
    return index


def _write_pending(session: Session) -> None:
    pending: _Pending | None = session.info.pop(_PENDING, None)
    if pending is None or not pending.rows:
        return
    session.execute(insert(_LOG_TABLE), pending.rows)
    session.execute(update(OutboxSequence).where(OutboxSequence.source == LOG_COUNTER)  # type: ignore[arg-type]
                    .values(last_sequence=pending.next_index))


def _forget_pending(session: Session) -> None:
    session.info.pop(_PENDING, None)
