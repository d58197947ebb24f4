"""Placing a pledge, the hot path: every check the pledge must pass, the unit, the pledge row, its custody posting
and its event, in one transaction of few statements.

- A reward pledge takes its unit with one conditional UPDATE (`units_taken < units_limit`, never
  count-then-insert) whose RETURNING clause also reads everything the checks need: the campaign, supervision
  orders on the campaign and the backer, the backer's black-list entry, whether the backer owns the campaign's
  organisation, the owner of the organisation pledging, and the two anomaly counts (velocity, shared payment
  instrument). When no unit was taken the same facts are read by a SELECT, so a refusal is the same whichever
  statement read it, and in the same order: not found, not a reward campaign, suspended, not open, blacklisted,
  related party, no such tier, shipping region, and only then sold out. A refusal after the unit was taken rolls
  it back with the transaction. The detailed refusals (423 naming the order, 403 naming the listing) come from the
  guards that own them (`ensure_not_suspended`, `ensure_not_blacklisted`).
- Then the pledge (a Core insert, no ORM flush), the ledger posting (one claimed transaction, its entries in one
  executemany), risk flags (only when a signal fires) and the event, written to the outbox at commit.
- An equity investment (`insert_pledge`, after the investor-protection decision) writes the same rows.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass
from datetime import datetime
from functools import lru_cache
from typing import Any

from sqlalchemy import func, insert, select, text
from sqlalchemy.sql.expression import TextualSelect, bindparam
from sqlmodel import SQLModel

from crowdfunding import contracts as ev
from crowdfunding import custody
from crowdfunding.domain.campaign import CampaignKind, CampaignState
from crowdfunding.domain.policy import DEFAULT_POLICY
from crowdfunding.domain.risk import RiskSignal, anomalies, self_dealing
from crowdfunding.handlers.common import SYSTEM, organisations_of
from crowdfunding.models import Campaign, RiskFlag
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
BLACKLIST_ACTION = "backing a campaign (pledge or investment)"


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
    await ensure_not_blacklisted(uow.session, principal.subject, BLACKLIST_ACTION)
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


# ------------------------------------------------------------------------------------------- the statements

_P = SQLModel.metadata.tables["pledges"]
_INSERT_PLEDGE = insert(_P)


def _facts_sql(campaign: str) -> str:
    """The facts every pledge checks besides the campaign's and the tier's columns; `campaign` is the SQL
    expression naming the campaign's id in the statement."""
    return f"""
    EXISTS (SELECT 1 FROM supervision_restrictions r
            WHERE r.target_type = 'campaign' AND r.target_id = {campaign} AND r.suspended) AS campaign_suspended,
    EXISTS (SELECT 1 FROM supervision_restrictions r
            WHERE r.target_type = 'subject' AND r.target_id = :backer AND r.suspended) AS backer_suspended,
    EXISTS (SELECT 1 FROM listing_replica l
            WHERE l.subject_id = :backer AND l.black_listing_id IS NOT NULL) AS blacklisted,
    EXISTS (SELECT 1 FROM subject_replica s JOIN campaigns c ON s.subject_id = c.organisation_id
            WHERE c.id = {campaign} AND s.owner_id = :backer) AS owns_campaign_organisation,
    (SELECT s.owner_id FROM subject_replica s WHERE s.subject_id = :organisation) AS organisation_owner,
    (SELECT count(*) FROM pledges p WHERE p.backer_id = :backer AND p.placed_at > :since) AS recent_by_backer,
    (SELECT count(DISTINCT p.backer_id) FROM pledges p WHERE p.campaign_id = {campaign}
            AND p.instrument_hash = :instrument AND p.backer_id <> :backer) AS other_backers_on_instrument"""


_CAMPAIGN_FACTS = ("kind", "state", "deadline", "founder_id", "organisation_id", "currency", "policy_version")


def _statement(sql: str) -> TextualSelect:
    return text(sql).bindparams(bindparam("since", type_=UTCDateTime())).columns(deadline=UTCDateTime())


# The unit and every fact in one statement (the campaign's columns by scalar subqueries: RETURNING reads only the
# updated row); no row when no unit was taken.
_TAKE_UNIT = _statement(f"""
UPDATE reward_tiers SET units_taken = units_taken + 1
WHERE id = :tier AND campaign_id = :campaign AND (units_limit IS NULL OR units_taken < units_limit)
RETURNING reward_tiers.campaign_id AS id,
    {", ".join(f"(SELECT c.{name} FROM campaigns c WHERE c.id = reward_tiers.campaign_id) AS {name}"
               for name in _CAMPAIGN_FACTS)},
    reward_tiers.id AS tier_id, reward_tiers.title AS tier_title, reward_tiers.price_fen, reward_tiers.units_limit,
    reward_tiers.shipping, {_facts_sql("reward_tiers.campaign_id")}""")
# The same facts when no unit was taken, to say why: a missing campaign or tier, a refusal, or sold out.
_FACTS = _statement(f"""
SELECT c.id, {", ".join(f"c.{name}" for name in _CAMPAIGN_FACTS)},
    t.id AS tier_id, t.title AS tier_title, t.price_fen, t.units_limit, t.shipping, {_facts_sql("c.id")}
FROM campaigns c LEFT JOIN reward_tiers t ON t.id = :tier AND t.campaign_id = c.id
WHERE c.id = :campaign""")


@lru_cache(maxsize=1024)
def _shipping(raw: str) -> dict[str, int]:
    """A tier's shipping fees (its JSON text), parsed once per distinct text; callers only read it."""
    return dict(json.loads(raw))


async def _refusal(uow: UnitOfWork, facts: Any, principal: Principal, campaign_id: str, data: PledgeInput,
                   now: datetime) -> int:
    """Raise the first refusal these facts call for, in the documented order; else the shipping fee."""
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
        await ensure_not_blacklisted(uow.session, principal.subject, BLACKLIST_ACTION)
    _refuse_related(principal, facts.founder_id, facts.organisation_id,
                    [facts.organisation_id] if facts.owns_campaign_organisation else [], data.organisation_id,
                    facts.organisation_owner)
    if facts.tier_id is None:
        raise DomainError(422, "no such reward tier on this campaign", field="tier_id")
    shipping = _shipping(facts.shipping)
    if not shipping:
        return 0
    if data.shipping_region not in shipping:
        raise DomainError(422, f"this tier ships to: {', '.join(sorted(shipping))}", field="shipping_region")
    return shipping[data.shipping_region]


@dataclass(frozen=True)
class Placed:
    """A pledge just written, pending its charge: the facts the charge and the caller need, without building an
    ORM object on the hot path (`load` reads the row itself)."""

    id: str
    campaign_id: str
    tier_id: str | None
    backer_id: str
    organisation_id: str | None
    kind: str
    currency: str
    amount_fen: int
    shipping_region: str | None
    shipping_fen: int
    payment_party: str
    instrument_hash: str
    flagged: bool
    decision_rule: str | None
    policy_version: str
    consent_given: bool
    placed_at: datetime
    state: str = "pending"

    @property
    def amount(self) -> Money:
        return Money(self.currency, self.amount_fen)

    def row(self) -> dict[str, Any]:
        return {**asdict(self), "reason": None, "payment_reference": None, "reconfirm_by": None, "paid_at": None,
                "closed_at": None, "delivery_confirmed_at": None}


async def place_reward_pledge(uow: UnitOfWork, principal: Principal, campaign_id: str, data: PledgeInput,
                              now: datetime) -> Placed:
    party = data.payment_party or f"backer:{principal.subject}"
    instrument = instrument_hash(party)
    params = {"campaign": campaign_id, "tier": data.tier_id or "", "backer": principal.subject,
              "organisation": data.organisation_id, "since": now - POLICY.velocity_window, "instrument": instrument}
    facts: Any = (await uow.session.execute(_TAKE_UNIT, params)).first()
    taken = facts is not None
    if not taken:
        facts = (await uow.session.execute(_FACTS, params)).first()
    fee = await _refusal(uow, facts, principal, campaign_id, data, now)
    if not taken:
        raise DomainError(409, f"the tier {facts.tier_title!r} is sold out ({facts.units_limit} units)",
                          field="tier_id", rule="sold_out")
    signals = anomalies(facts.recent_by_backer, facts.other_backers_on_instrument + 1, POLICY)
    placed = Placed(id=new_id(), campaign_id=campaign_id, tier_id=facts.tier_id, backer_id=principal.subject,
                    organisation_id=data.organisation_id, kind=facts.kind, currency=facts.currency,
                    amount_fen=facts.price_fen + fee, shipping_region=data.shipping_region, shipping_fen=fee,
                    payment_party=party, instrument_hash=instrument, flagged=bool(signals), decision_rule=None,
                    policy_version=facts.policy_version, consent_given=data.consent, placed_at=now)
    await _write(uow, placed, principal, signals, now)
    return placed


async def insert_pledge(uow: UnitOfWork, principal: Principal, campaign: Campaign, amount_fen: int,
                        data: PledgeInput, now: datetime, *, decision_rule: str, policy_version: str) -> Placed:
    """An equity investment, once the investor-protection engine allowed it: flagged like a reward pledge."""
    party = data.payment_party or f"backer:{principal.subject}"
    instrument = instrument_hash(party)
    recent = (await uow.session.execute(select(func.count()).select_from(_P).where(
        _P.c.backer_id == principal.subject, _P.c.placed_at > now - POLICY.velocity_window))).scalar_one()
    sharing = (await uow.session.execute(select(func.count(func.distinct(_P.c.backer_id))).where(
        _P.c.campaign_id == campaign.id, _P.c.instrument_hash == instrument,
        _P.c.backer_id != principal.subject))).scalar_one()
    signals = anomalies(int(recent), int(sharing) + 1, POLICY)
    placed = Placed(id=new_id(), campaign_id=campaign.id, tier_id=None, backer_id=principal.subject,
                    organisation_id=data.organisation_id, kind=campaign.kind, currency=campaign.currency,
                    amount_fen=amount_fen, shipping_region=None, shipping_fen=0, payment_party=party,
                    instrument_hash=instrument, flagged=bool(signals), decision_rule=decision_rule,
                    policy_version=policy_version, consent_given=data.consent, placed_at=now)
    await _write(uow, placed, principal, signals, now)
    return placed


async def _write(uow: UnitOfWork, pledge: Placed, principal: Principal, signals: list[RiskSignal],
                 now: datetime) -> None:
    """The pledge row, its custody posting, its flags and events; committed."""
    await uow.session.execute(_INSERT_PLEDGE, pledge.row())
    transaction = await custody.record_placed(uow, pledge.campaign_id, pledge.id, pledge.amount)
    uow.publish(ev.PledgePlaced(pledge_id=pledge.id, campaign_id=pledge.campaign_id, tier_id=pledge.tier_id,
                                backer_id=pledge.backer_id, kind=pledge.kind, currency=pledge.currency,
                                amount_fen=pledge.amount_fen, shipping_fen=pledge.shipping_fen,
                                ledger_transaction=transaction, decision_rule=pledge.decision_rule,
                                policy_version=pledge.policy_version),
                subject=pledge.campaign_id, actor=principal.subject, partition_key=principal.subject)
    for signal in signals:
        flag = RiskFlag(id=new_id(), campaign_id=pledge.campaign_id, pledge_id=pledge.id,
                        subject_id=pledge.backer_id, rule=signal.rule, detail=signal.detail, created_at=now)
        uow.session.add(flag)
        uow.publish(ev.RiskFlagged(flag_id=flag.id, campaign_id=pledge.campaign_id, pledge_id=pledge.id,
                                   subject_id=pledge.backer_id, rule=signal.rule, detail=signal.detail),
                    subject=pledge.campaign_id, actor=SYSTEM, partition_key=pledge.backer_id)
    await uow.commit()
