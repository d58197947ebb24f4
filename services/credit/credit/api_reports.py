"""Credit reports (信用报告: the subject itself, a regulator, or a party holding the subject's consent), consents,
and the export for a credit-data alliance in the documented format `sizhong.credit.alliance/1.0`."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Query, status
from pydantic import BaseModel, ConfigDict, Field
from sqlmodel import col, select

from credit.api_lists import listing_out, owner_of
from credit.contracts import ConsentChanged
from credit.domain.policy import DEFAULT_POLICY
from credit.models import (
    CreditConsent,
    CreditFact,
    CreditListing,
    CreditObjection,
    CreditRecord,
    CreditRecordChange,
    CreditRepair,
)
from shared.auth import CurrentPrincipal, Principal, authorise_owner, require_roles
from shared.ids import new_id
from shared.masking import mask_personal_numbers
from shared.problems import DomainError
from shared.service_app import Now, ReadSessionDep, UnitOfWorkDep
from shared.validation import ID_PATTERN, Limit, PlainText, ResourceId, Strict

router = APIRouter(tags=["reports"])
Exporter = Annotated[Principal, require_roles("regulator", "admin")]
ALLIANCE_FORMAT = "sizhong.credit.alliance"
ALLIANCE_VERSION = "1.0"


class ConsentCreate(Strict):
    party_id: str = Field(pattern=ID_PATTERN)
    purpose: Annotated[PlainText, Field(min_length=1, max_length=400)]


@router.post("/consents", status_code=status.HTTP_201_CREATED, response_model=CreditConsent)
async def grant_consent(body: ConsentCreate, uow: UnitOfWorkDep, now: Now, principal: CurrentPrincipal,
                        subject_id: Annotated[str | None, Query(pattern=ID_PATTERN)] = None) -> CreditConsent:
    """The subject (a person, or an organisation's owner with `subject_id`) lets a named party read its report."""
    subject = subject_id or principal.subject
    authorise_owner(principal, await owner_of(uow.session, subject))
    consent = CreditConsent(id=new_id(), subject_id=subject, party_id=body.party_id, purpose=body.purpose,
                            granted_at=now)
    uow.session.add(consent)
    uow.publish(ConsentChanged(consent_id=consent.id, subject_id=subject, party_id=body.party_id, granted=True),
                subject=consent.id, actor=principal.subject, partition_key=subject)
    await uow.commit()
    return consent


@router.delete("/consents/{consent_id}", response_model=CreditConsent)
async def revoke_consent(consent_id: ResourceId, uow: UnitOfWorkDep, now: Now,
                         principal: CurrentPrincipal) -> CreditConsent:
    consent = await uow.session.get(CreditConsent, consent_id)
    if consent is None:
        raise DomainError(404, f"no consent {consent_id}", field="consent_id")
    authorise_owner(principal, await owner_of(uow.session, consent.subject_id))
    if consent.revoked_at is None:
        consent.revoked_at = now
        uow.publish(ConsentChanged(consent_id=consent.id, subject_id=consent.subject_id, party_id=consent.party_id,
                                   granted=False), subject=consent.id, actor=principal.subject,
                    partition_key=consent.subject_id)
    await uow.commit()
    return consent


@router.get("/reports/{subject_id}")
async def credit_report(subject_id: ResourceId, session: ReadSessionDep, principal: CurrentPrincipal,
                        now: Now) -> dict[str, Any]:
    """The subject's whole credit picture; numbers masked for everyone (credit never holds them unmasked)."""
    consented = (await session.execute(select(CreditConsent.id).where(
        CreditConsent.subject_id == subject_id, CreditConsent.party_id == principal.subject,
        col(CreditConsent.revoked_at).is_(None)))).first() is not None
    if not consented:
        authorise_owner(principal, await owner_of(session, subject_id), "regulator")
    record = await session.get(CreditRecord, subject_id)
    if record is None:
        raise HTTPException(404, f"no credit record for subject {subject_id}")
    facts = (await session.execute(select(CreditFact).where(CreditFact.subject_id == subject_id)
                                   .order_by(col(CreditFact.position).desc()).limit(200))).scalars().all()
    changes = (await session.execute(select(CreditRecordChange).where(CreditRecordChange.subject_id == subject_id)
                                     .order_by(col(CreditRecordChange.changed_at).desc()).limit(200))).scalars().all()
    listings = (await session.execute(select(CreditListing).where(CreditListing.subject_id == subject_id)
                                      .order_by(col(CreditListing.notified_at)))).scalars().all()
    ids = [row.id for row in listings]
    objections = (await session.execute(select(CreditObjection).where(
        col(CreditObjection.listing_id).in_(ids)))).scalars().all()
    repairs = (await session.execute(select(CreditRepair).where(col(CreditRepair.listing_id).in_(ids)))).scalars().all()
    report = {
        "subject_id": record.subject_id, "subject_kind": record.subject_kind, "name": record.name,
        "registration_number": record.registration_number_masked, "score": record.score,
        "dimensions": json.loads(record.dimensions), "as_of": record.as_of, "policy_version": record.policy_version,
        "generated_at": now, "read_by": principal.subject, "by_consent": consented,
        "facts": [f.model_dump(mode="json") for f in facts],
        "changes": [{**c.model_dump(mode="json"), "cause_event_ids": json.loads(c.cause_event_ids),
                     "dimensions": json.loads(c.dimensions)} for c in changes],
        "listings": [listing_out(row) for row in listings],
        "objections": [o.model_dump(mode="json") for o in objections],
        "repairs": [r.model_dump(mode="json") for r in repairs],
    }
    return mask_personal_numbers(json.loads(json.dumps(report, default=str)))


class AllianceListing(BaseModel):
    model_config = ConfigDict(extra="forbid")

    listing_id: str
    list: str = Field(pattern="^(black|red)$")
    tier: str = Field(pattern="^(minor|general|serious)$")
    state: str = Field(pattern="^(notified|listed|withdrawn|removed)$")
    rule: str
    basis: str
    listed_at: datetime | None
    until: datetime | None
    ended_at: datetime | None
    end_reason: str | None


class AllianceRecord(BaseModel):
    model_config = ConfigDict(extra="forbid")

    subject_id: str
    subject_kind: str = Field(pattern="^(person|organisation)$")
    name: str
    registration_number_masked: str
    score: int = Field(ge=0, le=1000)
    dimensions: dict[str, int]
    as_of: datetime | None
    listings: list[AllianceListing]


class AllianceExport(BaseModel):
    """The alliance sharing format; its JSON Schema is served at GET /exports/alliance/schema."""

    model_config = ConfigDict(extra="forbid")

    format: str = Field(pattern=f"^{ALLIANCE_FORMAT}$")
    version: str = Field(pattern=f"^{ALLIANCE_VERSION}$")
    generated_at: datetime
    policy_version: str
    records: list[AllianceRecord]
    next_after: str | None = Field(description="pass as `after` for the next page; null on the last page")


@router.get("/exports/alliance/schema")
async def alliance_schema(_principal: Exporter) -> dict[str, Any]:
    return AllianceExport.model_json_schema()


@router.get("/exports/alliance", response_model=AllianceExport)
async def alliance_export(session: ReadSessionDep, now: Now, _principal: Exporter, limit: Limit = 100,
                          after: Annotated[str, Query(max_length=64)] = "") -> AllianceExport:
    """Regulators and admins: every record with its listings, by subject id, paginated."""
    records = (await session.execute(select(CreditRecord).where(col(CreditRecord.subject_id) > after)
                                     .order_by(col(CreditRecord.subject_id)).limit(limit))).scalars().all()
    listings = (await session.execute(select(CreditListing).where(
        col(CreditListing.subject_id).in_([r.subject_id for r in records]))
        .order_by(col(CreditListing.notified_at)))).scalars().all()
    by_subject: dict[str, list[AllianceListing]] = {}
    for row in listings:
        by_subject.setdefault(row.subject_id, []).append(AllianceListing(
            listing_id=row.id, list=row.list_kind, tier=row.tier, state=row.state, rule=row.rule, basis=row.basis,
            listed_at=row.listed_at, until=row.publish_until, ended_at=row.ended_at, end_reason=row.end_reason))
    return AllianceExport(
        format=ALLIANCE_FORMAT, version=ALLIANCE_VERSION, generated_at=now, policy_version=DEFAULT_POLICY.version,
        records=[AllianceRecord(subject_id=r.subject_id, subject_kind=r.subject_kind, name=r.name,
                                registration_number_masked=mask_personal_numbers(r.registration_number_masked),
                                score=r.score, dimensions=json.loads(r.dimensions), as_of=r.as_of,
                                listings=by_subject.get(r.subject_id, [])) for r in records],
        next_after=records[-1].subject_id if len(records) == limit else None)

