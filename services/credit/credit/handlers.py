"""Credit's event handlers: each runs inside the consumer's transaction with its inbox row."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from gateway.contracts import OrganisationRegistered

from credit.contracts import CreditRecordOpened
from credit.domain.facts import facts_of
from credit.domain.policy import DEFAULT_POLICY
from credit.lists import propose
from credit.models import CreditRecord, CreditRecordChange
from credit.scores import ScoreStore
from shared.envelope import CloudEvent
from shared.ids import utcnow
from shared.uow import UnitOfWork


async def open_record_for_organisation(uow: UnitOfWork, event: CloudEvent, data: OrganisationRegistered) -> None:
    """A newly registered organisation gets a credit record at the policy's opening score."""
    existing = await uow.session.get(CreditRecord, data.organisation_id)
    if existing is not None:  # a fact arrived first: the registration completes the record
        existing.subject_kind, existing.owner_id = "organisation", data.owner_id
        existing.name, existing.registration_number_masked = data.name, data.uscc_masked
        return
    policy = DEFAULT_POLICY
    now = event.time  # the registration's time, so a replay opens the same record
    uow.session.add(CreditRecord(subject_id=data.organisation_id, subject_kind="organisation",
                                 owner_id=data.owner_id, score=policy.opening_score,
                                 policy_version=policy.version, opened_at=now, name=data.name,
                                 registration_number_masked=data.uscc_masked))
    await uow.session.flush()
    uow.session.add(CreditRecordChange(subject_id=data.organisation_id, event_id=event.id, event_type=event.type,
                                       score_after=policy.opening_score, policy_version=policy.version,
                                       changed_at=now))
    uow.publish(CreditRecordOpened(subject_id=data.organisation_id, subject_kind="organisation",
                                   score=policy.opening_score, policy_version=policy.version,
                                   cause_event_id=event.id),
                subject=data.organisation_id, actor="service:credit")


async def score_event(uow: UnitOfWork, event: CloudEvent, _data: Any) -> None:
    """One crowd event: its credit facts folded into the subjects' scores, then the listing rules checked."""
    await score_events(uow, [event])


async def score_events(uow: UnitOfWork, events: Sequence[CloudEvent]) -> None:
    """The same for several events in one transaction (a batch shares the subjects it has loaded)."""
    policy = DEFAULT_POLICY
    store = ScoreStore(uow.session, policy)
    facts = [(event, facts_of(event.type, event.id, event.time, event.data)) for event in events]
    await store.preload(f.subject_id for _, found in facts for f in found)
    for event, found in facts:
        states = await store.apply_event(found, event.type)
        for state in states:
            # Processing time, not event time: the notice period is the subject's time to respond from when credit
            # notifies, so a late (backfilled) event still gets its full notice.
            await propose(uow, state, utcnow(), policy)
    await store.flush()
