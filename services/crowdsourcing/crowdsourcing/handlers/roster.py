"""The mediator roster: who holds the `mediator` role, kept from the gateway's identity events (a local replica,
so assigning a mediator never calls the gateway)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from crowdsourcing.models import MediatorRoster
from shared.envelope import CloudEvent
from shared.problems import DomainError
from shared.uow import UnitOfWork

if TYPE_CHECKING:
    from gateway.contracts import PersonRegistered

MEDIATOR = "mediator"


async def remember_roles(uow: UnitOfWork, event: CloudEvent, data: PersonRegistered) -> None:
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
