"""Voucher routes: agencies manage only their programmes, providers see only their redemptions, enterprises
only their vouchers (regulators and admins read everything)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, HTTPException, Query, status
from pydantic import Field
from sqlmodel import col, select

from crowdsupport import budget, flows
from crowdsupport.api.common import (
    READERS,
    Agency,
    Enterprise,
    Id,
    Label,
    Name,
    PositiveFen,
    Provider,
    Region,
    Voider,
)
from crowdsupport.domain.vouchers import VoucherState
from crowdsupport.handlers import vouchers
from crowdsupport.models import Programme, Voucher, VoucherFields, VoucherPayment
from shared.auth import CurrentPrincipal, Principal
from shared.context import MoneyContextDep
from shared.ledger import money_trail
from shared.listings import fast_track, fast_track_first
from shared.money import CURRENCIES
from shared.service_app import Now, ReadSessionDep, UnitOfWorkDep
from shared.validation import Limit, Offset, PlainText, ResourceId, Strict

router = APIRouter(tags=["vouchers"])
Reason = Annotated[PlainText, Field(min_length=1, max_length=500)]
Reference = Annotated[PlainText, Field(min_length=1, max_length=100)]


class ProgrammeCreate(Strict):
    name: Name
    kind: Literal["innovation", "startup"] = "innovation"
    region_code: Region
    currency: Literal[tuple(sorted(CURRENCIES))] = "CNY"  # type: ignore[valid-type]
    budget_fen: PositiveFen
    per_enterprise_year_cap_fen: PositiveFen | None = None
    copay_ratio_pct: int | None = Field(default=None, ge=0, le=99)
    permitted_uses: list[Label] = Field(min_length=1, max_length=30)
    recognised_regions: list[Region] = Field(default=[], max_length=50)
    providers: list[Id] = Field(default=[], max_length=500)


@router.post("/programmes", status_code=status.HTTP_201_CREATED, response_model=Programme)
async def create_programme(body: ProgrammeCreate, uow: UnitOfWorkDep, now: Now, principal: Agency) -> Programme:
    return await vouchers.create_programme(uow, principal, vouchers.ProgrammeInput(**body.model_dump()), now)


@router.get("/programmes", response_model=list[Programme])
async def list_programmes(session: ReadSessionDep, _principal: CurrentPrincipal, limit: Limit = 50,
                          offset: Offset = 0, region_code: Annotated[str | None, Query(pattern=r"^\d{6}$")] = None,
                          agency_id: Annotated[str | None, Query(pattern=r"^[A-Za-z0-9_.:-]{1,64}$")] = None,
                          ) -> list[Programme]:
    query = select(Programme).order_by(col(Programme.created_at), col(Programme.id)).limit(limit).offset(offset)
    if region_code is not None:
        query = query.where(Programme.region_code == region_code)
    if agency_id is not None:
        query = query.where(Programme.agency_id == agency_id)
    return list((await session.execute(query)).scalars().all())


async def _programme(session: ReadSessionDep, programme_id: str) -> Programme:
    programme = await session.get(Programme, programme_id)
    if programme is None:
        raise HTTPException(404, f"programme {programme_id} not found")
    return programme


def _agency_or_reader(principal: Principal, programme: Programme) -> None:
    if principal.subject != programme.agency_id and not principal.has_any(*READERS):
        raise HTTPException(403, "only the agency running this programme, a regulator or an admin may read this")


@router.get("/programmes/{programme_id}", response_model=Programme)
async def read_programme(programme_id: ResourceId, session: ReadSessionDep, _principal: CurrentPrincipal) -> Programme:
    return await _programme(session, programme_id)


class Whitelisting(Strict):
    provider_id: Id


@router.post("/programmes/{programme_id}/providers", status_code=status.HTTP_201_CREATED)
async def whitelist(programme_id: ResourceId, body: Whitelisting, uow: UnitOfWorkDep, now: Now,
                    principal: Agency) -> dict[str, str]:
    row = await vouchers.whitelist_provider(uow, principal, programme_id, body.provider_id, now)
    return {"programme_id": row.programme_id, "provider_id": row.provider_id}


class VoucherInQueue(VoucherFields):
    fast_tracked: bool  # redeemed, awaiting the agency, and its enterprise or provider is red-listed (联合激励)


@router.get("/programmes/{programme_id}/vouchers", response_model=list[VoucherInQueue])
async def programme_vouchers(programme_id: ResourceId, session: ReadSessionDep, principal: CurrentPrincipal,
                             limit: Limit = 100, offset: Offset = 0,
                             state: Annotated[str | None, Query(pattern=r"^[a-z]{1,20}$")] = None,
                             ) -> list[VoucherInQueue]:
    """The agency's queue: redemptions awaiting its decision whose enterprise or provider is red-listed with
    fast-track review first (from the local listing replica), then every voucher in the order it was issued."""
    _agency_or_reader(principal, await _programme(session, programme_id))
    flag = fast_track(col(Voucher.enterprise_id), col(Voucher.provider_id),
                      awaiting=col(Voucher.state) == VoucherState.REDEEMED.value)
    query = (select(Voucher, flag).where(Voucher.programme_id == programme_id)
             .order_by(fast_track_first(flag), col(Voucher.issued_at), col(Voucher.id)).limit(limit).offset(offset))
    if state is not None:
        query = query.where(Voucher.state == state)
    return [VoucherInQueue(**voucher.model_dump(), fast_tracked=bool(fast))
            for voucher, fast in await session.execute(query)]


@router.get("/programmes/{programme_id}/ledger", tags=["ledger"])
async def programme_ledger(programme_id: ResourceId, session: ReadSessionDep,
                           principal: CurrentPrincipal) -> dict[str, Any]:
    """The programme's money trail: every posting (sums to zero), account balances, payment calls."""
    programme = await _programme(session, programme_id)
    _agency_or_reader(principal, programme)
    trail = await money_trail(session, budget.trail(programme.id))
    return {"programme_id": programme.id, "budget_fen": programme.budget_fen,
            "reserved_fen": programme.reserved_fen, "spent_fen": programme.spent_fen,
            "left_fen": programme.budget_fen - programme.reserved_fen - programme.spent_fen, **trail}


class Application(Strict):
    face_fen: PositiveFen
    use: Label


@router.post("/programmes/{programme_id}/vouchers", status_code=status.HTTP_201_CREATED, response_model=Voucher)
async def apply(programme_id: ResourceId, body: Application, uow: UnitOfWorkDep, now: Now,
                principal: Enterprise) -> Voucher:
    return await vouchers.apply(uow, principal, programme_id, body.face_fen, body.use, now)


@router.get("/vouchers/mine", response_model=list[Voucher])
async def my_vouchers(session: ReadSessionDep, principal: Enterprise, limit: Limit = 100,
                      offset: Offset = 0) -> list[Voucher]:
    return list((await session.execute(
        select(Voucher).where(Voucher.enterprise_id == principal.subject)
        .order_by(col(Voucher.issued_at), col(Voucher.id)).limit(limit).offset(offset))).scalars().all())


@router.get("/redemptions/mine", response_model=list[Voucher])
async def my_redemptions(session: ReadSessionDep, principal: Provider, limit: Limit = 100,
                         offset: Offset = 0) -> list[Voucher]:
    return list((await session.execute(
        select(Voucher).where(Voucher.provider_id == principal.subject)
        .order_by(col(Voucher.redeemed_at), col(Voucher.id)).limit(limit).offset(offset))).scalars().all())


@router.get("/vouchers/{voucher_id}", response_model=Voucher)
async def read_voucher(voucher_id: ResourceId, session: ReadSessionDep, principal: CurrentPrincipal) -> Voucher:
    voucher = await session.get(Voucher, voucher_id)
    if voucher is None:
        raise HTTPException(404, f"voucher {voucher_id} not found")
    if principal.subject not in (voucher.enterprise_id, voucher.provider_id, voucher.agency_id) \
            and not principal.has_any(*READERS, "reviewer"):
        raise HTTPException(403, "only the voucher's enterprise, provider or agency may read it")
    return voucher


@router.get("/vouchers/{voucher_id}/payments", response_model=list[VoucherPayment], tags=["ledger"])
async def voucher_payments(voucher_id: ResourceId, session: ReadSessionDep,
                           principal: CurrentPrincipal) -> list[VoucherPayment]:
    voucher = await read_voucher(voucher_id, session, principal)
    if principal.subject == voucher.enterprise_id and not principal.has_any(*READERS):
        raise HTTPException(403, "payments are read by the agency, the provider, regulators and admins")
    return list((await session.execute(select(VoucherPayment).where(VoucherPayment.voucher_id == voucher.id)
                                       .order_by(col(VoucherPayment.created_at)))).scalars().all())


class RedemptionBody(Strict):
    contract_no: Reference
    contract_amount_fen: PositiveFen
    invoice_no: Reference
    payment_proof: Annotated[PlainText, Field(min_length=1, max_length=200)]


@router.post("/vouchers/{voucher_id}/redemption", response_model=Voucher)
async def redeem(voucher_id: ResourceId, body: RedemptionBody, uow: UnitOfWorkDep, now: Now,
                 principal: Provider) -> Voucher:
    return await vouchers.redeem(uow, principal, voucher_id, vouchers.Redemption(**body.model_dump()), now)


class Rejection(Strict):
    reason: Reason


@router.post("/vouchers/{voucher_id}/rejection", response_model=Voucher)
async def reject(voucher_id: ResourceId, body: Rejection, uow: UnitOfWorkDep, now: Now,
                 principal: Agency) -> Voucher:
    return await vouchers.reject_redemption(uow, principal, voucher_id, body.reason, now)


@router.post("/vouchers/{voucher_id}/approval", response_model=Voucher)
async def approve(voucher_id: ResourceId, ctx: MoneyContextDep, now: Now, principal: Agency) -> Voucher:
    """Approve the redemption and pay the provider (idempotency key per voucher)."""
    return await flows.approve(ctx, principal, voucher_id, now)


class VoidBody(Strict):
    reason: Reason
    fraud: bool = False
    fraud_by: list[Id] = Field(default=[], max_length=2)


@router.post("/vouchers/{voucher_id}/void", response_model=Voucher)
async def void(voucher_id: ResourceId, body: VoidBody, ctx: MoneyContextDep, now: Now, principal: Voider) -> Voucher:
    """Void a voucher; a paid amount is clawed back from the provider and credit hears of fraud."""
    return await flows.void(ctx, principal, voucher_id, vouchers.Voiding(**body.model_dump()), now)


@router.post("/voucher-payments/{payment_id}/reissue", response_model=VoucherPayment, tags=["ledger"])
async def reissue(payment_id: ResourceId, ctx: MoneyContextDep, now: Now, principal: Agency) -> VoucherPayment:
    """The programme's agency (or an admin) re-issues a declined payout or claw-back under a new idempotency key
    (`<key>/retry-N`) and executes it at once; a declined attempt is re-issued once, so it pays at most once."""
    return await flows.reissue(ctx, principal, payment_id, now)
