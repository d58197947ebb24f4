"""Settlement commands, run by the scheduler jobs (and a reviewer's termination): the deadline decision, full
refunds of a failed campaign, the staged release of a successful one (70% on success, the rest once delivery is
confirmed or the confirmation window passes), a missed delivery date, and the bookkeeping of executed payouts."""

from __future__ import annotations

from datetime import datetime
from fractions import Fraction

from sqlalchemy import func
from sqlmodel import col, select

from crowdfunding import contracts as ev
from crowdfunding import custody
from crowdfunding.domain.campaign import CampaignKind, CampaignState, Outcome, deadline_outcome
from crowdfunding.domain.policy import DEFAULT_POLICY
from crowdfunding.handlers.common import SYSTEM, campaign_for_update, lock_pledge, move, partition, payout_facts
from crowdfunding.handlers.pledges import close_unpaid, refund_paid
from crowdfunding.models import Campaign, Payout, Pledge, RewardTier
from shared.auth import Principal
from shared.money import Money
from shared.payments import PaymentResult
from shared.uow import UnitOfWork
from shared.workdays import load_working_calendar

POLICY = DEFAULT_POLICY
S = CampaignState


def first_tranche_ratio(campaign: Campaign) -> Fraction:
    """Reward campaigns hold back the rest until delivery; an equity offering releases everything on success."""
    return POLICY.first_tranche if campaign.kind == CampaignKind.REWARD else Fraction(1)


async def _pledges(uow: UnitOfWork, campaign_id: str, *states: str) -> list[Pledge]:
    return list((await uow.session.execute(select(Pledge).where(
        Pledge.campaign_id == campaign_id, col(Pledge.state).in_(states)).order_by(col(Pledge.placed_at),
                                                                                  col(Pledge.id)))).scalars())


async def pending_total(uow: UnitOfWork, campaign_id: str) -> int:
    total = (await uow.session.execute(select(func.coalesce(func.sum(Pledge.amount_fen), 0)).where(
        Pledge.campaign_id == campaign_id, Pledge.state == "pending"))).scalar_one()
    return int(total)


async def deadline(uow: UnitOfWork, campaign_id: str, now: datetime) -> int:
    """Live or waiting_funds at (or past) its deadline: wait for pending payments, open round 2, fail with
    refunds, or succeed with the first tranche."""
    campaign = await campaign_for_update(uow, campaign_id)
    if campaign.state not in (S.LIVE, S.WAITING_FUNDS) or campaign.deadline is None:
        return 0
    decision = deadline_outcome(campaign.funding_mode, now, campaign.deadline, campaign.round_one_ends,
                                campaign.round, campaign.raised_fen, await pending_total(uow, campaign.id),
                                campaign.goal_fen, campaign.minimum_goal_fen)
    facts = {"raised_fen": campaign.raised_fen, "goal_fen": decision.goal_fen, "rule": decision.rule}
    if decision.outcome is Outcome.CONTINUE:
        return 0
    if decision.outcome is Outcome.WAIT:
        if campaign.state == S.WAITING_FUNDS:
            return 0
        await move(uow, campaign, S.WAITING_FUNDS, SYSTEM, "payments still pending at the deadline", now,
                   raised_fen=campaign.raised_fen, pending_fen=await pending_total(uow, campaign.id))
    elif decision.outcome is Outcome.NEXT_ROUND:
        campaign.round, campaign.updated_at = 2, now
        if campaign.state == S.WAITING_FUNDS:
            await move(uow, campaign, S.LIVE, SYSTEM, "minimum goal reached; round 2 opens", now)
        uow.publish(ev.CampaignRoundAdvanced(campaign_id=campaign.id, round=2, raised_fen=campaign.raised_fen,
                                             minimum_goal_fen=decision.goal_fen, deadline=campaign.deadline),
                    subject=campaign.id, actor=SYSTEM, partition_key=partition(campaign))
    elif decision.outcome is Outcome.FAILED:
        await fail(uow, campaign, SYSTEM, decision.rule, now, **facts)
    else:
        await succeed(uow, campaign, decision.rule, now, **facts)
    await uow.commit()
    return 1


async def fail(uow: UnitOfWork, campaign: Campaign, actor: str, why: str, now: datetime, **facts: object) -> None:
    """Failed: every paid pledge is refunded in full (queued now: started within the hour, to be completed within
    the policy's working days by the holiday calendar), pending ones end."""
    calendar = await load_working_calendar(uow.session)
    campaign.refunds_due_by = calendar.add_working_days(now, POLICY.refund_complete_working_days)
    await move(uow, campaign, S.FAILED, actor, why, now, refunds_due_by=campaign.refunds_due_by, **facts)
    for pledge in await _pledges(uow, campaign.id, "pending"):
        await close_unpaid(uow, campaign, pledge, "campaign_failed", actor, now)
    for pledge in await _pledges(uow, campaign.id, "paid"):
        await refund_paid(uow, campaign, pledge, "campaign_failed", actor, now)
    campaign.refunds_started_at = now


async def succeed(uow: UnitOfWork, campaign: Campaign, why: str, now: datetime, **facts: object) -> None:
    """Successful: the first tranche (70%, per pledge, rounded half up) to the founder, the rest held; then the
    founder fulfils. The delivery date is the latest estimated delivery of the tiers that were pledged."""
    await move(uow, campaign, S.SUCCESSFUL, SYSTEM, why, now, **facts)
    ratio = first_tranche_ratio(campaign)
    paid = await _pledges(uow, campaign.id, "paid")
    to_founder = Money(campaign.currency, sum(Money(p.currency, p.amount_fen).share(ratio).minor for p in paid))
    total = Money(campaign.currency, sum(p.amount_fen for p in paid))
    transaction = await custody.release_first_tranche(uow, campaign, to_founder, total - to_founder, now)
    if transaction is not None:
        campaign.first_tranche_at = now
        uow.publish(ev.TrancheReleased(campaign_id=campaign.id, founder_id=campaign.founder_id, tranche=1,
                                       currency=campaign.currency, amount_fen=to_founder.minor,
                                       held_fen=(total - to_founder).minor, ledger_transaction=transaction,
                                       policy_version=campaign.policy_version),
                    subject=campaign.id, actor=SYSTEM, partition_key=partition(campaign))
    tier_ids = {p.tier_id for p in paid if p.tier_id is not None}
    if tier_ids:
        campaign.delivery_due = (await uow.session.execute(select(func.max(RewardTier.delivery_date)).where(
            col(RewardTier.id).in_(tier_ids)))).scalar_one()
    await move(uow, campaign, S.FULFILLING, SYSTEM, "funds released; the founder fulfils", now)


async def terminate(uow: UnitOfWork, principal: Principal, campaign_id: str, why: str, now: datetime) -> Campaign:
    """A suspended campaign ended by a reviewer or regulator: it fails and everyone is refunded."""
    campaign = await campaign_for_update(uow, campaign_id)
    await fail(uow, campaign, principal.subject, why, now, raised_fen=campaign.raised_fen, goal_fen=campaign.goal_fen,
               rule="terminated")
    await uow.commit()
    return campaign


async def delivery_check(uow: UnitOfWork, campaign_id: str, now: datetime) -> int:
    """Fulfilling: a missed delivery date opens refunds of the held share; a recorded delivery that every backer
    confirmed, or whose confirmation window passed, releases the rest to the founder (fulfilled)."""
    campaign = await campaign_for_update(uow, campaign_id)
    if campaign.state != S.FULFILLING:
        return 0
    if campaign.delivery_recorded_at is None:
        if campaign.delivery_due is None or now <= campaign.delivery_due or campaign.delivery_missed_at is not None:
            return 0
        campaign.delivery_missed_at = campaign.updated_at = now
        held = await custody.balance_of(uow, custody.held(campaign.id), campaign.currency)
        uow.publish(ev.DeliveryMissed(campaign_id=campaign.id, founder_id=campaign.founder_id,
                                      delivery_due=campaign.delivery_due, held_fen=held.minor),
                    subject=campaign.id, actor=SYSTEM, partition_key=partition(campaign))
        await uow.commit()
        return 1
    paid = await _pledges(uow, campaign.id, "paid")
    confirmed = all(p.delivery_confirmed_at is not None for p in paid)
    if not confirmed and now <= campaign.delivery_recorded_at + POLICY.confirmation_window:
        return 0
    released = await custody.release_second_tranche(uow, campaign, now)
    if released is not None:
        transaction, amount = released
        campaign.second_tranche_at = now
        uow.publish(ev.TrancheReleased(campaign_id=campaign.id, founder_id=campaign.founder_id, tranche=2,
                                       currency=campaign.currency, amount_fen=amount.minor, held_fen=0,
                                       ledger_transaction=transaction, policy_version=campaign.policy_version),
                    subject=campaign.id, actor=SYSTEM, partition_key=partition(campaign))
    why = "every backer confirmed delivery" if confirmed else "the confirmation window passed"
    await move(uow, campaign, S.FULFILLED, SYSTEM, why, now)
    await uow.commit()
    return 1


async def expire_pending(uow: UnitOfWork, pledge_id: str, now: datetime) -> int:
    """A pledge whose payment never completed releases its unit after the payment expiry."""
    campaign, pledge = await lock_pledge(uow, pledge_id)
    if pledge.state != "pending" or now < pledge.placed_at + POLICY.payment_expiry:
        return 0
    await close_unpaid(uow, campaign, pledge, "payment_expired", SYSTEM, now)
    await uow.commit()
    return 1


async def payout_result(uow: UnitOfWork, payout_id: str, result: PaymentResult, now: datetime) -> int:
    """The provider executed (or refused) a payout or refund: booked once, whatever retries happened."""
    campaign_id = (await uow.session.execute(select(Payout.campaign_id).where(Payout.id == payout_id))).scalar_one()
    await campaign_for_update(uow, campaign_id)  # campaign before its rows, as everywhere
    row = (await uow.session.execute(select(Payout).where(Payout.id == payout_id).with_for_update())).scalars().one()
    if row.status != "pending":
        return 0
    row.settled_at = now
    facts = payout_facts(row)
    if result.succeeded:
        row.status, row.reference = "paid", result.reference
        transaction = await custody.record_payout_executed(uow, row, result.reference)
        uow.publish(ev.PayoutCompleted(**facts, reference=result.reference, ledger_transaction=transaction),
                    subject=row.campaign_id, actor=SYSTEM, partition_key=row.party_id)
        if row.kind == "refund" and row.pledge_id is not None:
            pledge = await uow.session.get(Pledge, row.pledge_id)
            if pledge is not None and pledge.state == "refund_requested":
                pledge.state, pledge.closed_at = "refunded", now
                uow.publish(ev.PledgeRefunded(pledge_id=pledge.id, campaign_id=pledge.campaign_id,
                                              backer_id=pledge.backer_id, currency=row.currency,
                                              amount_fen=row.amount_fen, reference=result.reference),
                            subject=row.campaign_id, actor=SYSTEM, partition_key=pledge.backer_id)
    else:
        row.status, row.failure = "failed", (result.failure or "failed")[:300]
        uow.publish(ev.PayoutFailed(**facts, failure=row.failure),
                    subject=row.campaign_id, actor=SYSTEM, partition_key=row.party_id)
    await uow.commit()
    return 1
