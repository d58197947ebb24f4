"""The crowd services' local replica of registered subjects, kept from the gateway's identity events.

A service needs to know a subject exists (and later, its listing) without calling another service
on the request path, so that it keeps working when the gateway is down.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

from fastapi import APIRouter, HTTPException, Request
from sqlalchemy import func, or_
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import Field, SQLModel, col, select

from shared.auth import SERVICE_ROLE, CurrentPrincipal, authorise_owner
from shared.consumer import Subscription
from shared.db import utc_column
from shared.envelope import CloudEvent
from shared.uow import UnitOfWork
from shared.validation import ResourceId

if TYPE_CHECKING:
    from gateway.contracts import OrganisationRegistered, OrganisationVerified, PersonVerified

# Per summary line, the columns that name the subject (e.g. tasks: poster_id, organisation_id): rows counted.
SummaryCounts = Mapping[str, Sequence[Any]]


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
    # Real-name verification at the gateway (identity.person/organisation.verified): None until verified.
    verified_at: datetime | None = Field(default=None, sa_column=utc_column(nullable=True))
    verification_level: str | None = Field(default=None, max_length=60)


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


async def remember_person_verified(uow: UnitOfWork, event: CloudEvent, data: PersonVerified) -> None:
    """A verified person becomes a subject here (owner of itself), marked verified."""
    row = await uow.session.get(SubjectReplica, data.person_id)
    if row is None:
        row = SubjectReplica(subject_id=data.person_id, kind="person", name=data.display_name,
                             owner_id=data.person_id, region_code=data.resident_id_masked[:6],
                             registration_number_masked=data.resident_id_masked, registered_at=event.time,
                             source_event_id=event.id)
        uow.session.add(row)
    row.verified_at, row.verification_level = data.verified_at, data.level


async def remember_organisation_verified(uow: UnitOfWork, event: CloudEvent, data: OrganisationVerified) -> None:
    """Verification binds the code to its applicant: the replica takes the owner from the event."""
    row = await uow.session.get(SubjectReplica, data.organisation_id)
    if row is None:  # verified arrived before registered (another partition order): keep what this event says
        row = SubjectReplica(subject_id=data.organisation_id, kind="organisation", name=data.name,
                             owner_id=data.owner_id, region_code=data.uscc_masked[2:8],
                             registration_number_masked=data.uscc_masked, registered_at=event.time,
                             source_event_id=event.id)
        uow.session.add(row)
    row.owner_id, row.verified_at, row.verification_level = data.owner_id, data.verified_at, data.level


def subject_replica_subscriptions() -> tuple[Subscription, ...]:
    """What every crowd service listens to for its subject replica (registration and real-name verification)."""
    from gateway.contracts import OrganisationRegistered, OrganisationVerified, PersonVerified

    return (Subscription(OrganisationRegistered, remember_organisation),
            Subscription(PersonVerified, remember_person_verified),
            Subscription(OrganisationVerified, remember_organisation_verified))


async def is_real_name_verified(session: AsyncSession, subject_id: str) -> bool:
    """A person verified by resident identity number, or one who owns an organisation verified by its code."""
    verified = select(func.count()).select_from(SubjectReplica).where(
        col(SubjectReplica.verified_at).is_not(None),
        or_(col(SubjectReplica.subject_id) == subject_id, col(SubjectReplica.owner_id) == subject_id))
    return bool((await session.execute(verified)).scalar_one())


async def _summarise(session: AsyncSession, counts: SummaryCounts, subject_id: str) -> dict[str, int]:
    summary = {}
    for label, columns in counts.items():
        query = select(func.count()).where(or_(*(column == subject_id for column in columns)))
        summary[label] = int((await session.execute(query)).scalar_one())
    return summary


def replica_router(summary: SummaryCounts | None = None) -> APIRouter:
    """`/subjects/{id}` (the replica row) and `/subjects/{id}/summary` (the replica's facts and this service's
    counts for the subject, for the gateway's aggregated profile)."""
    router = APIRouter(tags=["replica"])
    counts: SummaryCounts = summary or {}

    @router.get("/subjects/{subject_id}/summary")
    async def summarise_subject(subject_id: ResourceId, request: Request,
                                principal: CurrentPrincipal) -> dict[str, Any]:
        async with request.app.state.db.reading() as session:
            row = await session.get(SubjectReplica, subject_id)
            authorise_owner(principal, row.owner_id if row is not None else subject_id, "admin", "regulator",
                            SERVICE_ROLE)
            activity = await _summarise(session, counts, subject_id)
        return {"service": request.app.state.settings.service_name, "subject_id": subject_id,
                "known": row is not None, "kind": row.kind if row is not None else None,
                "verified": row is not None and row.verified_at is not None, "activity": activity}

    @router.get("/subjects/{subject_id}", response_model=SubjectReplica)
    async def read_subject(subject_id: ResourceId, request: Request, principal: CurrentPrincipal) -> SubjectReplica:
        async with request.app.state.db.reading() as session:
            row = await session.get(SubjectReplica, subject_id)
        if row is None:
            raise HTTPException(404, f"subject {subject_id} is not known here (yet)")
        authorise_owner(principal, row.owner_id, "admin", "regulator", "reviewer", SERVICE_ROLE)
        return row

    return router
