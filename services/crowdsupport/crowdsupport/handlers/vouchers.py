"""Innovation-voucher commands (创新券/创业券): programmes, whitelists, issuance under per-enterprise yearly
caps, redemption against the budget, approval, rejection, and voiding with claw-back.

Budget and caps are taken with conditional updates inside the command's transaction (never
count-then-insert), so concurrent redemptions and applications can neither over-spend nor over-issue.
Payments to and from providers are executed after the transaction by `crowdsupport.flows`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from fractions import Fraction

from sqlalchemy import text
from sqlmodel import col, select

from crowdsupport import budget, guards
from crowdsupport import contracts as ev
from crowdsupport.domain.policy import DEFAULT_POLICY
from crowdsupport.domain.vouchers import ProgrammeView, VoucherState, coverage, may_redeem, step
from crowdsupport.handlers.common import ADMIN, found, lines, local_year, publish_voucher_event
from crowdsupport.models import Programme, ProgrammeProvider, Voucher, VoucherPayment
from shared.auth import Principal
from shared.ids import new_id
from shared.listings import fast_tracked
from shared.problems import DomainError
from shared.uow import UnitOfWork

VOIDERS = ("reviewer", "admin")  # besides the programme's own agency


def authorise_agency(principal: Principal, programme: Programme) -> None:
    """Agencies manage only their own programmes (admins may act for them)."""
    if principal.subject != programme.agency_id and not principal.has_any(*ADMIN):
        raise DomainError(403, "only the agency running this programme may do this", field="programme_id")


@dataclass(frozen=True)
class ProgrammeInput:
    name: str
    kind: str
    region_code: str
    currency: str
    budget_fen: int
    per_enterprise_year_cap_fen: int | None
    copay_ratio_pct: int | None
    permitted_uses: list[str]
    recognised_regions: list[str]
    providers: list[str]


async def create_programme(uow: UnitOfWork, principal: Principal, data: ProgrammeInput, now: datetime) -> Programme:
    policy = DEFAULT_POLICY
    copay = data.copay_ratio_pct
    if copay is None:
        copay = int(policy.default_copay_ratio * 100)
    programme = Programme(
        id=new_id(), agency_id=principal.subject, name=data.name, kind=data.kind, region_code=data.region_code,
        currency=data.currency, budget_fen=data.budget_fen,
        per_enterprise_year_cap_fen=(policy.default_per_enterprise_year_cap_fen
                                     if data.per_enterprise_year_cap_fen is None
                                     else data.per_enterprise_year_cap_fen),
        copay_ratio_pct=copay, permitted_uses="\n".join(dict.fromkeys(data.permitted_uses)),
        recognised_regions="\n".join(r for r in dict.fromkeys(data.recognised_regions) if r != data.region_code),
        policy_version=policy.version, created_at=now)
    uow.session.add(programme)
    await uow.session.flush()
    for provider_id in dict.fromkeys(data.providers):
        uow.session.add(ProgrammeProvider(programme_id=programme.id, provider_id=provider_id, added_at=now))
    transaction = await budget.fund(uow, programme)
    uow.publish(ev.ProgrammeCreated(
        programme_id=programme.id, agency_id=programme.agency_id, name=programme.name, kind=programme.kind,
        region_code=programme.region_code, currency=programme.currency, budget_fen=programme.budget_fen,
        per_enterprise_year_cap_fen=programme.per_enterprise_year_cap_fen, copay_ratio_pct=copay,
        permitted_uses=lines(programme.permitted_uses), recognised_regions=lines(programme.recognised_regions),
        ledger_transaction=transaction, policy_version=policy.version),
        subject=programme.id, actor=principal.subject, partition_key=programme.agency_id)
    await uow.commit()
    return programme


async def whitelist_provider(uow: UnitOfWork, principal: Principal, programme_id: str, provider_id: str,
                             now: datetime) -> ProgrammeProvider:
    programme = await found(uow, Programme, programme_id, "programme_id")
    authorise_agency(principal, programme)
    if await uow.session.get(ProgrammeProvider, (programme.id, provider_id)) is not None:
        raise DomainError(409, "the provider is already whitelisted", field="provider_id")
    row = ProgrammeProvider(programme_id=programme.id, provider_id=provider_id, added_at=now)
    uow.session.add(row)
    uow.publish(ev.ProviderWhitelisted(programme_id=programme.id, agency_id=programme.agency_id,
                                       provider_id=provider_id),
                subject=programme.id, actor=principal.subject, partition_key=provider_id)
    await uow.commit()
    return row


async def apply(uow: UnitOfWork, principal: Principal, programme_id: str, face_fen: int, use: str,
                now: datetime) -> Voucher:
    """An enterprise applies and receives a voucher, within its yearly cap (conditional update on the cap row)."""
    programme = await found(uow, Programme, programme_id, "programme_id")
    await guards.ensure_programme_active(uow, programme)
    await guards.ensure_may_hold_voucher(uow, principal.subject)
    if use not in lines(programme.permitted_uses):
        raise DomainError(422, f"the programme does not permit the use {use!r}", field="use")
    year = local_year(now)
    key = {"p": programme.id, "e": principal.subject, "y": year}
    await uow.session.execute(text(
        "INSERT INTO cs_enterprise_caps (programme_id, enterprise_id, year, issued_fen) VALUES (:p, :e, :y, 0) "
        "ON CONFLICT (programme_id, enterprise_id, year) DO NOTHING"), key)
    issued_in_year = (await uow.session.execute(text(
        "UPDATE cs_enterprise_caps SET issued_fen = issued_fen + :x WHERE programme_id = :p AND "
        "enterprise_id = :e AND year = :y AND issued_fen + :x <= :cap RETURNING issued_fen"),
        {**key, "x": face_fen, "cap": programme.per_enterprise_year_cap_fen})).scalar_one_or_none()
    if issued_in_year is None:
        raise DomainError(409, f"the enterprise's {year} cap of {programme.per_enterprise_year_cap_fen} fen in this "
                               "programme would be exceeded", field="face_fen", rule="per_enterprise_year_cap")
    voucher = Voucher(id=new_id(), programme_id=programme.id, agency_id=programme.agency_id,
                      enterprise_id=principal.subject, currency=programme.currency, face_fen=face_fen, use=use,
                      year=year, state=VoucherState.ISSUED.value, issued_at=now,
                      expires_at=now + timedelta(days=DEFAULT_POLICY.voucher_validity_days),
                      policy_version=DEFAULT_POLICY.version)
    uow.session.add(voucher)
    publish_voucher_event(uow, voucher, principal.subject, ev.VoucherIssued(
        voucher_id=voucher.id, programme_id=programme.id, agency_id=programme.agency_id,
        enterprise_id=voucher.enterprise_id, currency=voucher.currency, face_fen=face_fen, use=use, year=year,
        issued_in_year_fen=issued_in_year, expires_at=voucher.expires_at, policy_version=voucher.policy_version))
    await uow.commit()
    return voucher


async def _view(uow: UnitOfWork, programme: Programme) -> ProgrammeView:
    providers = (await uow.session.execute(select(ProgrammeProvider.provider_id).where(
        ProgrammeProvider.programme_id == programme.id))).scalars().all()
    return ProgrammeView(programme.id, programme.region_code, frozenset(lines(programme.recognised_regions)),
                         frozenset(providers))


async def _recognising(uow: UnitOfWork, provider_id: str, programme: Programme) -> list[ProgrammeView]:
    """The other active programmes that whitelist the provider in regions the issuing programme recognises, in one
    query: each one's view needs only this provider of its whitelist, which the join has already found."""
    regions = lines(programme.recognised_regions)
    if not regions:
        return []
    others = (await uow.session.execute(
        select(Programme).join(ProgrammeProvider, col(ProgrammeProvider.programme_id) == col(Programme.id))
        .where(ProgrammeProvider.provider_id == provider_id, col(Programme.region_code).in_(regions),
               col(Programme.suspended).is_(False)))).scalars().all()
    return [ProgrammeView(other.id, other.region_code, frozenset(lines(other.recognised_regions)),
                          frozenset({provider_id})) for other in others]


@dataclass(frozen=True)
class Redemption:
    contract_no: str
    contract_amount_fen: int
    invoice_no: str
    payment_proof: str


async def redeem(uow: UnitOfWork, principal: Principal, voucher_id: str, data: Redemption,
                 now: datetime) -> Voucher:
    """A provider redeems a voucher with contract, invoice and the enterprise's co-payment proof; the voucher's
    part is reserved from the budget with a conditional update (409 when the budget cannot cover it)."""
    voucher = await found(uow, Voucher, voucher_id, "voucher_id", lock=True)
    programme = await found(uow, Programme, voucher.programme_id, "programme_id")
    await guards.ensure_programme_active(uow, programme)
    await guards.ensure_may_redeem(uow, principal.subject)
    await guards.ensure_may_redeem(uow, voucher.enterprise_id)
    via = may_redeem(principal.subject, await _view(uow, programme),
                     await _recognising(uow, principal.subject, programme))
    if via is None:
        raise DomainError(403, "the provider is not whitelisted by this programme nor by one it recognises",
                          field="voucher_id")
    target = step(voucher.state, VoucherState.REDEEMED)
    if now >= voucher.expires_at:
        raise DomainError(409, f"the voucher expired at {voucher.expires_at.isoformat()}", field="voucher_id",
                          current_state="expired")
    covered = coverage(data.contract_amount_fen, voucher.face_fen, Fraction(programme.copay_ratio_pct, 100))
    if covered.voucher_fen <= 0:
        raise DomainError(422, "the contract is too small for the voucher to cover any of it",
                          field="contract_amount_fen")
    await budget.reserve(uow, programme.id, covered.voucher_fen)
    voucher.state, voucher.provider_id, voucher.redeemed_via = target.value, principal.subject, via
    voucher.contract_no, voucher.contract_amount_fen = data.contract_no, data.contract_amount_fen
    voucher.invoice_no, voucher.payment_proof = data.invoice_no, data.payment_proof
    voucher.voucher_fen, voucher.copay_fen, voucher.redeemed_at = covered.voucher_fen, covered.copay_fen, now
    publish_voucher_event(uow, voucher, principal.subject, ev.VoucherRedeemed(
        voucher_id=voucher.id, programme_id=programme.id, enterprise_id=voucher.enterprise_id,
        provider_id=principal.subject, redeemed_via=via, contract_no=data.contract_no,
        contract_amount_fen=data.contract_amount_fen, voucher_fen=covered.voucher_fen, copay_fen=covered.copay_fen,
        currency=voucher.currency, policy_version=DEFAULT_POLICY.version,
        fast_tracked=await fast_tracked(uow.session, voucher.enterprise_id, principal.subject)))
    await uow.commit()
    return voucher


async def reject_redemption(uow: UnitOfWork, principal: Principal, voucher_id: str, reason: str,
                            now: datetime) -> Voucher:
    """The agency refuses a redemption: the reservation is released and the voucher is usable again."""
    voucher = await found(uow, Voucher, voucher_id, "voucher_id", lock=True)
    programme = await found(uow, Programme, voucher.programme_id, "programme_id")
    authorise_agency(principal, programme)
    target = step(voucher.state, VoucherState.ISSUED)
    assert voucher.provider_id is not None
    released, provider_id = voucher.voucher_fen, voucher.provider_id
    await budget.release(uow, programme.id, released)
    voucher.state, voucher.decided_at, voucher.decided_by, voucher.reason = target.value, now, principal.subject, reason
    voucher.provider_id = voucher.redeemed_via = voucher.contract_no = voucher.invoice_no = None
    voucher.payment_proof = voucher.contract_amount_fen = voucher.redeemed_at = None
    voucher.voucher_fen = voucher.copay_fen = 0
    publish_voucher_event(uow, voucher, principal.subject, ev.RedemptionRejected(
        voucher_id=voucher.id, programme_id=programme.id, enterprise_id=voucher.enterprise_id, provider_id=provider_id,
        reason=reason, released_fen=released))
    await uow.commit()
    return voucher


async def approve(uow: UnitOfWork, principal: Principal, voucher_id: str, now: datetime) -> VoucherPayment:
    """The agency approves a redemption: the budget is spent and the payout to the provider is owed."""
    voucher = await found(uow, Voucher, voucher_id, "voucher_id", lock=True)
    programme = await found(uow, Programme, voucher.programme_id, "programme_id")
    authorise_agency(principal, programme)
    await guards.ensure_programme_active(uow, programme)
    voucher.state = step(voucher.state, VoucherState.APPROVED).value
    voucher.decided_at, voucher.decided_by = now, principal.subject
    payment, transaction = await budget.spend(uow, voucher, now)
    assert voucher.provider_id is not None
    publish_voucher_event(uow, voucher, principal.subject, ev.VoucherApproved(
        voucher_id=voucher.id, programme_id=programme.id, agency_id=programme.agency_id,
        enterprise_id=voucher.enterprise_id, provider_id=voucher.provider_id, currency=voucher.currency,
        amount_fen=payment.amount_fen, payment_id=payment.id, idempotency_key=payment.idempotency_key,
        ledger_transaction=transaction))
    await uow.commit()
    return payment


@dataclass(frozen=True)
class Voiding:
    reason: str
    fraud: bool
    fraud_by: list[str]


async def void(uow: UnitOfWork, principal: Principal, voucher_id: str, data: Voiding,
               now: datetime) -> VoucherPayment | None:
    """Void a voucher (fraud, or withdrawn): a reservation is released; a paid amount is clawed back (the
    budget restored against a claim on the provider, the recovering charge owed). Credit hears of it."""
    voucher = await found(uow, Voucher, voucher_id, "voucher_id", lock=True)
    programme = await found(uow, Programme, voucher.programme_id, "programme_id")
    if not principal.has_any(*VOIDERS):
        authorise_agency(principal, programme)
    parties = {voucher.enterprise_id, *([voucher.provider_id] if voucher.provider_id else [])}
    fraud_by = list(dict.fromkeys(data.fraud_by)) or (sorted(parties) if data.fraud else [])
    if not data.fraud and fraud_by:
        raise DomainError(422, "only a voucher voided for fraud names who is responsible", field="fraud_by")
    if any(subject not in parties for subject in fraud_by):
        raise DomainError(422, "those held responsible must be the voucher's enterprise or provider",
                          field="fraud_by")
    before = VoucherState(voucher.state)
    step(voucher.state, VoucherState.VOIDED)
    payment = None
    if before is VoucherState.REDEEMED:
        await budget.release(uow, programme.id, voucher.voucher_fen)
    elif before is VoucherState.APPROVED:
        raise DomainError(409, "the payout of this voucher is still being executed; void it once it is paid",
                          field="voucher_id", current_state=before.value)
    elif before is VoucherState.PAID:
        payment = await budget.claw_back(uow, voucher, now)
        voucher.clawed_back_fen = voucher.paid_fen
    voucher.state, voucher.reason = VoucherState.VOIDED.value, data.reason
    voucher.decided_at, voucher.decided_by = now, principal.subject
    publish_voucher_event(uow, voucher, principal.subject, ev.VoucherVoided(
        voucher_id=voucher.id, programme_id=programme.id, agency_id=programme.agency_id,
        enterprise_id=voucher.enterprise_id, provider_id=voucher.provider_id, reason=data.reason, fraud=data.fraud,
        fraud_by=fraud_by, clawed_back_fen=voucher.clawed_back_fen, currency=voucher.currency))
    await uow.commit()
    return payment


async def reissue_payment(uow: UnitOfWork, principal: Principal, payment_id: str, now: datetime) -> VoucherPayment:
    """The programme's agency (or an admin) re-issues a declined payout or claw-back under a new key
    `<original key>/retry-N`. The old one becomes `reissued` in the same transaction (its row locked), so each
    declined attempt is re-issued once and at most one attempt of a payment is ever live: the provider is paid
    at most once. The money never left the payable (or the claim) meanwhile."""
    old = await found(uow, VoucherPayment, payment_id, "payment_id", lock=True)
    voucher = await found(uow, Voucher, old.voucher_id, "voucher_id")
    authorise_agency(principal, await found(uow, Programme, voucher.programme_id, "programme_id"))
    if old.status != "failed":
        raise DomainError(409, f"the payment is {old.status!r}; only a declined one is re-issued",
                          field="payment_id", current_state=old.status)
    original = old.idempotency_key.split("/retry-")[0]
    earlier = (await uow.session.execute(select(VoucherPayment.id).where(
        col(VoucherPayment.idempotency_key).startswith(f"{original}/retry-", autoescape=True)))).all()
    payment = VoucherPayment(id=new_id(), voucher_id=old.voucher_id, kind=old.kind, party_id=old.party_id,
                             currency=old.currency, amount_fen=old.amount_fen, status="pending",
                             idempotency_key=f"{original}/retry-{len(earlier) + 1}", created_at=now)
    old.status = "reissued"
    uow.session.add(payment)
    publish_voucher_event(uow, voucher, principal.subject, ev.VoucherPaymentReissued(
        voucher_id=old.voucher_id, payment_id=payment.id, kind=payment.kind, party_id=payment.party_id,
        currency=payment.currency, amount_fen=payment.amount_fen, idempotency_key=payment.idempotency_key,
        replaces_payment_id=old.id, reissued_by=principal.subject))
    await uow.commit()
    return payment
