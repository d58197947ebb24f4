"""Pledge commands: a unit is taken with a conditional UPDATE in the pledge's own transaction (never
count-then-insert), with the custody posting and the outbox row; payment outcomes (also a repeated or late
provider callback) move it to paid or release its unit; cancellation, refund requests and delivery
confirmations; risk controls (self-dealing refused, velocity and shared instruments flagged)."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from typing import Any

from sqlalchemy import String, and_, exists, func, insert, select, text, true
from sqlalchemy.sql.expression import bindparam
from sqlmodel import SQLModel

from crowdfunding import contracts as ev
from crowdfunding import custody
from crowdfunding.domain.campaign import CampaignKind, CampaignState, cancellable_by_backer, progress_marks_reached
from crowdfunding.domain.policy import DEFAULT_POLICY
from crowdfunding.domain.risk import RiskSignal, anomalies, self_dealing
from crowdfunding.handlers.common import SYSTEM, lock_pledge, organisations_of, partition
from crowdfunding.models import Campaign, Pledge, RiskFlag
from shared.auth import Principal
from shared.db import UTCDateTime
from shared.ids import new_id
from shared.listings import ensure_not_blacklisted
from shared.money import Money
from shared.problems import DomainError
from shared.replica import SubjectReplica
from shared.supervision import ensure_not_suspended
from shared.uow import UnitOfWork

POLICY = DEFAULT_POLICY
_TAKE_UNIT = text("UPDATE reward_tiers SET units_taken = units_taken + 1 WHERE id = :id AND campaign_id = :c "
                  "AND (units_limit IS NULL OR units_taken < units_limit)")
_RELEASE_UNIT = text("UPDATE reward_tiers SET units_taken = units_taken - 1 WHERE id = :id AND units_taken > 0")
_RAISE = text("UPDATE campaigns SET raised_fen = raised_fen + :a WHERE id = :c")


@dataclass(frozen=True)
class PledgeInput:
    tier_id: str | None = None
    amount_fen: int | None = None  # equity: the investment; reward: derived from the tier and shipping
    shipping_region: str | None = None
    payment_party: str | None = None  # the payment instrument (sandbox test party)
    organisation_id: str | None = None  # pledging on behalf of an organisation the backer owns
    consent: bool = False  # equity: risk warning shown and accepted


def instrument_hash(party: str) -> str:
    return hashlib.sha256(party.encode()).hexdigest()


def ensure_open(campaign: Campaign, now: datetime) -> None:
    _ensure_open(campaign.state, campaign.deadline, now)


def _ensure_open(state: str, deadline: datetime | None, now: datetime) -> None:
    if state != CampaignState.LIVE:
        raise DomainError(409, f"the campaign is in state {state!r}; pledges are taken while live",
                          current_state=state)
    if deadline is not None and now >= deadline:
        raise DomainError(409, "the campaign's deadline has passed", current_state=state, rule="closed")


async def obeys_orders(uow: UnitOfWork, campaign: Campaign, principal: Principal) -> None:
    """Supervision orders: neither a suspended campaign nor a suspended backer takes part in a pledge."""
    await ensure_not_suspended(uow.session, "campaign", campaign.id)
    await ensure_not_suspended(uow.session, "subject", principal.subject)


async def check_parties(uow: UnitOfWork, principal: Principal, campaign: Campaign,
                        organisation_id: str | None) -> None:
    """Self-backing and related parties are refused; so are blacklisted backers."""
    await ensure_not_blacklisted(uow.session, principal.subject, "backing a campaign (pledge or investment)")
    owner = None
    if organisation_id is not None:
        organisation = await uow.session.get(SubjectReplica, organisation_id)
        owner = organisation.owner_id if organisation is not None else None
    _refuse_related(principal, campaign.founder_id, campaign.organisation_id,
                    await organisations_of(uow.session, principal.subject), organisation_id, owner)


def _refuse_related(principal: Principal, founder_id: str, campaign_organisation_id: str | None,
                    backer_organisations: list[str], organisation_id: str | None,
                    organisation_owner: str | None) -> None:
    if organisation_id is not None:
        if organisation_owner != principal.subject:
            raise DomainError(403, "the organisation is not yours (or not registered)", field="organisation_id")
        if organisation_id == campaign_organisation_id:
            organisation_owner = founder_id
    signal = self_dealing(principal.subject, founder_id, campaign_organisation_id, backer_organisations,
                          organisation_id, organisation_owner)
    if signal is not None:
        raise DomainError(403, signal.detail, rule=signal.rule)


# Everything a reward pledge checks, read in one statement: the campaign, the tier, supervision orders on the
# campaign and the backer, the backer's black-list entry, whether the backer owns the campaign's organisation, the
# owner of the organisation pledging (if any), and the two anomaly counts (velocity, shared instrument). A refusal
# is then raised by the guard that owns it (`ensure_not_suspended`, `ensure_not_blacklisted`), with its details.
_C, _T, _P = (SQLModel.metadata.tables[name] for name in ("campaigns", "reward_tiers", "pledges"))
_ORDERS, _LISTINGS, _SUBJECTS = (SQLModel.metadata.tables[name] for name in
                                 ("supervision_restrictions", "listing_replica", "subject_replica"))
_BACKER = bindparam("backer", type_=String())


def _suspended(target_type: str, target: Any) -> Any:
    return exists().where(_ORDERS.c.target_type == target_type, _ORDERS.c.target_id == target,
                          _ORDERS.c.suspended == true())


_PLEDGE_FACTS = (
    select(_C.c.id, _C.c.kind, _C.c.state, _C.c.deadline, _C.c.founder_id, _C.c.organisation_id, _C.c.currency,
           _C.c.policy_version, _T.c.id.label("tier_id"), _T.c.title.label("tier_title"), _T.c.price_fen,
           _T.c.units_limit, _T.c.shipping,
           _suspended("campaign", _C.c.id).label("campaign_suspended"),
           _suspended("subject", _BACKER).label("backer_suspended"),
           exists().where(_LISTINGS.c.subject_id == _BACKER, _LISTINGS.c.black_listing_id.is_not(None))
           .label("blacklisted"),
           exists().where(_SUBJECTS.c.subject_id == _C.c.organisation_id, _SUBJECTS.c.owner_id == _BACKER)
           .label("owns_campaign_organisation"),
           select(_SUBJECTS.c.owner_id).where(_SUBJECTS.c.subject_id == bindparam("organisation", type_=String()))
           .scalar_subquery().label("organisation_owner"),
           select(func.count()).select_from(_P).where(
               _P.c.backer_id == _BACKER, _P.c.placed_at > bindparam("since", type_=UTCDateTime()))
           .scalar_subquery().label("recent_by_backer"),
           select(func.count(func.distinct(_P.c.backer_id))).where(
               _P.c.campaign_id == _C.c.id, _P.c.instrument_hash == bindparam("instrument", type_=String()),
               _P.c.backer_id != _BACKER).scalar_subquery().label("other_backers_on_instrument"))
    .select_from(_C.outerjoin(_T, and_(_T.c.id == bindparam("tier", type_=String()), _T.c.campaign_id == _C.c.id)))
    .where(_C.c.id == bindparam("campaign", type_=String())))
_INSERT_PLEDGE = insert(_P)


@lru_cache(maxsize=1024)
def _shipping(raw: str) -> dict[str, int]:
    """A tier's shipping fees (JSON text), parsed once per distinct text: callers only read it."""
    return dict(json.loads(raw))


async def place_reward_pledge(uow: UnitOfWork, principal: Principal, campaign_id: str, data: PledgeInput,
                              now: datetime) -> Pledge:
    """Every check, then the unit, the pledge, its custody posting and its event: seven statements, one
    transaction. The checks and their order are those of `check_parties`/`obeys_orders`, read at once."""
    party = data.payment_party or f"backer:{principal.subject}"
    instrument = instrument_hash(party)
    facts = (await uow.session.execute(_PLEDGE_FACTS, {
        "campaign": campaign_id, "tier": data.tier_id or "", "backer": principal.subject,
        "organisation": data.organisation_id, "since": now - POLICY.velocity_window,
        "instrument": instrument})).first()
    if facts is None:
        raise DomainError(404, f"campaign {campaign_id} not found", field="campaign_id")
    if facts.kind != CampaignKind.REWARD:
        raise DomainError(409, "an equity offering takes investments (POST /campaigns/{id}/investments)",
                          current_state=facts.state)
    if facts.campaign_suspended:
        await ensure_not_suspended(uow.session, "campaign", campaign_id)
    if facts.backer_suspended:
        await ensure_not_suspended(uow.session, "subject", principal.subject)
    _ensure_open(facts.state, facts.deadline, now)
    if facts.blacklisted:
        await ensure_not_blacklisted(uow.session, principal.subject, "backing a campaign (pledge or investment)")
    _refuse_related(principal, facts.founder_id, facts.organisation_id,
                    [facts.organisation_id] if facts.owns_campaign_organisation else [], data.organisation_id,
                    facts.organisation_owner)
    if facts.tier_id is None:
        raise DomainError(422, "no such reward tier on this campaign", field="tier_id")
    shipping = _shipping(facts.shipping)
    fee = 0
    if shipping:
        if data.shipping_region not in shipping:
            raise DomainError(422, f"this tier ships to: {', '.join(sorted(shipping))}", field="shipping_region")
        fee = shipping[data.shipping_region]
    if (await uow.session.execute(_TAKE_UNIT, {"id": facts.tier_id, "c": campaign_id})).rowcount != 1:  # type: ignore[attr-defined]
        raise DomainError(409, f"the tier {facts.tier_title!r} is sold out ({facts.units_limit} units)",
                          field="tier_id", rule="sold_out")
    signals = anomalies(facts.recent_by_backer, facts.other_backers_on_instrument + 1, POLICY)
    pledge = Pledge(id=new_id(), campaign_id=campaign_id, tier_id=facts.tier_id, backer_id=principal.subject,
                    organisation_id=data.organisation_id, kind=facts.kind, currency=facts.currency,
                    amount_fen=facts.price_fen + fee, shipping_region=data.shipping_region, shipping_fen=fee,
                    payment_party=party, instrument_hash=instrument, state="pending", flagged=bool(signals),
                    policy_version=facts.policy_version, consent_given=data.consent, placed_at=now)
    await uow.session.execute(_INSERT_PLEDGE, _row(pledge))  # Core insert: no ORM flush on the hot path
    await _record_placed(uow, pledge, principal)
    _publish_flags(uow, campaign_id, pledge, signals, now)
    await uow.commit()
    return pledge


def _row(pledge: Pledge) -> dict[str, Any]:
    return {column.name: getattr(pledge, column.name) for column in _P.columns}


async def _record_placed(uow: UnitOfWork, pledge: Pledge, principal: Principal) -> None:
    transaction = await custody.record_placed(uow, pledge)
    uow.publish(ev.PledgePlaced(pledge_id=pledge.id, campaign_id=pledge.campaign_id, tier_id=pledge.tier_id,
                                backer_id=pledge.backer_id, kind=pledge.kind, currency=pledge.currency,
                                amount_fen=pledge.amount_fen, shipping_fen=pledge.shipping_fen,
                                ledger_transaction=transaction, decision_rule=pledge.decision_rule,
                                policy_version=pledge.policy_version),
                subject=pledge.campaign_id, actor=principal.subject, partition_key=principal.subject)


async def insert_pledge(uow: UnitOfWork, principal: Principal, campaign: Campaign, tier_id: str | None,
                        amount_fen: int, data: PledgeInput, now: datetime, *, shipping_fen: int = 0,
                        decision_rule: str | None = None, policy_version: str | None = None) -> Pledge:
    """An equity investment's pledge (the reward path is `place_reward_pledge`), flagged like a reward pledge."""
    party = data.payment_party or f"backer:{principal.subject}"
    pledge = Pledge(id=new_id(), campaign_id=campaign.id, tier_id=tier_id, backer_id=principal.subject,
                    organisation_id=data.organisation_id, kind=campaign.kind, currency=campaign.currency,
                    amount_fen=amount_fen, shipping_region=data.shipping_region, shipping_fen=shipping_fen,
                    payment_party=party, instrument_hash=instrument_hash(party), state="pending",
                    decision_rule=decision_rule, policy_version=policy_version or campaign.policy_version,
                    consent_given=data.consent, placed_at=now)
    recent = (await uow.session.execute(select(func.count()).select_from(_P).where(
        _P.c.backer_id == pledge.backer_id, _P.c.placed_at > now - POLICY.velocity_window))).scalar_one()
    sharing = (await uow.session.execute(select(func.count(func.distinct(_P.c.backer_id))).where(
        _P.c.campaign_id == campaign.id, _P.c.instrument_hash == pledge.instrument_hash,
        _P.c.backer_id != pledge.backer_id))).scalar_one()
    signals = anomalies(int(recent), int(sharing) + 1, POLICY)
    pledge.flagged = bool(signals)
    await uow.session.execute(_INSERT_PLEDGE, _row(pledge))
    await _record_placed(uow, pledge, principal)
    _publish_flags(uow, campaign.id, pledge, signals, now)
    await uow.commit()
    return pledge


def _publish_flags(uow: UnitOfWork, campaign_id: str, pledge: Pledge, signals: list[RiskSignal],
                   now: datetime) -> None:
    for signal in signals:
        flag = RiskFlag(id=new_id(), campaign_id=campaign_id, pledge_id=pledge.id, subject_id=pledge.backer_id,
                        rule=signal.rule, detail=signal.detail, created_at=now)
        uow.session.add(flag)
        uow.publish(ev.RiskFlagged(flag_id=flag.id, campaign_id=campaign_id, pledge_id=pledge.id,
                                   subject_id=pledge.backer_id, rule=signal.rule, detail=signal.detail),
                    subject=campaign_id, actor=SYSTEM, partition_key=pledge.backer_id)


async def close_unpaid(uow: UnitOfWork, campaign: Campaign, pledge: Pledge, reason: str, actor: str,
                       now: datetime) -> None:
    """A pending pledge ends (payment failed or expired, cancelled): its unit and receivable are released."""
    if pledge.state != "pending":
        return
    released = False
    if pledge.tier_id is not None:
        released = (await uow.session.execute(_RELEASE_UNIT, {"id": pledge.tier_id})).rowcount == 1  # type: ignore[attr-defined]
    await custody.record_released(uow, pledge, reason)
    pledge.state, pledge.reason, pledge.closed_at = "cancelled", reason, now
    uow.publish(ev.PledgeCancelled(pledge_id=pledge.id, campaign_id=campaign.id, backer_id=pledge.backer_id,
                                   reason=reason, currency=pledge.currency, amount_fen=pledge.amount_fen,
                                   unit_released=released, refund_fen=0),
                subject=campaign.id, actor=actor, partition_key=pledge.backer_id)


async def record_payment(uow: UnitOfWork, pledge_id: str, succeeded: bool, reference: str | None,
                         failure: str | None, actor: str, now: datetime) -> Pledge:
    """The provider's answer (from the pledge flow, or its callback, possibly repeated or late): applied once."""
    campaign, pledge = await lock_pledge(uow, pledge_id)
    if pledge.state == "pending":
        if succeeded:
            transaction, _ = await custody.record_paid(uow, pledge, reference or "")
            pledge.state, pledge.paid_at, pledge.payment_reference = "paid", now, reference
            await uow.session.execute(_RAISE, {"a": pledge.amount_fen, "c": campaign.id})
            await uow.session.refresh(campaign)
            uow.publish(ev.PledgePaid(pledge_id=pledge.id, campaign_id=campaign.id, backer_id=pledge.backer_id,
                                      currency=pledge.currency, amount_fen=pledge.amount_fen,
                                      payment_reference=reference or "", ledger_transaction=transaction),
                        subject=campaign.id, actor=actor, partition_key=pledge.backer_id)
            for mark in progress_marks_reached(campaign.raised_fen, campaign.goal_fen, POLICY.progress_marks,
                                               campaign.progress_mark):
                campaign.progress_mark = mark
                uow.publish(ev.CampaignProgressReached(campaign_id=campaign.id, percent=mark,
                                                       raised_fen=campaign.raised_fen, goal_fen=campaign.goal_fen),
                            subject=campaign.id, actor=actor, partition_key=partition(campaign))
        else:
            await close_unpaid(uow, campaign, pledge, "payment_failed", actor, now)
    elif succeeded and pledge.state == "cancelled" and pledge.paid_at is None:
        # a late success for a pledge already expired or cancelled: the money came in, so it goes straight back
        _, posted = await custody.record_paid(uow, pledge, reference or "")
        if posted:
            pledge.paid_at, pledge.payment_reference = now, reference
            await custody.refund_pledge(uow, pledge, Money(pledge.currency, pledge.amount_fen),
                                        custody.custody(campaign.id), "late_payment", now)
            pledge.state = "refund_requested"
    await uow.commit()
    return pledge


async def refund_paid(uow: UnitOfWork, campaign: Campaign, pledge: Pledge, reason: str, actor: str,
                      now: datetime) -> int:
    """A paid pledge is refunded in full from custody (campaign failed, backer cancelled, not reconfirmed)."""
    if pledge.state != "paid":
        return 0
    amount = Money(pledge.currency, pledge.amount_fen)
    await custody.refund_pledge(uow, pledge, amount, custody.custody(campaign.id), reason, now)
    await uow.session.execute(_RAISE, {"a": -pledge.amount_fen, "c": campaign.id})
    if pledge.tier_id is not None and campaign.state == CampaignState.LIVE:
        await uow.session.execute(_RELEASE_UNIT, {"id": pledge.tier_id})
    pledge.state, pledge.reason = "refund_requested", reason
    uow.publish(ev.PledgeRefundRequested(pledge_id=pledge.id, campaign_id=campaign.id, backer_id=pledge.backer_id,
                                         reason=reason, refund_fen=amount.minor),
                subject=campaign.id, actor=actor, partition_key=pledge.backer_id)
    return amount.minor


async def cancel_pledge(uow: UnitOfWork, principal: Principal, pledge_id: str, now: datetime) -> Pledge:
    """By its backer until 48 hours before the deadline, never in the last hour; a paid pledge is refunded."""
    campaign, pledge = await lock_pledge(uow, pledge_id)
    if pledge.backer_id != principal.subject:
        raise DomainError(403, "not your pledge")
    if pledge.kind == CampaignKind.EQUITY:
        from crowdfunding.handlers.equity import check_revocation

        reason = await check_revocation(uow, campaign, pledge, now)
    else:
        if campaign.state != CampaignState.LIVE or campaign.deadline is None:
            raise DomainError(409, f"the campaign is in state {campaign.state!r}; pledges are cancelled while live",
                              current_state=campaign.state)
        refused = cancellable_by_backer(now, campaign.deadline, POLICY)
        if refused is not None:
            raise DomainError(409, "a pledge may be cancelled until 48 hours before the deadline and never in the "
                                   "last hour", rule=refused, current_state=pledge.state)
        reason = "cancelled_by_backer"
    if pledge.state == "pending":
        await close_unpaid(uow, campaign, pledge, reason, principal.subject, now)
    elif pledge.state == "paid":
        refunded = await refund_paid(uow, campaign, pledge, reason, principal.subject, now)
        uow.publish(ev.PledgeCancelled(pledge_id=pledge.id, campaign_id=campaign.id, backer_id=pledge.backer_id,
                                       reason=reason, currency=pledge.currency, amount_fen=pledge.amount_fen,
                                       unit_released=pledge.tier_id is not None, refund_fen=refunded),
                    subject=campaign.id, actor=principal.subject, partition_key=pledge.backer_id)
    else:
        raise DomainError(409, f"the pledge is in state {pledge.state!r}; it cannot be cancelled",
                          current_state=pledge.state)
    await uow.commit()
    return pledge


async def request_refund(uow: UnitOfWork, principal: Principal, pledge_id: str, now: datetime) -> Pledge:
    """After a missed delivery date: the backer's share still held (30%) is refunded."""
    campaign, pledge = await lock_pledge(uow, pledge_id)
    if pledge.backer_id != principal.subject:
        raise DomainError(403, "not your pledge")
    if campaign.delivery_missed_at is None or campaign.second_tranche_at is not None:
        raise DomainError(409, "refunds open only when the delivery date was missed", current_state=campaign.state,
                          rule="delivery_not_missed")
    if pledge.state != "paid" or pledge.delivery_confirmed_at is not None:
        raise DomainError(409, f"the pledge is in state {pledge.state!r}; it cannot be refunded",
                          current_state=pledge.state)
    whole = Money(pledge.currency, pledge.amount_fen)
    held_part = whole - whole.share(POLICY.first_tranche)
    await custody.refund_pledge(uow, pledge, held_part, custody.held(campaign.id), "delivery_missed", now)
    pledge.state, pledge.reason = "refund_requested", "delivery_missed"
    uow.publish(ev.PledgeRefundRequested(pledge_id=pledge.id, campaign_id=campaign.id, backer_id=pledge.backer_id,
                                         reason="delivery_missed", refund_fen=held_part.minor),
                subject=campaign.id, actor=principal.subject, partition_key=pledge.backer_id)
    await uow.commit()
    return pledge


async def confirm_delivery(uow: UnitOfWork, principal: Principal, pledge_id: str, now: datetime) -> Pledge:
    campaign, pledge = await lock_pledge(uow, pledge_id)
    if pledge.backer_id != principal.subject:
        raise DomainError(403, "not your pledge")
    if campaign.delivery_recorded_at is None or pledge.state != "paid":
        raise DomainError(409, "delivery can be confirmed for a paid pledge once the founder has recorded it",
                          current_state=pledge.state)
    if pledge.delivery_confirmed_at is None:
        pledge.delivery_confirmed_at = now
        uow.publish(ev.DeliveryConfirmed(campaign_id=campaign.id, pledge_id=pledge.id, backer_id=pledge.backer_id),
                    subject=campaign.id, actor=principal.subject, partition_key=pledge.backer_id)
    await uow.commit()
    return pledge
