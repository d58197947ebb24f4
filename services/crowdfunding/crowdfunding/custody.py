"""Custody (资金存管) on the double-entry ledger, inside the command's transaction.

Accounts (integer minor units; + debit, - credit), all per campaign except the provider's clearing account:
- `receivable/campaign/<c>` / `commitments/campaign/<c>`: a pledge placed but not yet paid (the backer owes it;
  the campaign is committed to it); the pair is reversed when the pledge is paid, fails or expires;
- `custody/campaign/<c>`: paid pledges held in custody until settlement;
- `held/campaign/<c>`: the share held back after success until delivery is confirmed (30%);
- `payable/campaign/<c>/founder/<id>`, `payable/campaign/<c>/backer/<id>`: owed to the founder (a payout) or to
  a backer (a refund) until the provider has executed it;
- `provider/clearing`: money at the payment provider; charges come in from it, payouts and refunds go out.

Every transaction id starts with `cf:<campaign>:` and is derived from its cause (the pledge, the tranche, the
payout), so a retried command or a duplicated callback cannot move money twice. A payable is paid through a
`Payout` row created in the same transaction as the posting that made it owed; its idempotency key is that
posting's id, so the provider executes it once.
"""

from __future__ import annotations

from datetime import datetime

from crowdfunding.models import Campaign, Payout, Pledge
from shared.ids import new_id
from shared.ledger import Posting, balance, post, transfer
from shared.money import Money
from shared.uow import UnitOfWork

CLEARING = "provider/clearing"


def txn(campaign_id: str, *parts: str) -> str:
    return ":".join(("cf", campaign_id, *parts))


def receivable(campaign_id: str) -> str:
    return f"receivable/campaign/{campaign_id}"


def commitments(campaign_id: str) -> str:
    return f"commitments/campaign/{campaign_id}"


def custody(campaign_id: str) -> str:
    return f"custody/campaign/{campaign_id}"


def held(campaign_id: str) -> str:
    return f"held/campaign/{campaign_id}"


def founder_payable(campaign: Campaign) -> str:
    return f"payable/campaign/{campaign.id}/founder/{campaign.founder_id}"


def backer_payable(pledge: Pledge) -> str:
    return f"payable/campaign/{pledge.campaign_id}/backer/{pledge.backer_id}"


def charge_key(campaign_id: str, pledge_id: str) -> str:
    return txn(campaign_id, "charge", pledge_id)


def _amount(pledge: Pledge) -> Money:
    return Money(pledge.currency, pledge.amount_fen)


async def balance_of(uow: UnitOfWork, account: str, currency: str) -> Money:
    return await balance(uow.session, account, currency)


async def record_placed(uow: UnitOfWork, campaign_id: str, pledge_id: str, amount: Money) -> str:
    transaction = txn(campaign_id, "pledge", pledge_id)
    await post(await uow.connection(), transaction, transfer(amount, commitments(campaign_id), receivable(campaign_id)),
               kind="pledge.placed", memo=f"pledge {pledge_id}")
    return transaction


async def record_paid(uow: UnitOfWork, pledge: Pledge, reference: str, *, released: bool = False) -> tuple[str, bool]:
    """The charge succeeded: clearing -> custody, and the receivable is settled (once). A late payment for a pledge
    already `released` (expired or cancelled unpaid) has no receivable left to settle: only the money comes in.
    Both use the one transaction id, so a pledge is paid into custody at most once."""
    amount, c = _amount(pledge), pledge.campaign_id
    transaction = txn(c, "paid", pledge.id)
    postings = [Posting(CLEARING, -amount), Posting(custody(c), amount)]
    if not released:
        postings += [Posting(receivable(c), -amount), Posting(commitments(c), amount)]
    posted = await post(uow.session, transaction, postings, kind="pledge.paid",
                        memo=f"pledge {pledge.id} ({reference})")
    return transaction, posted


async def record_released(uow: UnitOfWork, pledge: Pledge, why: str) -> bool:
    """An unpaid pledge ends (payment failed or expired, cancelled): the receivable pair is reversed."""
    return await post(uow.session, txn(pledge.campaign_id, "release", pledge.id),
                      transfer(_amount(pledge), receivable(pledge.campaign_id), commitments(pledge.campaign_id)),
                      kind="pledge.released", memo=f"pledge {pledge.id}: {why}")


def _queue(uow: UnitOfWork, campaign_id: str, kind: str, party_id: str, party: str, account: str, amount: Money,
           cause: str, now: datetime, pledge_id: str | None = None) -> None:
    uow.session.add(Payout(id=new_id(), campaign_id=campaign_id, pledge_id=pledge_id, kind=kind, party_id=party_id,
                           party=party, account=account, currency=amount.currency, amount_fen=amount.minor,
                           idempotency_key=f"{cause}/{kind}", cause=cause, status="pending", created_at=now))


async def refund_pledge(uow: UnitOfWork, pledge: Pledge, amount: Money, source: str, why: str,
                        now: datetime) -> str | None:
    """Custody (or the held share) -> the backer's payable; a refund is queued. None if done before."""
    transaction = txn(pledge.campaign_id, "refund", pledge.id, why)
    if amount.minor <= 0 or not await post(uow.session, transaction, transfer(amount, source, backer_payable(pledge)),
                                           kind="pledge.refund", memo=f"pledge {pledge.id}: {why}"):
        return None
    _queue(uow, pledge.campaign_id, "refund", pledge.backer_id, pledge.payment_party, backer_payable(pledge), amount,
           transaction, now, pledge.id)
    return transaction


async def release_first_tranche(uow: UnitOfWork, campaign: Campaign, to_founder: Money, to_hold: Money,
                                now: datetime) -> str | None:
    """Custody -> the founder's payable (first tranche) and the held account (the rest), once."""
    c = campaign.id
    transaction = txn(c, "tranche", "1")
    postings = [Posting(custody(c), -(to_founder + to_hold)), Posting(founder_payable(campaign), to_founder),
                Posting(held(c), to_hold)]
    if not await post(uow.session, transaction, postings, kind="custody.tranche", memo=f"campaign {c} tranche 1"):
        return None
    if to_founder.minor > 0:
        _queue(uow, c, "payout", campaign.founder_id, campaign.payout_party, founder_payable(campaign), to_founder,
               transaction, now)
    return transaction


async def release_second_tranche(uow: UnitOfWork, campaign: Campaign, now: datetime) -> tuple[str, Money] | None:
    """Whatever is still held -> the founder's payable, once; None when nothing was posted (already released,
    or nothing left held because backers took their held shares back), so no event names an unwritten entry."""
    c = campaign.id
    rest = await balance(uow.session, held(c), campaign.currency)
    transaction = txn(c, "tranche", "2")
    if rest.minor <= 0:
        return None
    if not await post(uow.session, transaction, transfer(rest, held(c), founder_payable(campaign)),
                      kind="custody.tranche", memo=f"campaign {c} tranche 2"):
        return None
    _queue(uow, c, "payout", campaign.founder_id, campaign.payout_party, founder_payable(campaign), rest,
           transaction, now)
    return transaction, rest


async def record_payout_executed(uow: UnitOfWork, payout: Payout, reference: str) -> str:
    """The provider executed it: payable -> clearing (the money has left custody)."""
    transaction = txn(payout.campaign_id, "executed", payout.id)
    await post(uow.session, transaction, transfer(Money(payout.currency, payout.amount_fen), payout.account, CLEARING),
               kind=f"{payout.kind}.executed", memo=f"{payout.kind} to {payout.party_id} ({reference})")
    return transaction
