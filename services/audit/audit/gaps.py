"""Unfilled gaps: runs of a source's `sequence` still missing from the log after backfill had its chance.

The consumer's completeness monitor (shared.completeness) backfills gaps from each source's feed. This job looks
at what is still missing: each missing run is recorded with since-when; one open longer than the report delay
(longer than the backfill grace and reconcile interval, so backfill was tried) is reported once with
`cn.sizhong.audit.gap.unfilled.v1`; a reported run that later fills gets `cn.sizhong.audit.gap.filled.v1`.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlmodel import col, select

from audit.contracts import GapFilled, GapUnfilled
from audit.models import SequenceGap
from shared.inbox import INBOX, SourceProgress
from shared.uow import UnitOfWork

SCAN_LIMIT = 10_000


def missing_runs(contiguous: int, highest: int, present: list[int]) -> list[tuple[int, int]]:
    """Runs (first, last) of sequences in (contiguous, highest] not in `present` (sorted)."""
    runs: list[tuple[int, int]] = []
    expected = contiguous + 1
    for sequence in [*present, highest + 1]:
        if sequence > expected:
            runs.append((expected, min(sequence - 1, highest)))
        expected = max(expected, sequence + 1)
        if expected > highest:
            break
    return runs


async def current_gaps(uow: UnitOfWork, consumer: str) -> dict[str, list[tuple[int, int]]]:
    rows = (await uow.session.execute(select(SourceProgress).where(
        SourceProgress.consumer == consumer,
        col(SourceProgress.highest_seen) > col(SourceProgress.contiguous_through)))).scalars().all()
    gaps: dict[str, list[tuple[int, int]]] = {}
    for row in rows:
        present = list((await uow.session.execute(
            select(INBOX.c.sequence).where(INBOX.c.consumer == consumer, INBOX.c.source == row.source,
                                           INBOX.c.sequence > row.contiguous_through)
            .order_by(INBOX.c.sequence).limit(SCAN_LIMIT))).scalars())
        gaps[row.source] = missing_runs(row.contiguous_through, row.highest_seen, present)
    return gaps


async def scan_gaps(uow: UnitOfWork, consumer: str, now: datetime, report_after: timedelta) -> int:
    """Record new missing runs, close filled ones, report those open too long; returns events published."""
    gaps = await current_gaps(uow, consumer)
    open_rows = (await uow.session.execute(
        select(SequenceGap).where(col(SequenceGap.filled_at).is_(None)))).scalars().all()
    known = {(row.source, row.first_missing): row for row in open_rows}
    published = 0
    for source, runs in gaps.items():
        for first, last in runs:
            row = known.pop((source, first), None)
            if row is None:
                row = await uow.session.get(SequenceGap, (source, first))
                if row is not None:  # a run that filled and opened again: start over
                    row.filled_at, row.reported_at, row.detected_at = None, None, now
                else:
                    row = SequenceGap(source=source, first_missing=first, last_missing=last, detected_at=now)
                    uow.session.add(row)
            row.last_missing = last
            if row.reported_at is None and row.detected_at <= now - report_after:
                row.reported_at = now
                uow.publish(GapUnfilled(source=source, first_missing=first, last_missing=last,
                                        detected_at=row.detected_at),
                            subject=source, actor="service:audit", partition_key=source)
                published += 1
    for row in known.values():  # no longer missing
        row.filled_at = now
        if row.reported_at is not None:
            uow.publish(GapFilled(source=row.source, first_missing=row.first_missing, last_missing=row.last_missing,
                                  detected_at=row.detected_at, filled_at=now),
                        subject=row.source, actor="service:audit", partition_key=row.source)
            published += 1
    await uow.commit()
    return published
