"""Statistics monitoring (统计监测) for regulators, and audit's part of GET /completeness (unfilled gaps)."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any

from fastapi import APIRouter, Query
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col, select

from audit.domain.statistics import CROWDS, METRICS, SUCCESS_RATES, success_rate
from audit.models import SequenceGap, StatisticRow
from shared.auth import require_roles
from shared.problems import DomainError
from shared.service_app import ReadSessionDep

router = APIRouter(tags=["statistics"], dependencies=[require_roles("regulator", "admin")])
MAX_DAYS = 366


def _check(crowd: str | None, metric: str | None, start: date, end: date) -> None:
    if crowd is not None and crowd not in CROWDS:
        raise DomainError(422, f"crowd must be one of {', '.join(CROWDS)}", field="crowd")
    if metric is not None:
        known = METRICS[crowd] if crowd is not None else frozenset().union(*METRICS.values())
        if metric not in known:
            raise DomainError(422, f"unknown metric {metric!r}; known: {', '.join(sorted(known))}", field="metric")
    if end < start:
        raise DomainError(422, "to must not be before from", field="to")
    if (end - start).days >= MAX_DAYS:
        raise DomainError(422, f"a range spans at most {MAX_DAYS} days", field="to")


@router.get("/statistics")
async def statistics(
    session: ReadSessionDep,
    start: Annotated[date, Query(alias="from", description="first day (Asia/Shanghai), YYYY-MM-DD")],
    end: Annotated[date, Query(alias="to", description="last day, inclusive")],
    crowd: Annotated[str | None, Query(max_length=20)] = None,
    metric: Annotated[str | None, Query(max_length=60)] = None,
    region: Annotated[str | None, Query(pattern=r"^\d{2}(\d{2}(\d{2})?)?$",
                                        description="2, 4 or 6 digits: province, city or county")] = None,
) -> dict[str, Any]:
    """Per day and region: count and total (fen for money metrics) of each metric; `success_rate` per crowd is
    successes / (successes + failures) over the range. A 2- or 4-digit region matches every county under it."""
    _check(crowd, metric, start, end)
    query = select(StatisticRow).where(col(StatisticRow.day) >= start, col(StatisticRow.day) <= end)
    if crowd is not None:
        query = query.where(StatisticRow.crowd == crowd)
    if region is not None:
        query = query.where(col(StatisticRow.region).startswith(region, autoescape=True))
    rows = (await session.execute(query.order_by(col(StatisticRow.day), col(StatisticRow.crowd),
                                                 col(StatisticRow.metric), col(StatisticRow.region)))).scalars().all()
    totals: dict[tuple[str, str], list[int]] = {}
    for row in rows:
        acc = totals.setdefault((row.crowd, row.metric), [0, 0])
        acc[0] += row.count
        acc[1] += row.total
    rates = {}
    for name, (success, failures) in SUCCESS_RATES.items():
        if crowd in (None, name):
            won = totals.get((name, success), [0, 0])[0]
            lost = sum(totals.get((name, f), [0, 0])[0] for f in failures)
            rates[name] = {"successes": won, "failures": lost, "rate": success_rate(won, lost)}
    wanted = [r for r in rows if metric in (None, "success_rate") or r.metric == metric]
    return {
        "from": start.isoformat(), "to": end.isoformat(), "timezone": "Asia/Shanghai", "region": region,
        "rows": [] if metric == "success_rate" else
        [{"crowd": r.crowd, "metric": r.metric, "day": r.day.isoformat(), "region": r.region, "count": r.count,
          "total": r.total} for r in wanted],
        "totals": [{"crowd": c, "metric": m, "count": v[0], "total": v[1]} for (c, m), v in sorted(totals.items())
                   if metric in (None, m)],
        "success_rates": rates if metric in (None, "success_rate") else {},
    }



async def completeness_report(session: AsyncSession) -> dict[str, Any]:
    """Gaps backfill could not fill (reported, still open), with source, missing range and since-when."""
    rows = (await session.execute(select(SequenceGap).where(col(SequenceGap.filled_at).is_(None),
                                                            col(SequenceGap.reported_at).is_not(None))
                                  .order_by(col(SequenceGap.detected_at).desc()).limit(1000))).scalars().all()
    return {"unfilled_gaps": [
        {"source": r.source, "first_missing": r.first_missing, "last_missing": r.last_missing,
         "missing": r.last_missing - r.first_missing + 1, "since": r.detected_at.isoformat(),
         "reported_at": r.reported_at.isoformat() if r.reported_at else None} for r in rows]}
