"""Open patents and technology, and one-stop service requests (with their deadline and overdue flag)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from fastapi import APIRouter, HTTPException, Query, status
from pydantic import BaseModel, Field
from sqlmodel import col, select

from crowdsupport.api.common import READERS, STAFF_ROLES, Holder, Id, Label, Name, PatentHolder, Staff, Text
from crowdsupport.domain.policy import DEFAULT_POLICY
from crowdsupport.handlers import patents, requests
from crowdsupport.models import LicenceRequest, LicenceRequestFields, Patent, ServiceRequest
from shared.auth import CurrentPrincipal, Principal, require_roles
from shared.listings import fast_track, fast_track_first
from shared.service_app import Now, ReadSessionDep, UnitOfWorkDep
from shared.validation import Limit, Offset, ResourceId, Strict

router = APIRouter()
Requester = Annotated[Principal, require_roles("enterprise", "founder", "solver", "provider", "resident")]
MicroEnterprise = Annotated[Principal, require_roles("enterprise", "founder")]


class PatentCreate(Strict):
    holder_kind: Literal["public_institution", "enterprise"]
    title: Name
    patent_no: Annotated[str, Field(pattern=r"^[A-Z]{2}[0-9A-Z.]{4,30}$")] | None = None
    field_of_use: Label
    licence_terms: Literal["free", "royalty"] = "free"
    royalty_fen: int = Field(default=0, ge=0, le=10**12)
    summary: Text = ""


@router.post("/patents", status_code=status.HTTP_201_CREATED, response_model=Patent, tags=["patents"])
async def list_patent(body: PatentCreate, uow: UnitOfWorkDep, now: Now, principal: Holder) -> Patent:
    return await patents.list_patent(uow, principal, patents.PatentInput(**body.model_dump()), now)


@router.get("/patents", response_model=list[Patent], tags=["patents"])
async def catalogue(session: ReadSessionDep, _principal: CurrentPrincipal, limit: Limit = 50, offset: Offset = 0,
                    field_of_use: Annotated[str | None, Query(min_length=1, max_length=100)] = None) -> list[Patent]:
    query = select(Patent).order_by(col(Patent.created_at), col(Patent.id))
    if field_of_use is not None:
        query = query.where(Patent.field_of_use == field_of_use)
    return list((await session.execute(query.limit(limit).offset(offset))).scalars().all())


class LicenceBody(Strict):
    purpose: Annotated[Text, Field(min_length=1)]


@router.post("/patents/{patent_id}/licence-requests", status_code=status.HTTP_201_CREATED,
             response_model=LicenceRequest, tags=["patents"])
async def request_licence(patent_id: ResourceId, body: LicenceBody, uow: UnitOfWorkDep, now: Now,
                          principal: Requester) -> LicenceRequest:
    return await patents.request_licence(uow, principal, patent_id, body.purpose, now)


class LicenceRequestInQueue(LicenceRequestFields):
    fast_tracked: bool  # awaiting the holder, and the requester is red-listed (联合激励)


@router.get("/licence-requests/mine", response_model=list[LicenceRequestInQueue], tags=["patents"])
async def my_licence_requests(session: ReadSessionDep, principal: CurrentPrincipal, limit: Limit = 100,
                              offset: Offset = 0) -> list[LicenceRequestInQueue]:
    """Requests the caller made, or received as a holder: those awaiting the holder from a red-listed requester
    first (fast-track review, from the local listing replica), then oldest first."""
    flag = fast_track(col(LicenceRequest.requester_id), awaiting=col(LicenceRequest.state) == "requested")
    rows = await session.execute(
        select(LicenceRequest, flag).where((col(LicenceRequest.requester_id) == principal.subject)
                                           | (col(LicenceRequest.holder_id) == principal.subject))
        .order_by(fast_track_first(flag), col(LicenceRequest.created_at), col(LicenceRequest.id))
        .limit(limit).offset(offset))
    return [LicenceRequestInQueue(**request.model_dump(), fast_tracked=bool(fast)) for request, fast in rows]


class LicenceDecision(Strict):
    grant: bool
    reason: Annotated[Text, Field(min_length=1)] | None = None


@router.post("/licence-requests/{request_id}/decision", response_model=LicenceRequest, tags=["patents"])
async def decide_licence(request_id: ResourceId, body: LicenceDecision, uow: UnitOfWorkDep, now: Now,
                         principal: PatentHolder) -> LicenceRequest:
    return await patents.decide_licence(uow, principal, request_id, body.grant, body.reason, now)


class RequestBody(Strict):
    kind: Literal[tuple(sorted(DEFAULT_POLICY.request_deadline_working_days))]  # type: ignore[valid-type]
    title: Name
    detail: Text = ""


class RequestPublic(BaseModel):
    id: str
    requester_id: str
    kind: str
    title: str
    detail: str
    state: str
    handler_id: str | None
    deadline_at: datetime
    overdue: bool
    created_at: datetime
    resolved_at: datetime | None
    resolution: str | None
    policy_version: str

    @classmethod
    def of(cls, row: ServiceRequest, now: datetime) -> RequestPublic:
        return cls(**row.model_dump(exclude={"assigned_at"}), overdue=requests.is_overdue(row, now))


@router.post("/service-requests", status_code=status.HTTP_201_CREATED, response_model=RequestPublic,
             tags=["one-stop"])
async def open_request(body: RequestBody, uow: UnitOfWorkDep, now: Now, principal: MicroEnterprise) -> RequestPublic:
    return RequestPublic.of(await requests.open_request(uow, principal, body.kind, body.title, body.detail, now), now)


class RequestInQueue(RequestPublic):
    fast_tracked: bool  # open, awaiting assignment, and the requester is red-listed (联合激励)


@router.get("/service-requests", response_model=list[RequestInQueue], tags=["one-stop"])
async def list_requests(session: ReadSessionDep, principal: CurrentPrincipal, now: Now, limit: Limit = 100,
                        offset: Offset = 0, overdue: bool | None = None) -> list[RequestInQueue]:
    """Staff and regulators see every request; others the ones they filed or handle. `overdue=true` filters.
    Open requests of red-listed requesters come first (assigned first: fast-track review, 联合激励), then the
    earliest deadline first."""
    flag = fast_track(col(ServiceRequest.requester_id), awaiting=col(ServiceRequest.state) == "open")
    query = select(ServiceRequest, flag).order_by(fast_track_first(flag), col(ServiceRequest.deadline_at),
                                                  col(ServiceRequest.id))
    if not principal.has_any(*STAFF_ROLES, *READERS):
        query = query.where((col(ServiceRequest.requester_id) == principal.subject)
                            | (col(ServiceRequest.handler_id) == principal.subject))
    if overdue is True:
        query = query.where(ServiceRequest.state != "resolved", col(ServiceRequest.deadline_at) < now)
    rows = await session.execute(query.limit(limit).offset(offset))
    return [RequestInQueue(**RequestPublic.of(row, now).model_dump(), fast_tracked=bool(fast)) for row, fast in rows]


@router.get("/service-requests/{request_id}", response_model=RequestPublic, tags=["one-stop"])
async def read_request(request_id: ResourceId, session: ReadSessionDep, principal: CurrentPrincipal,
                       now: Now) -> RequestPublic:
    row = await session.get(ServiceRequest, request_id)
    if row is None:
        raise HTTPException(404, f"request {request_id} not found")
    if principal.subject not in (row.requester_id, row.handler_id) and not principal.has_any(*STAFF_ROLES, *READERS):
        raise HTTPException(403, "only the requester, the handler, staff or a regulator may read this request")
    return RequestPublic.of(row, now)


class Assignment(Strict):
    handler_id: Id


@router.post("/service-requests/{request_id}/assignment", response_model=RequestPublic, tags=["one-stop"])
async def assign(request_id: ResourceId, body: Assignment, uow: UnitOfWorkDep, now: Now,
                 principal: Staff) -> RequestPublic:
    return RequestPublic.of(await requests.assign(uow, principal, request_id, body.handler_id, now), now)


class Resolution(Strict):
    resolution: Annotated[Text, Field(min_length=1)]


@router.post("/service-requests/{request_id}/resolution", response_model=RequestPublic, tags=["one-stop"])
async def resolve(request_id: ResourceId, body: Resolution, uow: UnitOfWorkDep, now: Now,
                  principal: CurrentPrincipal) -> RequestPublic:
    return RequestPublic.of(await requests.resolve(uow, principal, request_id, body.resolution, now), now)
