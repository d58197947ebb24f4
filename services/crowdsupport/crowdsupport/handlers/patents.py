"""Open patents and technology (基础性专利/技术开放共享): the catalogue from public-welfare institutions and
enterprises, and licence requests decided by the holder."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from crowdsupport import contracts as ev
from crowdsupport.handlers.common import found, owner_or_admin
from crowdsupport.models import LicenceRequest, Patent
from shared.auth import Principal
from shared.ids import new_id
from shared.listings import fast_tracked
from shared.problems import DomainError
from shared.uow import UnitOfWork


@dataclass(frozen=True)
class PatentInput:
    holder_kind: str
    title: str
    patent_no: str | None
    field_of_use: str
    licence_terms: str
    royalty_fen: int
    summary: str


async def list_patent(uow: UnitOfWork, principal: Principal, data: PatentInput, now: datetime) -> Patent:
    if data.licence_terms == "free" and data.royalty_fen:
        raise DomainError(422, "a free licence has no royalty", field="royalty_fen")
    if data.licence_terms == "royalty" and not data.royalty_fen:
        raise DomainError(422, "a royalty licence names its royalty", field="royalty_fen")
    patent = Patent(id=new_id(), holder_id=principal.subject, holder_kind=data.holder_kind, title=data.title,
                    patent_no=data.patent_no, field_of_use=data.field_of_use, licence_terms=data.licence_terms,
                    royalty_fen=data.royalty_fen, summary=data.summary, created_at=now)
    uow.session.add(patent)
    uow.publish(ev.PatentListed(patent_id=patent.id, holder_id=patent.holder_id, holder_kind=patent.holder_kind,
                                title=patent.title, field_of_use=patent.field_of_use,
                                licence_terms=patent.licence_terms, royalty_fen=patent.royalty_fen),
                subject=patent.id, actor=principal.subject, partition_key=patent.holder_id)
    await uow.commit()
    return patent


async def request_licence(uow: UnitOfWork, principal: Principal, patent_id: str, purpose: str,
                          now: datetime) -> LicenceRequest:
    patent = await found(uow, Patent, patent_id, "patent_id")
    if principal.subject == patent.holder_id:
        raise DomainError(409, "the holder does not request a licence of its own patent", field="patent_id")
    request = LicenceRequest(id=new_id(), patent_id=patent.id, holder_id=patent.holder_id,
                             requester_id=principal.subject, purpose=purpose, state="requested", created_at=now)
    uow.session.add(request)
    uow.publish(ev.LicenceRequested(request_id=request.id, patent_id=patent.id, holder_id=patent.holder_id,
                                    requester_id=principal.subject,
                                    fast_tracked=await fast_tracked(uow.session, principal.subject)),
                subject=request.id, actor=principal.subject, partition_key=principal.subject)
    await uow.commit()
    return request


async def decide_licence(uow: UnitOfWork, principal: Principal, request_id: str, grant: bool, reason: str | None,
                         now: datetime) -> LicenceRequest:
    request = await found(uow, LicenceRequest, request_id, "request_id", lock=True)
    owner_or_admin(principal, request.holder_id, "request_id", "the patent's holder")
    if request.state != "requested":
        raise DomainError(409, f"the request is already {request.state}", field="request_id",
                          current_state=request.state)
    if not grant and not reason:
        raise DomainError(422, "a refusal gives its reason", field="reason")
    request.state = "granted" if grant else "refused"
    request.decided_at, request.decided_by, request.reason = now, principal.subject, reason
    uow.publish(ev.LicenceDecided(request_id=request.id, patent_id=request.patent_id, holder_id=request.holder_id,
                                  requester_id=request.requester_id, granted=grant, reason=reason),
                subject=request.id, actor=principal.subject, partition_key=request.requester_id)
    await uow.commit()
    return request
