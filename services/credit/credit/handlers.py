"""Credit's event handlers: each runs inside the consumer's transaction with its inbox row.

Records open at the gateway's registrations (organisations and people) and take the identity facts that the
public lists show (name, masked number). Crowd events are folded into scores; a notice is dated by the service's
clock (the system clock, or the adjustable one on a test platform), never the wall clock directly.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from weakref import WeakKeyDictionary

from gateway.contracts import OrganisationRegistered, PersonRegistered, PersonVerified

from credit.contracts import CreditRecordOpened
from credit.domain.facts import facts_of
from credit.domain.policy import DEFAULT_POLICY, DIMENSIONS, CreditPolicy
from credit.lists import Proposals, propose
from credit.models import CreditRecord, CreditRecordChange
from credit.scores import ScoreStore, dims_json
from shared.clock import Clock
from shared.envelope import CloudEvent
from shared.uow import UnitOfWork

ACTOR = "service:credit"


@dataclass
class Batch:
    """One consumer fetch, applied in one transaction: the subjects one event loaded stay loaded for the next, the
    rows are written once, at commit, and proposals look each subject's lists up once (the result is the same as
    event by event)."""

    store: ScoreStore
    proposals: Proposals = field(default_factory=Proposals)


_BATCHES: WeakKeyDictionary[UnitOfWork, Batch] = WeakKeyDictionary()


async def _open_record(uow: UnitOfWork, event: CloudEvent, subject_id: str, kind: str, owner_id: str,
                       name: str, number_masked: str) -> CreditRecord:
    """The subject's record at the policy's opening score, opened at the registration's time (so a replay opens
    the same record); a record that a fact opened first takes the identity and the earlier opening time."""
    pending = _BATCHES.get(uow)
    if pending is not None:  # records this transaction's facts opened are written first, so they are found here
        await pending.store.flush()
    existing = await uow.session.get(CreditRecord, subject_id)
    if existing is not None:
        existing.subject_kind, existing.owner_id = kind, owner_id
        existing.name = name or existing.name
        existing.registration_number_masked = number_masked or existing.registration_number_masked
        existing.opened_at = min(existing.opened_at, event.time)
        return existing
    policy = DEFAULT_POLICY
    record = CreditRecord(subject_id=subject_id, subject_kind=kind, owner_id=owner_id, score=policy.opening_score,
                          policy_version=policy.version, opened_at=event.time, name=name,
                          registration_number_masked=number_masked,
                          dimensions=dims_json((d, 0) for d in DIMENSIONS))
    uow.session.add(record)
    await uow.session.flush()
    uow.session.add(CreditRecordChange(subject_id=subject_id, event_id=event.id, event_type=event.type,
                                       score_after=policy.opening_score, policy_version=policy.version,
                                       changed_at=event.time))
    uow.publish(CreditRecordOpened(subject_id=subject_id, subject_kind=kind, score=policy.opening_score,
                                   policy_version=policy.version, cause_event_id=event.id),
                subject=subject_id, actor=ACTOR)
    return record


async def open_record_for_organisation(uow: UnitOfWork, event: CloudEvent, data: OrganisationRegistered) -> None:
    """A newly registered organisation gets a credit record; its name and masked code are public-list facts."""
    await _open_record(uow, event, data.organisation_id, "organisation", data.owner_id, data.name, data.uscc_masked)


async def open_record_for_person(uow: UnitOfWork, event: CloudEvent, data: PersonRegistered) -> None:
    """A person signed up at the gateway gets a credit record under the name it chose (no number until verified)."""
    await _open_record(uow, event, data.person_id, "person", data.person_id, data.display_name, "")


async def record_person_verified(uow: UnitOfWork, event: CloudEvent, data: PersonVerified) -> None:
    """Real-name verification brings the masked resident identity number (credit never sees the whole one)."""
    await _open_record(uow, event, data.person_id, "person", data.person_id, data.display_name,
                       data.resident_id_masked)


@dataclass(frozen=True)
class Scoring:
    """The crowd events' handler, bound to the service's clock (the time a notice is dated and counted from)."""

    clock: Clock
    policy: CreditPolicy = DEFAULT_POLICY

    def _batch(self, uow: UnitOfWork) -> Batch:
        batch = _BATCHES.get(uow)
        if batch is None:
            batch = _BATCHES[uow] = Batch(ScoreStore(uow.session, self.policy))
            uow.before_commit(batch.store.flush)
        return batch

    async def preload(self, uow: UnitOfWork, events: Sequence[CloudEvent]) -> None:
        """Before a consumer batch: every subject its events are about, loaded in three queries."""
        batch = self._batch(uow)
        for event in events:
            batch.store.found[event.id] = facts_of(event.type, event.id, event.time, event.data)
        subjects = [f.subject_id for found in batch.store.found.values() for f in found]
        await batch.store.preload(subjects)
        await batch.proposals.preload(uow, subjects)

    async def score_event(self, uow: UnitOfWork, event: CloudEvent, _data: Any) -> None:
        """One crowd event: its credit facts folded into the subjects' scores, then the listing rules checked."""
        batch = self._batch(uow)
        await fold_into(uow, batch.store, [event], self.clock.now(), self.policy, flush=False, known=batch.proposals)


async def score_events(uow: UnitOfWork, events: Sequence[CloudEvent], now: datetime,
                       policy: CreditPolicy = DEFAULT_POLICY) -> None:
    """Several events in one go (tests and the bench): the same fold and the same rules as the consumer's."""
    await fold_into(uow, ScoreStore(uow.session, policy), events, now, policy)


async def fold_into(uow: UnitOfWork, store: ScoreStore, events: Sequence[CloudEvent], now: datetime,
                    policy: CreditPolicy, flush: bool = True, known: Proposals | None = None) -> None:
    known = known or Proposals()
    facts = [(event, store.found.pop(event.id, None) or facts_of(event.type, event.id, event.time, event.data))
             for event in events]
    await store.preload(f.subject_id for _, found in facts for f in found)
    for event, found in facts:
        for state in await store.apply_event(found, event.type):
            # Processing time on the service clock, not event time: the notice period is the subject's time to
            # respond from when credit notifies, so a late (backfilled) event still gets its full notice.
            await propose(uow, state, now, policy, known)
    if flush:
        await store.flush()
