"""Real-name verification commands: the verifier is asked first (outside any transaction), then the result is
recorded with its event in one unit of work. Numbers are kept as keyed hash, sealed copy and mask."""

from __future__ import annotations

from collections.abc import Awaitable
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import select

from gateway.contracts import OrganisationVerified, PersonVerified
from gateway.domain.passwords import open_number, protect_number, seal_number
from gateway.domain.resident_id import InvalidResidentId, ResidentId, parse_resident_id
from gateway.handlers import commit_unique
from gateway.models import Organisation, Person
from gateway.verification import VerificationResult, VerifierUnavailable
from shared.problems import DomainError
from shared.uow import UnitOfWork


def parse_number(raw: str, now: datetime) -> ResidentId:
    try:
        return parse_resident_id(raw, now.date())
    except InvalidResidentId as exc:
        raise DomainError(422, f"resident_id: {exc}", field="resident_id") from exc


async def ask(verification: Awaitable[VerificationResult]) -> str:
    """The verifier's level on confirmation; a refusal is a 422 naming the name, an outage a 503."""
    try:
        result = await verification
    except VerifierUnavailable as exc:
        raise DomainError(503, f"the real-name verifier is unavailable: {exc}") from exc
    if not result.confirmed:
        raise DomainError(422, f"real-name verification refused: {result.reason}", field="name")
    return str(result.level)


async def verify_person(uow: UnitOfWork, pii_key: str, person_id: str, real_name: str, number: ResidentId,
                        level: str, now: datetime) -> Person:
    person = await uow.session.get(Person, person_id)
    if person is None:
        raise DomainError(404, f"person {person_id} not found")
    if person.verified_at is not None:
        raise DomainError(409, f"already real-name verified at {person.verified_at.isoformat()}",
                          state="verified")
    number_hash = protect_number(pii_key, number.number)
    taken = (await uow.session.execute(select(Person.id).where(Person.resident_id_hash == number_hash))).first()
    if taken is not None:
        raise DomainError(409, "this resident identity number is verified for another account", field="resident_id")
    person.real_name, person.resident_id_hash = real_name, number_hash
    person.resident_id_sealed, person.resident_id_masked = seal_number(pii_key, number.number), number.masked
    person.verified_at, person.verification_level = now, level
    uow.publish(PersonVerified(person_id=person.id, display_name=person.display_name,
                               resident_id_masked=number.masked, verified_at=now, level=level),
                subject=person.id, actor=person.id)
    await commit_unique(uow, "resident_id", "this resident identity number is verified for another account")
    return person


async def organisation_to_verify(session: AsyncSession, pii_key: str, organisation_id: str,
                                 applicant_id: str) -> tuple[Organisation, str, str]:
    """Checks before asking the verifier: the applicant owns the organisation and is verified itself (the USCC
    is bound to a real person), and the organisation is not verified yet. Returns it, its code and the
    applicant's real name (the legal representative the verifier checks)."""
    organisation = await session.get(Organisation, organisation_id)
    if organisation is None:
        raise DomainError(404, f"organisation {organisation_id} not found")
    if organisation.owner_id != applicant_id:
        raise DomainError(403, "only the organisation's applicant verifies it")
    if organisation.verified_at is not None:
        raise DomainError(409, "the organisation is already verified", state="verified")
    applicant = await session.get(Person, applicant_id)
    if applicant is None or applicant.verified_at is None or applicant.real_name is None:
        raise DomainError(409, "the applicant must be real-name verified first (POST /people/me/verification)",
                          state="applicant_not_verified")
    if organisation.uscc_sealed is None:
        raise DomainError(409, "registered before numbers were sealed; register it again", state="legacy")
    return organisation, open_number(pii_key, organisation.uscc_sealed), applicant.real_name


async def record_organisation_verified(uow: UnitOfWork, organisation_id: str, level: str,
                                       now: datetime) -> Organisation:
    organisation = await uow.session.get(Organisation, organisation_id)
    if organisation is None or organisation.verified_at is not None:
        raise DomainError(409, "the organisation changed while it was being verified", state="verified")
    organisation.verified_at, organisation.verification_level = now, level
    uow.publish(OrganisationVerified(organisation_id=organisation.id, name=organisation.name,
                                     uscc_masked=organisation.uscc_masked, owner_id=organisation.owner_id,
                                     verified_at=now, level=level),
                subject=organisation.id, actor=organisation.owner_id)
    await uow.commit()
    return organisation
