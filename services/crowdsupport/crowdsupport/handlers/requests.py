"""One-stop services for micro-enterprises (registration advice, training, policy interpretation, subsidy
applications): tracked requests with a deadline in working days (holiday calendar, Asia/Shanghai), assigned
to a handler by platform staff; a request still open past its deadline is overdue."""

from __future__ import annotations

from datetime import datetime

from crowdsupport import contracts as ev
from crowdsupport.domain.policy import DEFAULT_POLICY
from crowdsupport.handlers.common import found
from crowdsupport.models import ServiceRequest
from shared.auth import Principal
from shared.ids import new_id
from shared.listings import fast_tracked
from shared.problems import DomainError
from shared.uow import UnitOfWork
from shared.workdays import load_working_calendar

STAFF = ("reviewer", "admin")


def is_overdue(request: ServiceRequest, now: datetime) -> bool:
    """Overdue: not resolved by its deadline (a resolved one, if it was resolved late)."""
    finished = request.resolved_at or now
    return finished > request.deadline_at


async def open_request(uow: UnitOfWork, principal: Principal, kind: str, title: str, detail: str,
                       now: datetime) -> ServiceRequest:
    days = DEFAULT_POLICY.request_deadline_working_days.get(kind)
    if days is None:
        raise DomainError(422, f"unknown request kind {kind!r}", field="kind")
    calendar = await load_working_calendar(uow.session)
    request = ServiceRequest(id=new_id(), requester_id=principal.subject, kind=kind, title=title, detail=detail,
                             state="open", deadline_at=calendar.add_working_days(now, days), created_at=now,
                             policy_version=DEFAULT_POLICY.version)
    uow.session.add(request)
    uow.publish(ev.ServiceRequestOpened(request_id=request.id, requester_id=principal.subject, kind=kind,
                                        deadline_at=request.deadline_at, working_days=days,
                                        policy_version=DEFAULT_POLICY.version,
                                        fast_tracked=await fast_tracked(uow.session, principal.subject)),
                subject=request.id, actor=principal.subject, partition_key=principal.subject)
    await uow.commit()
    return request


async def assign(uow: UnitOfWork, principal: Principal, request_id: str, handler_id: str,
                 now: datetime) -> ServiceRequest:
    if not principal.has_any(*STAFF):
        raise DomainError(403, "only platform staff assign requests", field="request_id")
    request = await found(uow, ServiceRequest, request_id, "request_id", lock=True)
    if request.state == "resolved":
        raise DomainError(409, "the request is resolved", field="request_id", current_state=request.state)
    request.state, request.handler_id, request.assigned_at = "assigned", handler_id, now
    uow.publish(ev.ServiceRequestAssigned(request_id=request.id, requester_id=request.requester_id,
                                          handler_id=handler_id),
                subject=request.id, actor=principal.subject, partition_key=request.requester_id)
    await uow.commit()
    return request


async def resolve(uow: UnitOfWork, principal: Principal, request_id: str, resolution: str,
                  now: datetime) -> ServiceRequest:
    request = await found(uow, ServiceRequest, request_id, "request_id", lock=True)
    if principal.subject != request.handler_id and not principal.has_any("admin"):
        raise DomainError(403, "only the assigned handler resolves the request", field="request_id")
    if request.state != "assigned":
        raise DomainError(409, f"the request is {request.state}; only an assigned request is resolved",
                          field="request_id", current_state=request.state)
    request.state, request.resolved_at, request.resolution = "resolved", now, resolution
    uow.publish(ev.ServiceRequestResolved(request_id=request.id, requester_id=request.requester_id,
                                          handler_id=request.handler_id, kind=request.kind,
                                          overdue=is_overdue(request, now)),
                subject=request.id, actor=principal.subject, partition_key=request.requester_id)
    await uow.commit()
    return request
