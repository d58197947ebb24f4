"""Gateway commands: each one transaction, state and outbox event together."""

from __future__ import annotations

import asyncio

from sqlalchemy.exc import IntegrityError
from sqlmodel import select

from gateway.contracts import OrganisationRegistered, PersonRegistered, RoleGranted
from gateway.domain.passwords import hash_password, protect_number, seal_number, verify_password
from gateway.domain.roles import may_grant
from gateway.domain.uscc import InvalidUSCC, parse_uscc
from gateway.models import Organisation, Person
from shared.auth import ROLES
from shared.db import Database
from shared.ids import new_id, utcnow
from shared.problems import DomainError
from shared.uow import UnitOfWork

# Verified against when the username is unknown, so both cases cost the same (no user enumeration).
_DUMMY_HASH = hash_password("not a real password")


async def register_person(uow: UnitOfWork, username: str, password: str, display_name: str,
                          roles: set[str]) -> Person:
    password_hash = await asyncio.to_thread(hash_password, password)  # ~50 ms of CPU: off the event loop
    existing = (await uow.session.execute(select(Person).where(Person.username == username))).first()
    if existing is not None:
        raise DomainError(409, f"username {username!r} is taken", field="username")
    person = Person(id=new_id(), username=username, display_name=display_name,
                    password_hash=password_hash, roles=" ".join(sorted(roles)), created_at=utcnow())
    uow.session.add(person)
    uow.publish(PersonRegistered(person_id=person.id, username=username, roles=sorted(roles),
                                 display_name=display_name),
                subject=person.id, actor=person.id)
    await commit_unique(uow, "username", f"username {username!r} is taken")
    return person


async def authenticate(db: Database, username: str, password: str) -> Person | None:
    async with db.reading() as session:
        person = (await session.execute(select(Person).where(Person.username == username))).scalars().first()
    stored = person.password_hash if person is not None else _DUMMY_HASH
    matches = await asyncio.to_thread(verify_password, password, stored)
    return person if person is not None and matches else None


async def register_organisation(uow: UnitOfWork, pii_key: str, name: str, uscc_raw: str,
                                owner_id: str) -> Organisation:
    try:
        uscc = parse_uscc(uscc_raw)
    except InvalidUSCC as exc:
        raise DomainError(422, f"uscc: {exc}", field="uscc") from exc
    uscc_hash = protect_number(pii_key, uscc.code)
    query = select(Organisation).where(Organisation.uscc_hash == uscc_hash)
    taken = (await uow.session.execute(query)).scalars().first()
    if taken is not None:  # no squatting: one registration per code, whoever asks
        state = "verified" if taken.verified_at is not None else "registered, not verified"
        raise DomainError(409, f"an organisation with this unified social credit code is {state}", field="uscc",
                          state=state.replace(", ", "_").replace(" ", "_"))
    organisation = Organisation(id=new_id(), name=name, uscc_hash=uscc_hash, uscc_masked=uscc.masked,
                                uscc_sealed=seal_number(pii_key, uscc.code), region_code=uscc.region_code,
                                owner_id=owner_id, created_at=utcnow())
    uow.session.add(organisation)
    uow.publish(
        OrganisationRegistered(organisation_id=organisation.id, name=name, uscc_masked=uscc.masked,
                               region_code=uscc.region_code, owner_id=owner_id),
        subject=organisation.id, actor=owner_id,
    )
    await commit_unique(uow, "uscc", "an organisation with this unified social credit code is registered")
    return organisation


async def grant_role(uow: UnitOfWork, granter_id: str, granter_roles: frozenset[str], person_id: str,
                     role: str) -> Person:
    """Adds a role (see gateway.domain.roles for who may grant which); it shows in the next token issued."""
    refusal = may_grant(granter_id, granter_roles, person_id, role)
    if refusal is not None:
        raise DomainError(403 if role in ROLES else 422, refusal, field="role")
    person = await uow.session.get(Person, person_id)
    if person is None:
        raise DomainError(404, f"person {person_id} not found")
    if role in person.role_set:
        raise DomainError(409, f"the person already holds the role {role!r}", field="role", state="granted")
    roles = sorted(person.role_set | {role})
    person.roles = " ".join(roles)
    uow.publish(RoleGranted(person_id=person.id, role=role, granted_by=granter_id, roles=roles),
                subject=person.id, actor=granter_id)
    await uow.commit()
    return person


async def commit_unique(uow: UnitOfWork, field: str, message: str) -> None:
    """Commit; a unique-constraint race lost to a concurrent command becomes a 409, not a 500."""
    try:
        await uow.commit()
    except IntegrityError as exc:
        raise DomainError(409, message, field=field) from exc
