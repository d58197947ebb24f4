"""Pledge commands after placing (`placing.py`): payment outcomes (also a repeated or late provider callback) move
a pledge to paid or release its unit; cancellation, refund requests and delivery confirmations."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import text, update
from sqlmodel import col

from crowdfunding import contracts as ev
from crowdfunding import custody
from crowdfunding.domain.campaign import CampaignKind, CampaignState, cancellable_by_backer, progress_marks_reached
from crowdfunding.domain.policy import DEFAULT_POLICY
from crowdfunding.handlers.common import lock_pledge, partition
from crowdfunding.models import Campaign, Pledge, RiskFlag
from shared.auth import Principal
from shared.money import Money
from shared.problems import DomainError
from shared.uow import UnitOfWork

POLICY = DEFAULT_POLICY
_RELEASE_UNIT = text("UPDATE reward_tiers SET units_taken = units_taken - 1 WHERE id = :id AND units_taken > 0")
_RAISE = text("UPDATE campaigns SET raised_fen = raised_fen + :a WHERE id = :c")
FAILURE_LENGTH = 300  # the provider's reason for a decline is kept up to this (the outcome is applied whatever)


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
    """The provider's answer (from the pledge flow, or its callback, possibly repeated or late): applied once. A
    decline keeps the provider's reason (`failure`) on the pledge, where its backer reads it."""
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
            pledge.payment_reference = reference or None
            pledge.payment_failure = failure[:FAILURE_LENGTH] if failure else None
            await close_unpaid(uow, campaign, pledge, "payment_failed", actor, now)
    elif succeeded and pledge.state == "cancelled" and pledge.paid_at is None:
        # a late success for a pledge already expired or cancelled: the money came in, so it goes straight back
        _, posted = await custody.record_paid(uow, pledge, reference or "", released=True)
        if posted:
            pledge.paid_at, pledge.payment_reference = now, reference
            await custody.refund_pledge(uow, pledge, Money(pledge.currency, pledge.amount_fen),
                                        custody.custody(campaign.id), "late_payment", now)
            pledge.state, pledge.reason = "refund_requested", "late_payment"
            uow.publish(ev.PledgeRefundRequested(pledge_id=pledge.id, campaign_id=campaign.id,
                                                 backer_id=pledge.backer_id, reason="late_payment",
                                                 refund_fen=pledge.amount_fen),
                        subject=campaign.id, actor=actor, partition_key=pledge.backer_id)
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


async def review_flag(uow: UnitOfWork, principal: Principal, flag_id: str, decision: str, note: str,
                      now: datetime) -> RiskFlag:
    """A reviewer decides an open risk flag, once: the conditional UPDATE takes the row (its lock on PostgreSQL) and
    returns it, so of two reviewers deciding at once one wins and the other gets a 409 naming the decided state."""
    decided = (await uow.session.execute(
        update(RiskFlag).where(col(RiskFlag.id) == flag_id, col(RiskFlag.state) == "open")
        .values(state=decision, reviewed_by=principal.subject, reviewed_at=now).returning(RiskFlag))).scalars().first()
    if decided is None:
        current = await uow.session.get(RiskFlag, flag_id)
        if current is None:
            raise DomainError(404, f"risk flag {flag_id} not found", field="flag_id")
        raise DomainError(409, f"the flag is in state {current.state!r}", current_state=current.state)
    uow.publish(ev.RiskFlagReviewed(flag_id=flag_id, campaign_id=decided.campaign_id, pledge_id=decided.pledge_id,
                                    subject_id=decided.subject_id, rule=decided.rule, decision=decision, note=note),
                subject=decided.campaign_id, actor=principal.subject, partition_key=decided.subject_id)
    await uow.commit()
    return decided
