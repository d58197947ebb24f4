"""Red/black list routes: the public lists (anyone, masked, only inside the publication window), a subject's own
listings, objections (subject) and credit repair (subject) decided by reviewers."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Annotated, Any, Literal, TypeVar

from fastapi import APIRouter, status
from pydantic import BaseModel, Field
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col, select

from credit import lists
from credit.domain.listings import ListingState, published
from credit.domain.policy import DEFAULT_POLICY, TIERS
from credit.models import CreditListing, CreditObjection, CreditRecord, CreditRepair
from shared.auth import SERVICE_ROLE, CurrentPrincipal, Principal, authorise_owner, require_roles
from shared.masking import mask_person_name, mask_personal_numbers, mask_text
from shared.problems import DomainError
from shared.service_app import Now, ReadSessionDep, UnitOfWorkDep
from shared.uow import UnitOfWork
from shared.validation import Limit, Offset, PlainText, ResourceId, Strict

router = APIRouter(tags=["lists"])
Row = TypeVar("Row", CreditObjection, CreditRepair)
Reviewer = Annotated[Principal, require_roles("reviewer", "admin")]
READERS = ("regulator", "admin", "reviewer", SERVICE_ROLE)
Text = Annotated[PlainText, Field(min_length=1, max_length=4000)]


class PublicEntry(BaseModel):
    listing_id: str
    subject_id: str
    name: str
    registration_number: str  # masked
    list_kind: str
    tier: str
    basis: str
    listed_at: datetime
    until: datetime


async def owner_of(session: AsyncSession, subject_id: str) -> str:
    """Who answers for a subject: an organisation's owner, or the person themself."""
    record = await session.get(CreditRecord, subject_id)
    return record.owner_id if record is not None else subject_id


def public_name(record: CreditRecord | None) -> str:
    """An organisation's registered name; a person's name masked (the public list is open to anyone)."""
    if record is None:
        return ""
    name = mask_text(record.name)
    return name if record.subject_kind == "organisation" else mask_person_name(name)


@router.get("/lists/{list_kind}", response_model=list[PublicEntry])
async def public_list(list_kind: Literal["black", "red"], session: ReadSessionDep, now: Now,
                      limit: Limit = 50, offset: Offset = 0) -> list[PublicEntry]:
    """Anyone: entries listed now, inside their publication window, of a published tier; numbers and people's
    names masked."""
    tiers = [t for t in TIERS if published(list_kind, t, DEFAULT_POLICY)]
    rows = (await session.execute(
        select(CreditListing, CreditRecord).join(CreditRecord, col(CreditRecord.subject_id) == CreditListing.subject_id,
                                                 isouter=True)
        .where(CreditListing.list_kind == list_kind, CreditListing.state == ListingState.LISTED.value,
               col(CreditListing.tier).in_(tiers), col(CreditListing.listed_at) <= now,
               col(CreditListing.publish_until) > now)
        .order_by(col(CreditListing.listed_at).desc(), col(CreditListing.id)).limit(limit).offset(offset))).all()
    return [PublicEntry(listing_id=listing.id, subject_id=listing.subject_id, name=public_name(record),
                        registration_number=mask_personal_numbers(record.registration_number_masked) if record else "",
                        list_kind=listing.list_kind, tier=listing.tier, basis=listing.basis,
                        listed_at=listing.listed_at, until=listing.publish_until)
            for listing, record in rows if listing.listed_at and listing.publish_until]


def listing_out(listing: CreditListing) -> dict[str, Any]:
    out = listing.model_dump(mode="json")
    out["reasons"], out["cause_event_ids"] = json.loads(listing.reasons), json.loads(listing.cause_event_ids)
    out["objection_url"] = lists.objection_path(listing.id)
    return out


@router.get("/subjects/{subject_id}/listings")
async def subject_listings(subject_id: ResourceId, session: ReadSessionDep,
                           principal: CurrentPrincipal) -> list[dict[str, Any]]:
    """The subject (or its organisation's owner) and reviewers/regulators: every listing, ended ones too, each
    with its objections and repair requests (their deadlines, whether one was missed, and the decisions)."""
    authorise_owner(principal, await owner_of(session, subject_id), *READERS)
    rows = (await session.execute(select(CreditListing).where(CreditListing.subject_id == subject_id)
                                  .order_by(col(CreditListing.notified_at)))).scalars().all()
    out = {row.id: listing_out(row) | {"objections": [], "repairs": []} for row in rows}
    for model, key, filed in ((CreditObjection, "objections", CreditObjection.filed_at),
                              (CreditRepair, "repairs", CreditRepair.requested_at)):
        for item in (await session.execute(select(model).where(model.subject_id == subject_id)
                                           .order_by(col(filed), col(model.id)))).scalars():
            if item.listing_id in out:
                out[item.listing_id][key].append(item.model_dump(mode="json"))
    return list(out.values())


async def _found(uow: UnitOfWork, model: type[Row], row_id: str, what: str) -> Row:
    row = await uow.session.get(model, row_id)
    if row is None:
        raise DomainError(404, f"no {what} {row_id}", field=f"{what}_id")
    return row


async def _own_listing(uow: UnitOfWork, listing_id: str, principal: Principal) -> CreditListing:
    """The listing, for its subject (or the organisation's owner) only: who objects to it or asks for repair."""
    listing = await lists.listing_for(uow, listing_id)
    authorise_owner(principal, await owner_of(uow.session, listing.subject_id))
    return listing


class ObjectionCreate(Strict):
    grounds: Text


class Decision(Strict):
    upheld: bool
    note: Text


@router.post("/listings/{listing_id}/objections", status_code=status.HTTP_201_CREATED, response_model=CreditObjection)
async def object_to(listing_id: ResourceId, body: ObjectionCreate, uow: UnitOfWorkDep, now: Now,
                    principal: CurrentPrincipal) -> CreditObjection:
    listing = await _own_listing(uow, listing_id, principal)
    objection = await lists.file_objection(uow, listing, body.grounds, now, DEFAULT_POLICY)
    await uow.commit()
    return objection


@router.post("/objections/{objection_id}/decision", response_model=CreditObjection)
async def decide_objection(objection_id: ResourceId, body: Decision, uow: UnitOfWorkDep, now: Now,
                           principal: Reviewer) -> CreditObjection:
    objection = await _found(uow, CreditObjection, objection_id, "objection")
    await lists.decide_objection(uow, objection, body.upheld, principal.subject, body.note, now, DEFAULT_POLICY)
    await uow.commit()
    return objection


class RepairCreate(Strict):
    commitment: Text = Field(description="the credit commitment (信用承诺) the subject files")
    correction: Text = Field(description="how the behaviour has been corrected")


class RepairDecision(Strict):
    approved: bool
    note: Text


@router.post("/listings/{listing_id}/repairs", status_code=status.HTTP_201_CREATED, response_model=CreditRepair)
async def request_repair(listing_id: ResourceId, body: RepairCreate, uow: UnitOfWorkDep, now: Now,
                         principal: CurrentPrincipal) -> CreditRepair:
    listing = await _own_listing(uow, listing_id, principal)
    repair = await lists.request_repair(uow, listing, body.commitment, body.correction, now, DEFAULT_POLICY)
    await uow.commit()
    return repair


@router.post("/repairs/{repair_id}/decision", response_model=CreditRepair)
async def decide_repair(repair_id: ResourceId, body: RepairDecision, uow: UnitOfWorkDep, now: Now,
                        principal: Reviewer) -> CreditRepair:
    repair = await _found(uow, CreditRepair, repair_id, "repair")
    await lists.decide_repair(uow, repair, body.approved, principal.subject, body.note, now, DEFAULT_POLICY)
    await uow.commit()
    return repair
