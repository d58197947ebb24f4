"""Credit routes: a subject's record with the events that shaped it (owner, regulator or admin)."""

from __future__ import annotations

from datetime import datetime

from fastapi import APIRouter, HTTPException
from pydantic import BaseModel
from sqlmodel import select

from credit.models import CreditRecord, CreditRecordChange
from shared.auth import SERVICE_ROLE, CurrentPrincipal, authorise_owner
from shared.service_app import ReadSessionDep
from shared.validation import ResourceId

router = APIRouter(tags=["credit"])


class CreditRecordPublic(BaseModel):
    subject_id: str
    subject_kind: str
    score: int
    policy_version: str
    opened_at: datetime
    changes: list[CreditRecordChange]


@router.get("/records/{subject_id}", response_model=CreditRecordPublic)
async def read_record(
    subject_id: ResourceId, session: ReadSessionDep, principal: CurrentPrincipal
) -> CreditRecordPublic:
    record = await session.get(CreditRecord, subject_id)
    if record is None:
        raise HTTPException(404, f"no credit record for subject {subject_id}")
    authorise_owner(principal, record.owner_id, "regulator", "admin", SERVICE_ROLE)
    changes = (await session.execute(
        select(CreditRecordChange).where(CreditRecordChange.subject_id == subject_id)
        .order_by(CreditRecordChange.changed_at)
    )).scalars().all()
    return CreditRecordPublic(subject_id=record.subject_id, subject_kind=record.subject_kind, score=record.score,
                              policy_version=record.policy_version, opened_at=record.opened_at,
                              changes=list(changes))
