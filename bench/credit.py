"""The credit row of `make bench`: score rebuild speed in events per second. `python -m bench.credit` runs it alone.

A generated, seeded history (credit.synthetic: the crowds' own event contracts, three years, SUBJECTS subjects)
first goes through the credit service's live handler path (credit.handlers.score_events: facts stored, scores
kept, change rows, listing proposals) on a SQLite (WAL) database migrated with credit's migrations, in batches of
one consumer fetch (not timed). Then the rebuild is timed: `credit.scores.rebuild_and_compare` reads every stored
fact, refolds it with the pure fold and compares each subject with its live score. It must find no mismatch.
Target: at least 20,000 events/s. Compared in the same run against the pure fold alone over the same facts held
in memory (no database), which is the ceiling the rebuild can reach.
"""

from __future__ import annotations

import asyncio
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import credit
from credit.domain.facts import facts_of
from credit.domain.policy import DEFAULT_POLICY
from credit.domain.scoring import fold
from credit.handlers import score_events
from credit.scores import rebuild_and_compare
from credit.synthetic import history

from shared.db import Database
from shared.ids import utcnow
from shared.migrations import upgrade_to_head
from shared.uow import UnitOfWork

TARGET = 20_000.0  # events/s
SUBJECTS = 5_000
FETCH = 500


@dataclass(frozen=True)
class RebuildBench:
    events: int
    facts: int
    seconds: float
    fold_seconds: float
    loaded_seconds: float
    equal: bool

    @property
    def per_s(self) -> float:
        return self.events / self.seconds if self.seconds else 0.0

    @property
    def fold_per_s(self) -> float:
        return self.events / self.fold_seconds if self.fold_seconds else 0.0

    @property
    def passed(self) -> bool:
        return self.equal and self.per_s >= TARGET


async def measure(workdir: Path, total: int) -> RebuildBench:
    events = history(total, subjects=SUBJECTS, seed=2026)
    db = Database(f"sqlite+aiosqlite:///{workdir}/credit-bench.db")
    try:
        await upgrade_to_head(db, str(Path(credit.__file__).parent / "migrations"))
        started = time.perf_counter()
        for start in range(0, len(events), FETCH):
            async with UnitOfWork(db, "credit") as uow:
                await score_events(uow, events[start:start + FETCH], utcnow())
                await uow.commit()
        loaded = time.perf_counter() - started
        facts = [f for e in events for f in facts_of(e.type, e.id, e.time, e.data)]
        started = time.perf_counter()
        fold(facts, DEFAULT_POLICY)
        fold_seconds = time.perf_counter() - started
        started = time.perf_counter()
        async with db.reading() as session:
            report = await rebuild_and_compare(session, DEFAULT_POLICY)
        seconds = time.perf_counter() - started
    finally:
        await db.dispose()
    return RebuildBench(total, report.facts, seconds, fold_seconds, loaded, not report.mismatches)


def main() -> int:
    with tempfile.TemporaryDirectory() as workdir:
        result = asyncio.run(measure(Path(workdir), 100_000))
    print(f"credit rebuild: {result.events:,} events ({result.facts:,} facts) in {result.seconds:.2f}s = "
          f"{result.per_s:,.0f} events/s (target >= {TARGET:,.0f}); pure fold alone {result.fold_per_s:,.0f} "
          f"events/s; equal to live: {result.equal}; live path took {result.loaded_seconds:.1f}s (not timed)")
    return 0 if result.passed else 1


if __name__ == "__main__":
    raise SystemExit(main())
