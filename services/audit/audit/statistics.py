"""Statistics kept from the events audit appends, in the append's transaction (rules: audit.domain.statistics)."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from audit.domain.statistics import REGION_RULES_BY_TYPE, RULES_BY_TYPE, UNKNOWN_REGION, increments, local_day
from audit.models import StatisticRow, SubjectRegion
from shared.envelope import CloudEvent
from shared.inbox import dialect_insert

STATS = StatisticRow.__table__
REGIONS = SubjectRegion.__table__


def concerns_statistics(event_type: str) -> bool:
    return event_type in RULES_BY_TYPE or event_type in REGION_RULES_BY_TYPE


async def region_of(session: AsyncSession, subject_id: str | None) -> str | None:
    if not subject_id:
        return None
    row = await session.get(SubjectRegion, subject_id)
    return None if row is None else row.region


async def record_statistics(session: AsyncSession, event: CloudEvent) -> None:
    """Learn a region the event tells, then add the event's increments per day (Asia/Shanghai) and region."""
    data = event.data
    rule = REGION_RULES_BY_TYPE.get(event.type)
    if rule is not None and isinstance(data.get(rule.key_field), str):
        region = data.get(rule.region_field) if rule.region_field else \
            await region_of(session, data.get(rule.organisation_field or ""))
        if isinstance(region, str) and region:
            insert = dialect_insert(session)(REGIONS).values(subject_id=data[rule.key_field], region=region[:6])
            await session.execute(insert.on_conflict_do_update(index_elements=["subject_id"],
                                                               set_={"region": insert.excluded.region}))
    day = local_day(event.time)
    for inc in increments(event.type, data):
        region = await region_of(session, inc.key) or UNKNOWN_REGION
        insert = dialect_insert(session)(STATS).values(crowd=inc.crowd, metric=inc.metric, day=day, region=region,
                                                       count=1, total=inc.amount)
        await session.execute(insert.on_conflict_do_update(
            index_elements=["crowd", "metric", "day", "region"],
            set_={"count": STATS.c.count + 1, "total": STATS.c.total + inc.amount}))
