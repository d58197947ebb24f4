"""Rebuild credit from the sources' replay feeds into a fresh database, and compare it with a live one.

Every source credit subscribes to serves its outbox as `GET /events?after=<sequence>&limit=N`. The rebuild reads
each feed from the start through the same path as gap filling (`shared.completeness.CompletenessMonitor.backfill`:
pages applied through credit's own subscriptions, inbox and progress), so nothing here re-implements the
consumer. Scores depend on the set of facts and their event times only, so the rebuilt scores, dimensions and
`as_of` must equal the live ones whatever the interleaving of the feeds.

    python -m credit.rebuild --into sqlite+aiosqlite:///var/credit-rebuilt.db [--compare-with <live database url>]

reads `SERVICE_URLS` and `JWT_SECRET` like the service (it presents a service token to the feeds) and prints a
JSON summary; the exit status is 1 when the comparison finds a difference.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from credit.consumers import credit_subscriptions
from credit.models import CreditRecord
from credit.settings import CreditSettings
from shared.clock import Clock, SystemClock
from shared.completeness import CompletenessMonitor
from shared.consumer import EventApplier
from shared.db import Database
from shared.envelope import CloudEvent
from shared.migrations import upgrade_to_head
from shared.service_app import service_token

MIGRATIONS = str(Path(__file__).parent / "migrations")


@dataclass
class FeedRebuild:
    applied: dict[str, int]  # per source: events applied from its feed
    skipped: list[str] = field(default_factory=list)  # ids of events every attempt failed on (dead-lettered live)

    @property
    def total(self) -> int:
        return sum(self.applied.values())


async def rebuild_from_feeds(database: Database, feed_urls: Mapping[str, str], token: Callable[[], str],
                             clock: Clock | None = None) -> FeedRebuild:
    """Migrate `database` (it must hold no credit record yet) and apply every source's whole feed to it."""
    await upgrade_to_head(database, MIGRATIONS)
    async with database.reading() as session:
        if (await session.execute(select(func.count()).select_from(CreditRecord))).scalar_one():
            raise ValueError("the rebuild needs a fresh database: this one already holds credit records")
    subscriptions = credit_subscriptions(clock or SystemClock())
    applier = EventApplier(database, "credit", "credit", subscriptions)
    result = FeedRebuild(applied={})

    async def skip(event: CloudEvent, _exc: BaseException, _attempts: int) -> None:
        result.skipped.append(event.id)

    async with httpx.AsyncClient(timeout=httpx.Timeout(30.0, connect=2.0)) as client:
        monitor = CompletenessMonitor(applier, feed_urls=dict(feed_urls), token=token, grace_seconds=0,
                                      reconcile_seconds=0, max_attempts=1, dead_letter=skip, client=client)
        for source in subscriptions.sources:
            result.applied[source] = await monitor.backfill(source)
    return result


async def standings(session: AsyncSession) -> dict[str, dict[str, Any]]:
    """Every record's standing by subject: score, dimensions and `as_of`, and the identity the lists show."""
    rows = (await session.execute(select(CreditRecord))).scalars().all()
    return {r.subject_id: {"score": r.score, "dimensions": json.loads(r.dimensions),
                           "as_of": r.as_of.isoformat() if r.as_of else None, "opened_at": r.opened_at.isoformat(),
                           "kind": r.subject_kind, "owner_id": r.owner_id, "name": r.name,
                           "registration_number_masked": r.registration_number_masked} for r in rows}


async def compare(live: AsyncSession, rebuilt: AsyncSession) -> list[dict[str, Any]]:
    """The subjects whose standing differs (or that exist on one side only)."""
    left, right = await standings(live), await standings(rebuilt)
    return [{"subject_id": subject, "live": left.get(subject), "rebuilt": right.get(subject)}
            for subject in sorted(left.keys() | right.keys()) if left.get(subject) != right.get(subject)]


async def _main(into: str, compare_with: str | None) -> int:
    settings = CreditSettings()
    target = Database(into)
    try:
        result = await rebuild_from_feeds(target, settings.service_urls, lambda: service_token(settings))
        summary: dict[str, Any] = {"applied": result.applied, "total": result.total, "skipped": result.skipped}
        if compare_with:
            live = Database(compare_with)
            try:
                async with live.reading() as left, target.reading() as right:
                    mismatches = await compare(left, right)
            finally:
                await live.dispose()
            summary.update(equal=not mismatches, mismatches=mismatches[:100])
    finally:
        await target.dispose()
    print(json.dumps(summary, ensure_ascii=False, indent=2))
    return 0 if summary.get("equal", True) else 1


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m credit.rebuild", description=__doc__.split("\n\n")[0])
    parser.add_argument("--into", required=True, help="database URL of the fresh credit database to build")
    parser.add_argument("--compare-with", help="database URL of a live credit database to compare with")
    args = parser.parse_args(argv)
    return asyncio.run(_main(args.into, args.compare_with))


if __name__ == "__main__":
    sys.exit(main())
