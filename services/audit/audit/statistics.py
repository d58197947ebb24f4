"""Statistics kept from the events audit appends, in the append's transaction (rules: audit.domain.statistics).

Like the append itself, built for a whole fetch per transaction: each event only queues what it tells (a region
fact, increments); just before commit the regions are looked up in one query, learned regions are upserted, and
the increments, summed per (crowd, metric, day, region), are upserted with one executemany each.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from sqlalchemy import event as sa_event
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session

from audit.domain.statistics import REGION_RULES_BY_TYPE, RULES_BY_TYPE, UNKNOWN_REGION, increments, local_day
from audit.models import StatisticRow, SubjectRegion
from shared.envelope import CloudEvent
from shared.inbox import dialect_insert

STATS = StatisticRow.__table__
REGIONS = SubjectRegion.__table__
_PENDING = "audit.pending_statistics"
LOOKUP_CHUNK = 500


@dataclass
class _Pending:
    facts: list[tuple[str, str | None, str | None]] = field(default_factory=list)  # key, region, via organisation
    increments: list[tuple[str, str, date, str | None, int]] = field(default_factory=list)


def concerns_statistics(event_type: str) -> bool:
    return event_type in RULES_BY_TYPE or event_type in REGION_RULES_BY_TYPE


async def record_statistics(session: AsyncSession, event: CloudEvent) -> None:
    """Queue what the event tells: a thing's region, and its increments for its day (Asia/Shanghai)."""
    pending: _Pending | None = session.info.get(_PENDING)
    if pending is None:
        pending = session.info[_PENDING] = _Pending()
        sync_session = session.sync_session
        if not sa_event.contains(sync_session, "before_commit", _write_pending):
            sa_event.listen(sync_session, "before_commit", _write_pending)
            sa_event.listen(sync_session, "after_rollback", _forget_pending)
    data = event.data
    rule = REGION_RULES_BY_TYPE.get(event.type)
    if rule is not None and isinstance(data.get(rule.key_field), str):
        region = data.get(rule.region_field) if rule.region_field else None
        organisation = data.get(rule.organisation_field) if rule.organisation_field else None
        pending.facts.append((data[rule.key_field], region[:6] if isinstance(region, str) and region else None,
                              organisation if isinstance(organisation, str) else None))
    day = local_day(event.time)
    pending.increments.extend((inc.crowd, inc.metric, day, inc.key, inc.amount)
                              for inc in increments(event.type, data))


def _known_regions(session: Session, ids: set[str]) -> dict[str, str]:
    known: dict[str, str] = {}
    ordered = sorted(ids)
    for at in range(0, len(ordered), LOOKUP_CHUNK):
        rows = session.execute(select(REGIONS.c.subject_id, REGIONS.c.region)
                               .where(REGIONS.c.subject_id.in_(ordered[at:at + LOOKUP_CHUNK])))
        known.update({subject: region for subject, region in rows})
    return known


def _write_pending(session: Session) -> None:
    pending: _Pending | None = session.info.pop(_PENDING, None)
    if pending is None:
        return
    needed = {org for _, _, org in pending.facts if org} | {key for *_, key, _ in pending.increments if key}
    known = _known_regions(session, needed) if needed else {}
    learned: dict[str, str] = {}
    for key, region, organisation in pending.facts:
        found = region or (known.get(organisation) if organisation else None)
        if found:
            known[key] = learned[key] = found
    insert: Any = dialect_insert(session)
    if learned:
        statement = insert(REGIONS)
        session.execute(statement.on_conflict_do_update(index_elements=["subject_id"],
                                                        set_={"region": statement.excluded.region}),
                        [{"subject_id": k, "region": v} for k, v in learned.items()])
    sums: defaultdict[tuple[str, str, date, str], list[int]] = defaultdict(lambda: [0, 0])
    for crowd, metric, day, subject, amount in pending.increments:
        acc = sums[(crowd, metric, day, known.get(subject or "", UNKNOWN_REGION))]
        acc[0] += 1
        acc[1] += amount
    if sums:
        statement = insert(STATS)
        session.execute(statement.on_conflict_do_update(
            index_elements=["crowd", "metric", "day", "region"],
            set_={"count": STATS.c.count + statement.excluded.count,
                  "total": STATS.c.total + statement.excluded.total}),
            [{"crowd": c, "metric": m, "day": d, "region": r, "count": n, "total": t}
             for (c, m, d, r), (n, t) in sums.items()])


def _forget_pending(session: Session) -> None:
    session.info.pop(_PENDING, None)
