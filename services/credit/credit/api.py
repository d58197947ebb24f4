"""Credit routes: a subject's record with its current listing and the score changes that shaped it (owner,
regulator or admin), and the rebuild that refolds every stored fact and compares with the live scores (admin)."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, HTTPException
from pydantic import BaseModel
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col, select

from credit.domain.listings import ACTIVE, published
from credit.domain.policy import DEFAULT_POLICY
from credit.lists import objection_path
from credit.models import CreditListing, CreditRecord, CreditRecordChange
from credit.scores import rebuild_and_compare
from shared.auth import SERVICE_ROLE, CurrentPrincipal, Principal, authorise_owner, require_roles
from shared.service_app import ReadSessionDep
from shared.validation import ResourceId

router = APIRouter(tags=["credit"])


class ChangePublic(BaseModel):
    event_id: str
    event_type: str
    score_before: int | None
    score_after: int
    dimensions: dict[str, int]
    cause_event_ids: list[str]
    policy_version: str
    changed_at: datetime


class CurrentListing(BaseModel):
    """An entry in force for the subject: notified (in its notice period) or listed (inside its window)."""

    listing_id: str
    state: str  # notified | listed
    tier: str
    rule: str
    basis: str
    reasons: list[str]
    notified_at: datetime
    notice_ends_at: datetime
    listed_at: datetime | None  # the window: listed_at .. until
    until: datetime | None
    published: bool  # shown on the public list (minor black entries never are)
    objection_path: str


class Standing(BaseModel):
    black: CurrentListing | None
    red: CurrentListing | None


class CreditRecordPublic(BaseModel):
    subject_id: str
    subject_kind: str
    score: int
    dimensions: dict[str, int]
    as_of: datetime | None
    policy_version: str
    opened_at: datetime
    listing: Standing
    changes: list[ChangePublic]


async def current_listing(session: AsyncSession, subject_id: str) -> Standing:
    rows = (await session.execute(select(CreditListing).where(
        CreditListing.subject_id == subject_id, col(CreditListing.state).in_(ACTIVE))
        .order_by(col(CreditListing.notified_at)))).scalars().all()
    found = {row.list_kind: CurrentListing(
        listing_id=row.id, state=row.state, tier=row.tier, rule=row.rule, basis=row.basis,
        reasons=json.loads(row.reasons), notified_at=row.notified_at, notice_ends_at=row.notice_ends_at,
        listed_at=row.listed_at, until=row.publish_until,
        published=published(row.list_kind, row.tier, DEFAULT_POLICY), objection_path=objection_path(row.id))
        for row in rows}
    return Standing(black=found.get("black"), red=found.get("red"))


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
        .order_by(col(CreditRecordChange.changed_at).desc()).limit(500)
    )).scalars().all()
    return CreditRecordPublic(
        subject_id=record.subject_id, subject_kind=record.subject_kind, score=record.score,
        dimensions=json.loads(record.dimensions), as_of=record.as_of, policy_version=record.policy_version,
        opened_at=record.opened_at, listing=await current_listing(session, subject_id),
        changes=[ChangePublic(event_id=c.event_id, event_type=c.event_type, score_before=c.score_before,
                              score_after=c.score_after, dimensions=json.loads(c.dimensions),
                              cause_event_ids=json.loads(c.cause_event_ids), policy_version=c.policy_version,
                              changed_at=c.changed_at) for c in changes])


@router.post("/admin/rebuild")
async def rebuild(session: ReadSessionDep, _admin: Annotated[Principal, require_roles("admin")]) -> dict[str, Any]:
    """Refold the stored facts with the pure fold; equal means every live score can be explained by replay."""
    report = await rebuild_and_compare(session, DEFAULT_POLICY)
    return {"facts": report.facts, "subjects": report.subjects, "equal": not report.mismatches,
            "mismatches": report.mismatches[:100], "policy_version": DEFAULT_POLICY.version}
