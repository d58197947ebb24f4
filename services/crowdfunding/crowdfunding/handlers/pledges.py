"""Pledge commands: a unit is taken with a conditional UPDATE in the pledge's own transaction (never
count-then-insert), with the custody posting and the outbox row; payment outcomes (also a repeated or late
provider callback) move it to paid or release its unit; cancellation, refund requests and delivery
confirmations; risk controls (self-dealing refused, velocity and shared instruments flagged)."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, text
from sqlmodel import col, select

from crowdfunding import contracts as ev
from crowdfunding import custody
from crowdfunding.domain.campaign import CampaignKind, CampaignState, cancellable_by_backer, progress_marks_reached
from crowdfunding.domain.policy import DEFAULT_POLICY
from crowdfunding.domain.risk import anomalies, self_dealing
from crowdfunding.handlers.common import (
    lock_pledge,
    organisations_of,
    partition,
)
from crowdfunding.models import Campaign, Pledge, RewardTier, RiskFlag
from shared.auth import Principal
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
    if campaign.state != CampaignState.LIVE:
        raise DomainError(409, f"the campaign is in state {campaign.state!r}; pledges are taken while live",
                          current_state=campaign.state)
    if campaign.deadline is not None and now >= campaign.deadline:
        raise DomainError(409, "the campaign's deadline has passed", current_state=campaign.state, rule="closed")


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
        if organisation is None or organisation.owner_id != principal.subject:
            raise DomainError(403, "the organisation is not yours (or not registered)", field="organisation_id")
        owner = organisation.owner_id
        if organisation_id == campaign.organisation_id:
            owner = campaign.founder_id
    signal = self_dealing(principal.subject, campaign.founder_id, campaign.organisation_id,
                          await organisations_of(uow.session, principal.subject), organisation_id, owner)
    if signal is not None:
        raise DomainError(403, signal.detail, rule=signal.rule)


async def place_reward_pledge(uow: UnitOfWork, principal: Principal, campaign_id: str, data: PledgeInput,
                              now: datetime) -> Pledge:
    campaign = await uow.session.get(Campaign, campaign_id)
    if campaign is None:
        raise DomainError(404, f"campaign {campaign_id} not found", field="campaign_id")
    if campaign.kind != CampaignKind.REWARD:
        raise DomainError(409, "an equity offering takes investments (POST /campaigns/{id}/investments)",
                          current_state=campaign.state)
    await obeys_orders(uow, campaign, principal)
    ensure_open(campaign, now)
    await check_parties(uow, principal, campaign, data.organisation_id)
    tier = await uow.session.get(RewardTier, data.tier_id or "")
    if tier is None or tier.campaign_id != campaign.id:
        raise DomainError(422, "no such reward tier on this campaign", field="tier_id")
    shipping: dict[str, int] = json.loads(tier.shipping)
    fee = 0
    if shipping:
        if data.shipping_region not in shipping:
            raise DomainError(422, f"this tier ships to: {', '.join(sorted(shipping))}", field="shipping_region")
        fee = shipping[data.shipping_region]
    if (await uow.session.execute(_TAKE_UNIT, {"id": tier.id, "c": campaign.id})).rowcount != 1:  # type: ignore[attr-defined]
        raise DomainError(409, f"the tier {tier.title!r} is sold out ({tier.units_limit} units)",
                          field="tier_id", rule="sold_out")
    return await insert_pledge(uow, principal, campaign, tier.id, tier.price_fen + fee, data, now,
                               shipping_fen=fee)


async def insert_pledge(uow: UnitOfWork, principal: Principal, campaign: Campaign, tier_id: str | None,
                        amount_fen: int, data: PledgeInput, now: datetime, *, shipping_fen: int = 0,
                        decision_rule: str | None = None, policy_version: str | None = None) -> Pledge:
    party = data.payment_party or f"backer:{principal.subject}"
    pledge = Pledge(id=new_id(), campaign_id=campaign.id, tier_id=tier_id, backer_id=principal.subject,
                    organisation_id=data.organisation_id, kind=campaign.kind, currency=campaign.currency,
                    amount_fen=amount_fen, shipping_region=data.shipping_region, shipping_fen=shipping_fen,
                    payment_party=party, instrument_hash=instrument_hash(party), state="pending",
                    decision_rule=decision_rule, policy_version=policy_version or campaign.policy_version,
                    consent_given=data.consent, placed_at=now)
    uow.session.add(pledge)
    transaction = await custody.record_placed(uow, pledge)
    uow.publish(ev.PledgePlaced(pledge_id=pledge.id, campaign_id=campaign.id, tier_id=tier_id,
                                backer_id=pledge.backer_id, kind=pledge.kind, currency=pledge.currency,
                                amount_fen=amount_fen, shipping_fen=shipping_fen, ledger_transaction=transaction,
                                decision_rule=decision_rule, policy_version=pledge.policy_version),
                subject=campaign.id, actor=principal.subject, partition_key=principal.subject)
    await _flag_anomalies(uow, campaign, pledge, now)
    await uow.commit()
    return pledge


async def _flag_anomalies(uow: UnitOfWork, campaign: Campaign, pledge: Pledge, now: datetime) -> None:
    recent = list((await uow.session.execute(select(Pledge.placed_at).where(
        Pledge.backer_id == pledge.backer_id, Pledge.id != pledge.id,
        col(Pledge.placed_at) > now - POLICY.velocity_window))).scalars())
    sharing = (await uow.session.execute(select(func.count(func.distinct(Pledge.backer_id))).where(
        Pledge.campaign_id == campaign.id, Pledge.instrument_hash == pledge.instrument_hash,
        Pledge.backer_id != pledge.backer_id))).scalar_one()
    for signal in anomalies(recent, now, int(sharing) + 1, POLICY):
        flag = RiskFlag(id=new_id(), campaign_id=campaign.id, pledge_id=pledge.id, subject_id=pledge.backer_id,
                        rule=signal.rule, detail=signal.detail, created_at=now)
        uow.session.add(flag)
        pledge.flagged = True
        uow.publish(ev.RiskFlagged(flag_id=flag.id, campaign_id=campaign.id, pledge_id=pledge.id,
                                   subject_id=pledge.backer_id, rule=signal.rule, detail=signal.detail),
                    subject=campaign.id, actor="system:crowdfunding", partition_key=pledge.backer_id)


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
