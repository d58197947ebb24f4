"""The crowd services' local replica of registered subjects, kept from the gateway's identity events.

A service needs to know a subject exists (and later, its listing) without calling another service
on the request path, so that it keeps working when the gateway is down.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

from fastapi import APIRouter, HTTPException, Request
from sqlmodel import Field, SQLModel

from shared.auth import SERVICE_ROLE, CurrentPrincipal, authorise_owner
from shared.db import utc_column
from shared.envelope import CloudEvent
from shared.uow import UnitOfWork
from shared.validation import ResourceId

if TYPE_CHECKING:
    from gateway.contracts import OrganisationRegistered


class SubjectReplica(SQLModel, table=True):
    __tablename__ = "subject_replica"

    subject_id: str = Field(primary_key=True, max_length=64)
    kind: str = Field(max_length=20)
    name: str = Field(max_length=200)
    owner_id: str = Field(max_length=64)
    region_code: str = Field(max_length=6)
    registration_number_masked: str = Field(max_length=32)
    registered_at: datetime = Field(sa_column=utc_column())
    source_event_id: str = Field(max_length=64)


async def remember_organisation(uow: UnitOfWork, event: CloudEvent, data: OrganisationRegistered) -> None:
    """Upsert: the replica holds the latest registration facts for the organisation."""
    row = await uow.session.get(SubjectReplica, data.organisation_id)
    if row is None:
        row = SubjectReplica(subject_id=data.organisation_id, kind="organisation", name=data.name,
                             owner_id=data.owner_id, region_code=data.region_code,
                             registration_number_masked=data.uscc_masked, registered_at=event.time,
                             source_event_id=event.id)
        uow.session.add(row)
    else:
        row.name, row.owner_id, row.source_event_id = data.name, data.owner_id, event.id


def replica_router() -> APIRouter:
    router = APIRouter(tags=["replica"])

    @router.get("/subjects/{subject_id}", response_model=SubjectReplica)
    async def read_subject(subject_id: ResourceId, request: Request, principal: CurrentPrincipal) -> SubjectReplica:
        async with request.app.state.db.reading() as session:
            row = await session.get(SubjectReplica, subject_id)
        if row is None:
            raise HTTPException(404, f"subject {subject_id} is not known here (yet)")
        authorise_owner(principal, row.owner_id, "admin", "regulator", "reviewer", SERVICE_ROLE)
        return row

    return router
