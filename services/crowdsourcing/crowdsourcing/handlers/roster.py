"""The mediator roster: who holds the `mediator` role, kept from the gateway's identity events (a local replica,
so assigning a mediator never calls the gateway)."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

from crowdsourcing.models import MediatorRoster
from shared.auth import Principal
from shared.envelope import CloudEvent
from shared.problems import DomainError
from shared.uow import UnitOfWork

if TYPE_CHECKING:
    from gateway.contracts import PersonRegistered, RoleGranted

MEDIATOR = "mediator"


async def remember_roles(uow: UnitOfWork, event: CloudEvent, data: PersonRegistered | RoleGranted) -> None:
    """Upsert the person's roles (every identity event that carries a person's full `roles` fits here); an older
    event never overwrites a newer one."""
    row = await uow.session.get(MediatorRoster, data.person_id)
    roles = ",".join(sorted(set(data.roles)))
    if row is None:
        uow.session.add(MediatorRoster(person_id=data.person_id, roles=roles, updated_at=event.time,
                                       source_event_id=event.id))
    elif event.time >= row.updated_at:
        row.roles, row.updated_at, row.source_event_id = roles, event.time, event.id


async def ensure_mediator(uow: UnitOfWork, person_id: str) -> None:
    row = await uow.session.get(MediatorRoster, person_id)
    if row is None or MEDIATOR not in row.role_set:
        raise DomainError(422, f"{person_id} does not hold the mediator role", field="mediator_id")


async def enrol_self(uow: UnitOfWork, principal: Principal, now: datetime) -> MediatorRoster:
    """A person whose gateway-signed token carries the `mediator` role puts itself on the roster (the token is the
    gateway's word, as an identity event would be). Until the gateway publishes role grants, this is how an
    admin-granted mediator becomes assignable; the identity events keep the roster current after that."""
    if MEDIATOR not in principal.roles:
        raise DomainError(403, "only a person holding the mediator role enrols as a mediator", field="roles")
    row = await uow.session.get(MediatorRoster, principal.subject)
    roles = ",".join(sorted(principal.roles))
    if row is None:
        row = MediatorRoster(person_id=principal.subject, roles=roles, updated_at=now, source_event_id="token")
        uow.session.add(row)
    else:
        row.roles = ",".join(sorted(row.role_set | principal.roles))
        row.updated_at = max(row.updated_at, now)
    await uow.commit()
    return row
