"""Placing a pledge, the hot path: every check the pledge must pass, the unit, the pledge row, its custody posting
and its event, in one transaction of few statements.

- A reward pledge takes its unit with one conditional UPDATE (`units_taken < units_limit`, never
  count-then-insert) that also requires the campaign live, under a share lock on the campaign row taken first, so
  that the pledge and the campaign's closing (the deadline job's settlement, a suspension) serialise: a pledge is
  either counted by the settlement or refused because the campaign is no longer live. Its RETURNING clause also
  reads everything the checks need: the campaign, supervision
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
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from typing import Any

from sqlalchemy import String, and_, exists, func, insert, literal, or_, select, true, update
from sqlalchemy.sql.expression import bindparam
from sqlmodel import SQLModel

from crowdfunding import contracts as ev
from crowdfunding import custody
from crowdfunding.domain.campaign import CampaignKind, CampaignState
from crowdfunding.domain.policy import DEFAULT_POLICY
from crowdfunding.domain.risk import RiskSignal, anomalies, self_dealing
from crowdfunding.handlers.common import SYSTEM, organisation_unknown, organisations_of
from crowdfunding.models import Campaign, RiskFlag
from shared.auth import Principal
from shared.db import UTCDateTime
from shared.ids import new_id
from shared.listings import ensure_not_blacklisted
from shared.money import Money
from shared.problems import DomainError
from shared.replica import SubjectReplica
from shared.statements import Statement
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
        if organisation_owner is None:  # owner_id is required on the replica: no owner, no row
            raise organisation_unknown(organisation_id)
        if organisation_owner != principal.subject:
            raise DomainError(403, "the organisation is not yours", field="organisation_id")
        if organisation_id == campaign_organisation_id:
            organisation_owner = founder_id
    signal = self_dealing(principal.subject, founder_id, campaign_organisation_id, backer_organisations,
                          organisation_id, organisation_owner)
    if signal is not None:
        raise DomainError(403, signal.detail, rule=signal.rule)


# ------------------------------------------------------------------------------------------- the statements

_C, _T, _P = (SQLModel.metadata.tables[name] for name in ("campaigns", "reward_tiers", "pledges"))
_ORDERS, _LISTINGS, _SUBJECTS = (SQLModel.metadata.tables[name] for name in
                                 ("supervision_restrictions", "listing_replica", "subject_replica"))
_CAMPAIGN, _TIER, _BACKER = (bindparam(name, type_=String()) for name in ("campaign", "tier", "backer"))


def _of_campaign(column: Any) -> Any:
    return select(column).where(_C.c.id == _CAMPAIGN).correlate(None).scalar_subquery()


def _suspended(target_type: str, target: Any) -> Any:
    return exists().where(_ORDERS.c.target_type == target_type, _ORDERS.c.target_id == target,
                          _ORDERS.c.suspended == true()).correlate(None)


# The two anomaly counts (`anomalies`), for a reward pledge and an equity investment alike: the backer's pledges in
# the velocity window, and the other backers who paid this campaign with the same instrument.
_ANOMALY_COUNTS = (
    select(func.count()).select_from(_P).where(
        _P.c.backer_id == _BACKER, _P.c.placed_at > bindparam("since", type_=UTCDateTime()))
    .correlate(None).scalar_subquery().label("recent_by_backer"),
    select(func.count(func.distinct(_P.c.backer_id))).where(
        _P.c.instrument_hash == bindparam("instrument", type_=String()), _P.c.campaign_id == _CAMPAIGN,
        _P.c.backer_id != _BACKER).correlate(None).scalar_subquery().label("other_backers_on_instrument"),
)
_COUNT_ANOMALIES = Statement(select(*_ANOMALY_COUNTS))


# Every fact a pledge checks, each a subquery on the bound ids (nothing correlated: the same in an UPDATE's
# RETURNING as in a SELECT): the campaign's columns, supervision orders on the campaign and the backer, the
# backer's black-list entry, whether the backer owns the campaign's organisation, the owner of the organisation
# pledging, and the anomaly counts (the backer's pledges in the velocity window, other backers on the instrument).
_CAMPAIGN_FACTS = ("kind", "state", "deadline", "founder_id", "organisation_id", "currency", "policy_version")
_CHECKS = (
    *(_of_campaign(_C.c[name]).label(name) for name in _CAMPAIGN_FACTS),
    _suspended("campaign", _CAMPAIGN).label("campaign_suspended"),
    _suspended("subject", _BACKER).label("backer_suspended"),
    exists().where(_LISTINGS.c.subject_id == _BACKER, _LISTINGS.c.black_listing_id.is_not(None)).correlate(None)
    .label("blacklisted"),
    exists().where(_SUBJECTS.c.subject_id == _of_campaign(_C.c.organisation_id), _SUBJECTS.c.owner_id == _BACKER)
    .correlate(None).label("owns_campaign_organisation"),
    select(_SUBJECTS.c.owner_id).where(_SUBJECTS.c.subject_id == bindparam("organisation", type_=String()))
    .correlate(None).scalar_subquery().label("organisation_owner"),
    *_ANOMALY_COUNTS,
)
_TIER_FACTS = (_T.c.id.label("tier_id"), _T.c.title.label("tier_title"), _T.c.price_fen, _T.c.units_limit,
               _T.c.units_taken, _T.c.shipping)
# The campaign live, with a share lock on its row (PostgreSQL; SQLite has one writer at a time and ignores it):
# uncorrelated, so it is evaluated first, as a one-time filter, before the tier row is locked (campaign before its
# rows, as everywhere). A locking read sees the row's latest committed version, whatever the statement's snapshot,
# and holds it until commit, so the pledge and any command that locks the campaign for update (the deadline job
# settling it, a suspension, a termination) serialise: the pledge waits for a closing that began first and then
# finds the campaign closed; a closing waits for the pledge and then counts it.
_CAMPAIGN_LIVE = (select(literal(1)).where(_C.c.id == _CAMPAIGN, _C.c.state == CampaignState.LIVE.value)
                  .with_for_update(read=True).exists())
# The unit and every fact in one statement; no row when no unit was taken (or the campaign is not live).
_TAKE_UNIT = Statement(
    update(_T).where(_CAMPAIGN_LIVE, _T.c.id == _TIER, _T.c.campaign_id == _CAMPAIGN,
                     or_(_T.c.units_limit.is_(None), _T.c.units_taken < _T.c.units_limit))
    .values(units_taken=_T.c.units_taken + 1).returning(*_TIER_FACTS, *_CHECKS))
# The same facts when no unit was taken, to say why: a missing campaign (kind is NULL) or tier, a refusal, or
# sold out.
_FACTS = Statement(select(*_TIER_FACTS, *_CHECKS).select_from(
    select(literal(1).label("one")).subquery().outerjoin(_T, and_(_T.c.id == _TIER, _T.c.campaign_id == _CAMPAIGN))))


@lru_cache(maxsize=1024)
def _shipping(raw: str) -> dict[str, int]:
    """A tier's shipping fees (its JSON text), parsed once per distinct text; callers only read it."""
    return dict(json.loads(raw))


async def _refusal(uow: UnitOfWork, facts: Any, principal: Principal, campaign_id: str, data: PledgeInput,
                   now: datetime) -> int:
    """Raise the first refusal these facts call for, in the documented order; else the shipping fee."""
    if facts.kind is None:
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
    ORM object on the hot path (the charge reads the row back only when its answer never came)."""

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
        """The `pledges` row (the fields, then the columns a new pledge leaves empty)."""
        return {**self.__dict__, **_EMPTY_COLUMNS}


# The columns a new pledge leaves empty: every column of `pledges` that `Placed` has no field for.
_EMPTY_COLUMNS = dict.fromkeys(c.name for c in _P.c if c.name not in Placed.__dataclass_fields__)
_INSERT_PLEDGE = Statement(insert(_P), column_keys=[c.name for c in _P.c])


def _payer(principal: Principal, campaign_id: str, data: PledgeInput, now: datetime) -> tuple[str, dict[str, Any]]:
    """The payment party (the backer's own when none is named) and the parameters the anomaly counts are bound to."""
    party = data.payment_party or f"backer:{principal.subject}"
    return party, {"campaign": campaign_id, "backer": principal.subject, "since": now - POLICY.velocity_window,
                   "instrument": instrument_hash(party)}


def _signals(counts: Any) -> list[RiskSignal]:
    """The anomalies the counts show, this pledge's own instrument counted with the others'."""
    return anomalies(counts.recent_by_backer, counts.other_backers_on_instrument + 1, POLICY)


async def place_reward_pledge(uow: UnitOfWork, principal: Principal, campaign_id: str, data: PledgeInput,
                              now: datetime) -> Placed:
    party, params = _payer(principal, campaign_id, data, now)
    params |= {"tier": data.tier_id or "", "organisation": data.organisation_id}
    facts: Any = await _TAKE_UNIT.first(await uow.connection(), params)
    taken = facts is not None
    if not taken:
        facts = await _FACTS.first(await uow.connection(), params)
    fee = await _refusal(uow, facts, principal, campaign_id, data, now)
    if not taken and facts.units_limit is not None and facts.units_taken >= facts.units_limit:
        raise DomainError(409, f"the tier {facts.tier_title!r} is sold out ({facts.units_limit} units)",
                          field="tier_id", rule="sold_out")
    if not taken:  # the campaign was not live when the unit was asked for, and live again just after
        raise DomainError(409, "the campaign changed while the pledge was placed; try again",
                          current_state=facts.state)
    signals = _signals(facts)
    placed = Placed(id=new_id(), campaign_id=campaign_id, tier_id=facts.tier_id, backer_id=principal.subject,
                    organisation_id=data.organisation_id, kind=facts.kind, currency=facts.currency,
                    amount_fen=facts.price_fen + fee, shipping_region=data.shipping_region, shipping_fen=fee,
                    payment_party=party, instrument_hash=params["instrument"], flagged=bool(signals),
                    decision_rule=None, policy_version=facts.policy_version, consent_given=data.consent, placed_at=now)
    await _write(uow, placed, principal, signals, now)
    return placed


async def insert_pledge(uow: UnitOfWork, principal: Principal, campaign: Campaign, amount_fen: int,
                        data: PledgeInput, now: datetime, *, decision_rule: str, policy_version: str) -> Placed:
    """An equity investment, once the investor-protection engine allowed it: flagged like a reward pledge."""
    party, params = _payer(principal, campaign.id, data, now)
    signals = _signals(await _COUNT_ANOMALIES.first(await uow.connection(), params))
    placed = Placed(id=new_id(), campaign_id=campaign.id, tier_id=None, backer_id=principal.subject,
                    organisation_id=data.organisation_id, kind=campaign.kind, currency=campaign.currency,
                    amount_fen=amount_fen, shipping_region=None, shipping_fen=0, payment_party=party,
                    instrument_hash=params["instrument"], flagged=bool(signals), decision_rule=decision_rule,
                    policy_version=policy_version, consent_given=data.consent, placed_at=now)
    await _write(uow, placed, principal, signals, now)
    return placed


async def _write(uow: UnitOfWork, pledge: Placed, principal: Principal, signals: list[RiskSignal],
                 now: datetime) -> None:
    """The pledge row, its custody posting, its flags and events; committed."""
    await _INSERT_PLEDGE.run(await uow.connection(), pledge.row())
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
