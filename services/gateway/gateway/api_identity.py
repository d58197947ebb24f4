"""Identity routes: real-name verification of people and organisations, views with masked numbers (whole only
for the subject itself, admins and regulators, and only on request), role grants and API keys."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Query, Request, status
from pydantic import BaseModel, ConfigDict, Field
from sqlmodel import select

from gateway import api_key_handlers, handlers, real_name
from gateway.domain.passwords import open_number
from gateway.models import IssuedApiKey, Organisation, Person
from gateway.verification import RealNameVerifier
from shared.auth import ROLES, CurrentPrincipal, Principal, Role, authorise_owner, require_roles
from shared.problems import DomainError
from shared.service_app import Now, ReadSessionDep, UnitOfWorkDep
from shared.uow import UnitOfWork
from shared.validation import ID_PATTERN, PlainText, ResourceId

router = APIRouter(tags=["identity"])
SEES_WHOLE_NUMBERS = ("admin", "regulator")  # besides the subject itself
Unmasked = Annotated[bool, Query(description="show the whole number (the subject itself, admins, regulators)")]


class PersonVerification(BaseModel):
    model_config = ConfigDict(extra="forbid")
    real_name: PlainText = Field(min_length=1, max_length=100)
    resident_id: str = Field(min_length=1, max_length=32, description="18-digit resident identity number")


class PersonView(BaseModel):
    id: str
    username: str
    display_name: str
    roles: list[str]
    verified: bool
    verified_at: datetime | None
    verification_level: str | None
    real_name: str | None
    resident_id_masked: str | None
    resident_id: str | None = Field(None, description="only with ?unmasked=true, for the person, admins, regulators")


class PersonPublic(BaseModel):
    id: str
    display_name: str
    verified: bool
    resident_id_masked: str | None


class RoleGrant(BaseModel):
    model_config = ConfigDict(extra="forbid")
    role: Role


class OrganisationView(BaseModel):
    id: str
    name: str
    owner_id: str
    region_code: str
    uscc_masked: str
    uscc: str | None = None
    verified: bool
    verified_at: datetime | None
    verification_level: str | None


class ApiKeyCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    subject_id: str | None = Field(None, pattern=ID_PATTERN, description="default: the caller")
    roles: list[Role] | None = Field(None, max_length=len(ROLES),
                                     description="default: every role the subject holds")
    label: PlainText = Field("", max_length=100)
    expires_in_days: int = Field(90, ge=1, le=365)


class ApiKeyView(BaseModel):
    key_id: str
    subject_id: str
    roles: list[str]
    label: str
    issued_by: str
    created_at: datetime
    expires_at: datetime
    revoked_at: datetime | None

    @classmethod
    def of(cls, row: IssuedApiKey) -> ApiKeyView:
        return cls(key_id=row.key_id, subject_id=row.subject_id, roles=row.roles.split(), label=row.label,
                   issued_by=row.issued_by, created_at=row.created_at, expires_at=row.expires_at,
                   revoked_at=row.revoked_at)


class ApiKeyIssuedView(ApiKeyView):
    api_key: str = Field(description="shown once; send it as `Authorization: ApiKey <key>` or `X-API-Key`")


def _person_view(person: Person, whole: str | None) -> PersonView:
    return PersonView(id=person.id, username=person.username, display_name=person.display_name,
                      roles=sorted(person.role_set), verified=person.verified_at is not None,
                      verified_at=person.verified_at, verification_level=person.verification_level,
                      real_name=person.real_name, resident_id_masked=person.resident_id_masked, resident_id=whole)


def _organisation_view(organisation: Organisation, whole: str | None) -> OrganisationView:
    return OrganisationView(id=organisation.id, name=organisation.name, owner_id=organisation.owner_id,
                            region_code=organisation.region_code, uscc_masked=organisation.uscc_masked, uscc=whole,
                            verified=organisation.verified_at is not None, verified_at=organisation.verified_at,
                            verification_level=organisation.verification_level)


def _whole(request: Request, principal: Principal, owner_id: str, sealed: str | None, unmasked: bool) -> str | None:
    """Refuses all but the subject (owner), admins and regulators; the whole number only when asked for."""
    authorise_owner(principal, owner_id, *SEES_WHOLE_NUMBERS)
    if not unmasked or sealed is None:
        return None
    return open_number(request.app.state.settings.pii_key, sealed)


def _verifier(request: Request) -> RealNameVerifier:
    verifier: RealNameVerifier = request.app.state.verifier  # chosen at start (gateway.main.install_verifier)
    return verifier


def _unit_of_work(request: Request) -> UnitOfWork:
    """A unit of work opened after the verifier has answered, so no transaction waits on the provider."""
    state = request.app.state
    return UnitOfWork(state.db, state.settings.service_name, state.relay.wake)


@router.post("/people/me/verification", response_model=PersonView)
async def verify_me(body: PersonVerification, request: Request, principal: CurrentPrincipal, now: Now) -> PersonView:
    if principal.kind != "person":
        raise DomainError(403, "only a person verifies itself")
    number = real_name.parse_number(body.resident_id, now)
    level = await real_name.ask(_verifier(request).verify_person(body.real_name, number.number))
    async with _unit_of_work(request) as uow:
        person = await real_name.verify_person(uow, request.app.state.settings.pii_key, principal.subject,
                                               body.real_name, number, level, now)
    return _person_view(person, None)


@router.get("/people/{person_id}", response_model=PersonView)
async def read_person(person_id: ResourceId, request: Request, session: ReadSessionDep,
                      principal: CurrentPrincipal, unmasked: Unmasked = False) -> PersonView:
    person = await session.get(Person, person_id)
    if person is None:
        raise DomainError(404, f"person {person_id} not found")
    return _person_view(person, _whole(request, principal, person.id, person.resident_id_sealed, unmasked))


@router.get("/people/{person_id}/public", response_model=PersonPublic)
async def read_person_public(person_id: ResourceId, session: ReadSessionDep, _: CurrentPrincipal) -> PersonPublic:
    """What any signed-in user may see of a person: never a whole number."""
    person = await session.get(Person, person_id)
    if person is None:
        raise DomainError(404, f"person {person_id} not found")
    return PersonPublic(id=person.id, display_name=person.display_name, verified=person.verified_at is not None,
                        resident_id_masked=person.resident_id_masked)


@router.post("/people/{person_id}/roles", response_model=PersonView)
async def grant_role(person_id: ResourceId, body: RoleGrant, uow: UnitOfWorkDep,
                     principal: CurrentPrincipal) -> PersonView:
    """Self-service roles by the person itself; reviewer, mediator, regulator, admin, agency and space_operator
    by an admin only. The role is in the next token the person gets."""
    person = await handlers.grant_role(uow, principal.subject, principal.roles, person_id, body.role)
    return _person_view(person, None)


@router.post("/organisations/{organisation_id}/verification", response_model=OrganisationView)
async def verify_organisation(organisation_id: ResourceId, request: Request, principal: CurrentPrincipal,
                              now: Now) -> OrganisationView:
    """The applicant (owner), itself real-name verified, has the verifier confirm code, name and representative;
    the code is then bound to the applicant."""
    pii_key = request.app.state.settings.pii_key
    async with request.app.state.db.reading() as session:
        organisation, code, representative = await real_name.organisation_to_verify(
            session, pii_key, organisation_id, principal.subject)
    level = await real_name.ask(_verifier(request).verify_organisation(organisation.name, code, representative))
    async with _unit_of_work(request) as uow:
        verified = await real_name.record_organisation_verified(uow, organisation_id, level, now)
    return _organisation_view(verified, None)


@router.get("/organisations/{organisation_id}/identity", response_model=OrganisationView)
async def read_organisation_identity(organisation_id: ResourceId, request: Request, session: ReadSessionDep,
                                     principal: CurrentPrincipal, unmasked: Unmasked = False) -> OrganisationView:
    organisation = await session.get(Organisation, organisation_id)
    if organisation is None:
        raise DomainError(404, f"organisation {organisation_id} not found")
    whole = _whole(request, principal, organisation.owner_id, organisation.uscc_sealed, unmasked)
    return _organisation_view(organisation, whole)


@router.post("/api-keys", status_code=status.HTTP_201_CREATED, response_model=ApiKeyIssuedView)
async def issue_api_key(body: ApiKeyCreate, uow: UnitOfWorkDep, now: Now,
                        principal: Annotated[Principal, require_roles("regulator", "admin")]) -> ApiKeyIssuedView:
    if principal.kind == "api_key":
        raise DomainError(403, "an API key cannot issue API keys")
    record, presented = await api_key_handlers.issue_key(
        uow, principal, body.subject_id or principal.subject, set(body.roles) if body.roles else None, body.label,
        body.expires_in_days, now)
    return ApiKeyIssuedView(**ApiKeyView.of(record).model_dump(), api_key=presented)


@router.get("/api-keys", response_model=list[ApiKeyView])
async def list_api_keys(session: ReadSessionDep, principal: CurrentPrincipal,
                        subject_id: Annotated[str | None, Query(pattern=ID_PATTERN)] = None) -> list[ApiKeyView]:
    """The caller's keys; an admin names any subject."""
    subject = subject_id or principal.subject
    authorise_owner(principal, subject, "admin")
    rows = (await session.execute(select(IssuedApiKey).where(IssuedApiKey.subject_id == subject)
                                  .order_by(IssuedApiKey.created_at).limit(500))).scalars().all()
    return [ApiKeyView.of(row) for row in rows]


@router.post("/api-keys/{key_id}/revoke", response_model=ApiKeyView)
async def revoke_api_key(key_id: ResourceId, uow: UnitOfWorkDep, principal: CurrentPrincipal,
                         now: Now) -> ApiKeyView:
    return ApiKeyView.of(await api_key_handlers.revoke_key(uow, principal, key_id, now))
