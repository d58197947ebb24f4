"""The fold's persistence: facts stored in arrival order, each subject's score and dimensions kept up to date,
and one change row per (subject, event) naming its causes. A rebuild refolds the stored facts and compares.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import insert, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from credit.domain.facts import Fact
from credit.domain.policy import DIMENSIONS, CreditPolicy
from credit.domain.scoring import SubjectState, apply, fold, opening
from credit.models import CreditFact, CreditRecord, CreditRecordChange

FACTS = CreditFact.__table__
CHANGES = CreditRecordChange.__table__
FACT_COLUMNS = (FACTS.c.subject_id, FACTS.c.kind, FACTS.c.ref, FACTS.c.event_id, FACTS.c.at)  # Fact's fields


def dims_json(dims: Iterable[tuple[str, int]]) -> str:
    return json.dumps(dict(dims), sort_keys=True)


def stored_state(record: CreditRecord, facts: tuple[Fact, ...]) -> SubjectState:
    """A record's state as stored, with the facts inside its horizon (the fold recomputes its cache from them)."""
    stored = json.loads(record.dimensions)
    return SubjectState(record.subject_id, facts, record.as_of, record.score,
                        tuple((d, int(stored.get(d, 0))) for d in DIMENSIONS))


@dataclass
class ScoreStore:
    """Applies facts inside the caller's transaction; caches the subjects it touched for a batch."""

    session: AsyncSession
    policy: CreditPolicy

    def __post_init__(self) -> None:
        self._states: dict[str, SubjectState] = {}
        self._records: dict[str, CreditRecord] = {}
        self._facts: list[dict[str, object]] = []
        self._new: list[CreditRecord] = []
        self._absent: set[str] = set()  # known to have no record yet (preloaded)
        self._changes: list[dict[str, object]] = []
        self._dirty: set[str] = set()  # subjects whose state changed since the last flush
        self.found: dict[str, list[Fact]] = {}  # event id -> its facts, worked out when the batch was preloaded

    async def preload(self, subject_ids: Iterable[str]) -> None:
        """Load many subjects' records and in-horizon facts in two queries (a batch's first touch)."""
        wanted = [s for s in dict.fromkeys(subject_ids) if s not in self._records]
        if not wanted:
            return
        records = (await self.session.execute(
            select(CreditRecord).where(col(CreditRecord.subject_id).in_(wanted)))).scalars().all()
        self._records.update({r.subject_id: r for r in records})
        facts: dict[str, list[Fact]] = {r.subject_id: [] for r in records}
        rows = (await self.session.execute(
            select(*FACT_COLUMNS).where(FACTS.c.subject_id.in_(list(facts))).order_by(FACTS.c.position))).all()
        for row in rows:
            facts[row[0]].append(Fact(*row))
        for record in records:
            kept = tuple(f for f in facts[record.subject_id] if record.as_of is None
                         or (record.as_of - f.at).days < self.policy.horizon_days)
            self._states[record.subject_id] = stored_state(record, kept)
        self._absent.update(s for s in wanted if s not in self._records)

    async def record_of(self, subject_id: str, at: datetime) -> CreditRecord:
        record = self._records.get(subject_id)
        if record is None and subject_id not in self._absent:
            record = await self.session.get(CreditRecord, subject_id)
        if record is None:  # a person (solver, backer, member) gets a record with their first fact
            record = CreditRecord(subject_id=subject_id, subject_kind="person", owner_id=subject_id,
                                  score=self.policy.opening_score, policy_version=self.policy.version,
                                  opened_at=at, dimensions=dims_json(opening(subject_id, self.policy).dimensions))
            self._new.append(record)  # added at `flush`, so no query in between flushes it one by one
        self._records[subject_id] = record
        return record

    async def state_of(self, record: CreditRecord) -> SubjectState:
        cached = self._states.get(record.subject_id)
        if cached is not None:
            return cached
        if record.as_of is None:  # no fact yet (a new record, or an organisation only registered)
            return opening(record.subject_id, self.policy)
        query = select(*FACT_COLUMNS).where(
            FACTS.c.subject_id == record.subject_id,
            FACTS.c.at > record.as_of - timedelta(days=self.policy.horizon_days)).order_by(FACTS.c.position)
        return stored_state(record, tuple(Fact(*row) for row in (await self.session.execute(query)).all()))

    async def apply_event(self, facts: Sequence[Fact], event_type: str) -> list[SubjectState]:
        """Fold one event's facts in; returns the touched subjects' new states. Rows are written by `flush`."""
        if not facts:
            return []
        touched: list[SubjectState] = []
        for subject_id in dict.fromkeys(f.subject_id for f in facts):
            record = await self.record_of(subject_id, facts[0].at)
            if facts[0].at < record.opened_at:  # opened by a later fact that arrived first: the earliest counts
                record.opened_at = facts[0].at
            state = before = await self.state_of(record)
            causes: list[str] = []
            for fact in (f for f in facts if f.subject_id == subject_id):
                state, change = apply(state, fact, self.policy)
                if change is not None:
                    causes.extend(c for c in change.cause_event_ids if c not in causes)
            self._states[subject_id] = state
            self._dirty.add(subject_id)
            if causes:
                self._changes.append({
                    "subject_id": subject_id, "event_id": facts[0].event_id, "event_type": event_type,
                    "score_before": before.score, "score_after": state.score, "policy_version": self.policy.version,
                    "changed_at": state.as_of, "cause_event_ids": json.dumps(causes),
                    "dimensions": dims_json(state.dimensions)})
            touched.append(state)
        self._facts.extend({"subject_id": f.subject_id, "kind": f.kind, "ref": f.ref, "event_id": f.event_id,
                            "event_type": event_type, "at": f.at} for f in facts)
        return touched

    async def flush(self) -> None:
        """Write what changed since the last flush: facts in arrival order, the touched records, the change rows.
        The loaded states stay cached, so a store can serve several flushes in one transaction."""
        for subject_id in self._dirty:
            state, record = self._states[subject_id], self._records[subject_id]
            record.score, record.as_of = state.score, state.as_of
            record.dimensions, record.policy_version = dims_json(state.dimensions), self.policy.version
        self._dirty = set()
        self.session.add_all(self._new)
        self._new = []
        await self.session.flush()
        if self._facts:
            await self.session.execute(insert(FACTS), self._facts)
        if self._changes:
            await self.session.execute(insert(CHANGES), self._changes)
        self._facts, self._changes = [], []


async def stored_facts(session: AsyncSession, after: int = 0, limit: int | None = None) -> list[Fact]:
    query = select(*FACT_COLUMNS).where(FACTS.c.position > after).order_by(FACTS.c.position)
    if limit is not None:
        query = query.limit(limit)
    return [Fact(*row) for row in (await session.execute(query)).all()]


@dataclass(frozen=True)
class RebuildReport:
    facts: int
    subjects: int
    mismatches: list[dict[str, object]]


async def rebuild_and_compare(session: AsyncSession, policy: CreditPolicy) -> RebuildReport:
    """Refold every stored fact with the pure fold and compare with the live scores and dimensions."""
    facts = await stored_facts(session)
    rebuilt = fold(facts, policy)
    live = {row.subject_id: row for row in (await session.execute(
        select(CreditRecord).where(col(CreditRecord.subject_id).in_(list(rebuilt))))).scalars()}
    mismatches: list[dict[str, object]] = []
    for subject_id, state in sorted(rebuilt.items()):
        row = live.get(subject_id)
        if row is None or row.score != state.score or json.loads(row.dimensions) != dict(state.dimensions):
            mismatches.append({"subject_id": subject_id, "live": None if row is None else row.score,
                               "rebuilt": state.score})
    return RebuildReport(len(facts), len(rebuilt), mismatches)
