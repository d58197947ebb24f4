"""Credit's event handlers: each runs inside the consumer's transaction with its inbox row."""

from __future__ import annotations

from gateway.contracts import OrganisationRegistered

from credit.contracts import CreditRecordOpened
from credit.domain.policy import DEFAULT_POLICY
from credit.models import CreditRecord, CreditRecordChange
from shared.envelope import CloudEvent
from shared.ids import utcnow
from shared.uow import UnitOfWork


async def open_record_for_organisation(uow: UnitOfWork, event: CloudEvent, data: OrganisationRegistered) -> None:
    """A newly registered organisation gets a credit record at the policy's opening score."""
    if await uow.session.get(CreditRecord, data.organisation_id) is not None:
        return
    policy = DEFAULT_POLICY
    now = utcnow()
    uow.session.add(CreditRecord(subject_id=data.organisation_id, subject_kind="organisation",
                                 owner_id=data.owner_id, score=policy.opening_score,
                                 policy_version=policy.version, opened_at=now))
    await uow.session.flush()
    uow.session.add(CreditRecordChange(subject_id=data.organisation_id, event_id=event.id, event_type=event.type,
                                       score_after=policy.opening_score, policy_version=policy.version,
                                       changed_at=now))
    uow.publish(CreditRecordOpened(subject_id=data.organisation_id, subject_kind="organisation",
                                   score=policy.opening_score, policy_version=policy.version,
                                   cause_event_id=event.id),
                subject=data.organisation_id, actor="service:credit")
