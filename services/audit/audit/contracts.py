"""The events audit publishes: the regulator stream (`sizhong.audit.events`), gaps, supervision orders.

`SupervisionOrderIssued` lives in shared.supervision (every crowd service consumes it) and goes to the topic
`sizhong.supervision.orders`; everything else goes to audit's own topic, `sizhong.audit.events`.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from shared.envelope import EventData
from shared.supervision import SupervisionOrderIssued

PREFIX = "cn.sizhong.audit"
__all__ = ["EntryAppended", "GapFilled", "GapUnfilled", "SupervisionOrderIssued", "SupervisionOrderOverdue"]


class EntryAppended(EventData):
    """One per log entry: its index, leaf hash and the original event with personal numbers masked."""

    event_type = f"{PREFIX}.entry.appended.v1"
    index: int
    leaf_hash: str
    event: dict[str, Any]


class _Gap(EventData):
    source: str
    first_missing: int
    last_missing: int
    detected_at: datetime


class GapUnfilled(_Gap):
    """A run of a source's sequence still missing after backfill attempts (published once per gap)."""

    event_type = f"{PREFIX}.gap.unfilled.v1"


class GapFilled(_Gap):
    """A reported gap that later filled (the source's feed or the broker delivered it)."""

    event_type = f"{PREFIX}.gap.filled.v1"
    filled_at: datetime


class SupervisionOrderOverdue(EventData):
    """An order not confirmed by every obeying service within the confirmation window."""

    event_type = f"{PREFIX}.supervision_order.overdue.v1"
    order_id: str
    target_type: str
    target_id: str
    missing: list[str]
    issued_at: datetime
