"""Crowdfunding tables: campaigns with their transition history (who, when, why), reward tiers, pledges (reward
pledges and equity investments), payouts and refunds (the payment side of the custody ledger), requests to
re-issue one to another party (four eyes), investor profiles and risk flags.

Money is integer fen (or cents); custody balances live in the shared double-entry ledger (accounts
`custody/campaign/<id>`, `held/campaign/<id>`, ...), never in these rows. `raised_fen` is a
running total kept in the same transactions as the postings, for the deadline decision and progress events.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, Column, Index, text
from sqlmodel import Field, SQLModel

from shared.db import utc_column


def _money(nullable: bool = False) -> Column:
    return Column(BigInteger, nullable=nullable)


class Campaign(SQLModel, table=True):
    __tablename__ = "campaigns"

    id: str = Field(primary_key=True, max_length=64)
    founder_id: str = Field(max_length=64, index=True)
    organisation_id: str | None = Field(default=None, max_length=64)
    kind: str = Field(max_length=10)
    funding_mode: str = Field(max_length=20)
    equity_profile: str | None = Field(default=None, max_length=12)
    title: str = Field(max_length=200)
    summary: str = Field(max_length=1000)
    story: str = Field(max_length=20000)
    industry: str = Field(max_length=40)
    key_information_sheet: str = Field(default="", max_length=20000)
    risk_statement: str = Field(default="", max_length=4000)
    currency: str = Field(default="CNY", max_length=3)
    goal_fen: int = Field(sa_column=_money())
    minimum_goal_fen: int | None = Field(default=None, sa_column=_money(nullable=True))
    duration_days: int
    payout_party: str = Field(max_length=120)  # where the founder is paid: set at creation, or moved by ...
    # ... an approved re-issue of a founder payout to another account (four eyes): that request, its approver, when
    payout_party_request_id: str | None = Field(default=None, max_length=64)
    payout_party_approved_by: str | None = Field(default=None, max_length=200)
    payout_party_changed_at: datetime | None = Field(default=None, sa_column=utc_column(nullable=True))
    state: str = Field(max_length=20, index=True)
    state_since: datetime = Field(sa_column=utc_column())
    round: int = 1
    launched_at: datetime | None = Field(default=None, sa_column=utc_column(nullable=True))
    deadline: datetime | None = Field(default=None, sa_column=utc_column(nullable=True))
    round_one_ends: datetime | None = Field(default=None, sa_column=utc_column(nullable=True))
    raised_fen: int = Field(default=0, sa_column=_money())
    progress_mark: int = 0
    review_findings: str = Field(default="[]", max_length=20000)
    delivery_due: datetime | None = Field(default=None, sa_column=utc_column(nullable=True))
    delivery_recorded_at: datetime | None = Field(default=None, sa_column=utc_column(nullable=True))
    delivery_missed_at: datetime | None = Field(default=None, sa_column=utc_column(nullable=True))
    refunds_started_at: datetime | None = Field(default=None, sa_column=utc_column(nullable=True))
    refunds_due_by: datetime | None = Field(default=None, sa_column=utc_column(nullable=True))
    first_tranche_at: datetime | None = Field(default=None, sa_column=utc_column(nullable=True))
    second_tranche_at: datetime | None = Field(default=None, sa_column=utc_column(nullable=True))
    material_change_at: datetime | None = Field(default=None, sa_column=utc_column(nullable=True))
    policy_version: str = Field(max_length=40)
    created_at: datetime = Field(sa_column=utc_column())
    updated_at: datetime = Field(sa_column=utc_column())


class CampaignTransition(SQLModel, table=True):
    """Every state change of a campaign: who, when, why (the same facts as its event)."""

    __tablename__ = "campaign_transitions"

    id: str = Field(primary_key=True, max_length=64)
    campaign_id: str = Field(foreign_key="campaigns.id", max_length=64, index=True)
    seq: int  # 1, 2, ... per campaign: the order of transitions made in the same instant
    from_state: str = Field(max_length=20)
    to_state: str = Field(max_length=20)
    actor: str = Field(max_length=200)
    why: str = Field(max_length=2000)
    at: datetime = Field(sa_column=utc_column())


class RewardTier(SQLModel, table=True):
    """`units_taken` only moves by a conditional UPDATE (never count-then-insert), so a tier never oversells."""

    __tablename__ = "reward_tiers"

    id: str = Field(primary_key=True, max_length=64)
    campaign_id: str = Field(foreign_key="campaigns.id", max_length=64, index=True)
    seq: int
    title: str = Field(max_length=200)
    description: str = Field(max_length=4000)
    price_fen: int = Field(sa_column=_money())
    units_limit: int | None = None
    units_taken: int = 0
    delivery_date: datetime = Field(sa_column=utc_column())
    shipping: str = Field(default="{}", max_length=4000, description="JSON: region code -> fee in fen")


class Pledge(SQLModel, table=True):
    """A reward pledge or an equity investment.

    `state`: pending -> paid -> (refund_requested) -> refunded; cancelled (by the backer, or payment failed or
    expired: `reason`); equity adds revoked (reflection period) as a cancellation reason."""

    __tablename__ = "pledges"
    # One payment instrument's pledges on one campaign (the shared-instrument check of every pledge): without it
    # the check walks every pledge of the campaign.
    __table_args__ = (Index("ix_pledges_instrument_campaign", "instrument_hash", "campaign_id"),)

    id: str = Field(primary_key=True, max_length=64)
    campaign_id: str = Field(foreign_key="campaigns.id", max_length=64, index=True)
    tier_id: str | None = Field(default=None, foreign_key="reward_tiers.id", max_length=64)
    backer_id: str = Field(max_length=64, index=True)
    organisation_id: str | None = Field(default=None, max_length=64)
    kind: str = Field(max_length=10)
    currency: str = Field(max_length=3)
    amount_fen: int = Field(sa_column=_money())
    shipping_region: str | None = Field(default=None, max_length=6)
    shipping_fen: int = Field(default=0, sa_column=_money())
    payment_party: str = Field(max_length=120)
    instrument_hash: str = Field(max_length=64)
    state: str = Field(max_length=20, index=True)
    reason: str | None = Field(default=None, max_length=60)
    payment_reference: str | None = Field(default=None, max_length=120)
    payment_failure: str | None = Field(default=None, max_length=300)  # the provider's reason for a declined charge
    flagged: bool = False
    decision_rule: str | None = Field(default=None, max_length=60)
    policy_version: str = Field(max_length=40)
    consent_given: bool = False
    reconfirm_by: datetime | None = Field(default=None, sa_column=utc_column(nullable=True))
    placed_at: datetime = Field(sa_column=utc_column())
    paid_at: datetime | None = Field(default=None, sa_column=utc_column(nullable=True))
    closed_at: datetime | None = Field(default=None, sa_column=utc_column(nullable=True))
    delivery_confirmed_at: datetime | None = Field(default=None, sa_column=utc_column(nullable=True))


class Payout(SQLModel, table=True):
    """A payout to a founder or a refund to a backer: created in the transaction that made it owed; executed
    through the provider by `idempotency_key` (so it pays once). A declined one can be issued again, once: it
    becomes `reissued` and a new row (`reissue_of` it, its own key) pays the same payable."""

    __tablename__ = "campaign_payouts"

    id: str = Field(primary_key=True, max_length=64)
    campaign_id: str = Field(foreign_key="campaigns.id", max_length=64, index=True)
    pledge_id: str | None = Field(default=None, max_length=64)
    kind: str = Field(max_length=10)
    party_id: str = Field(max_length=64, index=True)
    party: str = Field(max_length=120)
    account: str = Field(max_length=200)
    currency: str = Field(max_length=3)
    amount_fen: int = Field(sa_column=_money())
    idempotency_key: str = Field(max_length=200, unique=True)
    cause: str = Field(max_length=200)
    status: str = Field(max_length=10, index=True)  # pending | paid | failed | reissued (failed, then issued again)
    reissue_of: str | None = Field(default=None, max_length=64)  # the declined payout this one issues again
    reference: str | None = Field(default=None, max_length=120)
    failure: str | None = Field(default=None, max_length=300)
    created_at: datetime = Field(sa_column=utc_column())
    settled_at: datetime | None = Field(default=None, sa_column=utc_column(nullable=True))


class ReissueRequest(SQLModel, table=True):
    """A declined payout or refund to be issued again to another payment party than it was owed to: pending until a
    second reviewer (not the requester) approves it (a new payout, `new_payout_id`), someone rejects it, or it lapses
    undecided (`expires_at`). At most one is pending per payout (`ux_reissue_requests_pending`)."""

    __tablename__ = "payout_reissue_requests"
    __table_args__ = (Index("ux_reissue_requests_pending", "payout_id", unique=True,
                            sqlite_where=text("state = 'pending'"), postgresql_where=text("state = 'pending'")),)

    id: str = Field(primary_key=True, max_length=64)
    payout_id: str = Field(foreign_key="campaign_payouts.id", max_length=64, index=True)
    campaign_id: str = Field(foreign_key="campaigns.id", max_length=64, index=True)
    kind: str = Field(max_length=10)
    party_id: str = Field(max_length=64, index=True)  # the money's owner: the founder (payout), the backer (refund)
    from_party: str = Field(max_length=120)  # the instrument the declined payout was owed to
    party: str = Field(max_length=120)  # the instrument asked for
    currency: str = Field(max_length=3)
    amount_fen: int = Field(sa_column=_money())
    why: str = Field(max_length=2000)
    state: str = Field(default="pending", max_length=10, index=True)  # pending | approved | rejected | expired
    requested_by: str = Field(max_length=200)
    requested_at: datetime = Field(sa_column=utc_column())
    # the end of the policy's last working day to decide it; past it the request lapses (`expired`, by the system)
    expires_at: datetime | None = Field(default=None, sa_column=utc_column(nullable=True))
    decided_by: str | None = Field(default=None, max_length=200)
    decided_at: datetime | None = Field(default=None, sa_column=utc_column(nullable=True))
    decision_note: str | None = Field(default=None, max_length=2000)
    new_payout_id: str | None = Field(default=None, max_length=64)


class InvestorProfile(SQLModel, table=True):
    __tablename__ = "investor_profiles"

    investor_id: str = Field(primary_key=True, max_length=64)
    kind: str = Field(max_length=10)
    currency: str = Field(max_length=3)
    annual_income: int = Field(sa_column=_money())
    net_worth: int = Field(sa_column=_money())
    financial_assets: int = Field(sa_column=_money())
    entity_net_assets: int = Field(sa_column=_money())
    accredited: bool = False
    sophisticated: bool = False
    knowledge_test_passed_at: datetime | None = Field(default=None, sa_column=utc_column(nullable=True))
    loss_simulation_at: datetime | None = Field(default=None, sa_column=utc_column(nullable=True))
    updated_at: datetime = Field(sa_column=utc_column())


class RiskFlag(SQLModel, table=True):
    __tablename__ = "risk_flags"

    id: str = Field(primary_key=True, max_length=64)
    campaign_id: str = Field(foreign_key="campaigns.id", max_length=64, index=True)
    pledge_id: str | None = Field(default=None, max_length=64)
    subject_id: str = Field(max_length=64)
    rule: str = Field(max_length=40)
    detail: str = Field(max_length=500)
    state: str = Field(default="open", max_length=10, index=True)
    created_at: datetime = Field(sa_column=utc_column())
    reviewed_by: str | None = Field(default=None, max_length=200)
    reviewed_at: datetime | None = Field(default=None, sa_column=utc_column(nullable=True))
