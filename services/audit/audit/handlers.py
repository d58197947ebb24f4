"""Audit's catch-all handler: every event of every service is appended to the log."""

from __future__ import annotations

import json

from audit.domain.merkle import leaf_hash
from audit.models import LogEntry
from shared.envelope import CloudEvent
from shared.ids import utcnow
from shared.outbox import reserve_sequences
from shared.uow import UnitOfWork

LOG_COUNTER = "audit.log"


def canonical_entry(event: CloudEvent) -> str:
    """Sorted keys, no whitespace: the same event always hashes to the same leaf."""
    return json.dumps(event.model_dump(mode="json"), sort_keys=True, separators=(",", ":"), ensure_ascii=False)


async def append_to_log(uow: UnitOfWork, event: CloudEvent) -> None:
    entry = canonical_entry(event)
    index = await reserve_sequences(uow.session, LOG_COUNTER, 1) - 1
    uow.session.add(LogEntry(index=index, event_id=event.id, source=event.source, sequence=event.sequence,
                             type=event.type, subject=event.subject, event_time=event.time, entry=entry,
                             leaf_hash=leaf_hash(entry.encode()).hex(), appended_at=utcnow()))
