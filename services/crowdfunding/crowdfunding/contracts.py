"""Events the crowdfunding service publishes (catalogue: services/crowdfunding/README.md).

Wire names are explicit. Every campaign state change is a `campaign.<verb>` event carrying from/to state and
why (the actor is the envelope's `actor`, the time its `time`); money movements carry integer minor units and
the ledger transaction posted in the same database transaction.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from shared.envelope import EventData

PREFIX = "cn.sizhong.crowdfunding"


class CampaignCreated(EventData):
    event_type = f"{PREFIX}.campaign.created.v1"

    campaign_id: str
    founder_id: str
    organisation_id: str | None
    kind: str
    funding_mode: str
    equity_profile: str | None
    title: str
    industry: str
    currency: str
    goal_fen: int
    minimum_goal_fen: int | None
    duration_days: int
    policy_version: str


class _Transition(EventData):
    campaign_id: str
    founder_id: str
    kind: str
    funding_mode: str
    from_state: str
    to_state: str
    why: str
    policy_version: str


class CampaignSubmitted(_Transition):
    event_type = f"{PREFIX}.campaign.submitted.v1"
    findings: list[dict[str, Any]]


class CampaignReturned(_Transition):
    """Sent back to the founder: needs work."""

    event_type = f"{PREFIX}.campaign.returned.v1"


class CampaignRejected(_Transition):
    event_type = f"{PREFIX}.campaign.rejected.v1"


class CampaignApproved(_Transition):
    event_type = f"{PREFIX}.campaign.approved.v1"


class CampaignLaunched(_Transition):
    event_type = f"{PREFIX}.campaign.launched.v1"
    deadline: datetime | None = None
    round_one_ends: datetime | None = None


class CampaignAwaitingFunds(_Transition):
    event_type = f"{PREFIX}.campaign.awaiting_funds.v1"
    raised_fen: int = 0
    pending_fen: int = 0


class CampaignSucceeded(_Transition):
    event_type = f"{PREFIX}.campaign.succeeded.v1"
    raised_fen: int = 0
    goal_fen: int = 0
    rule: str = ""


class CampaignFailed(_Transition):
    event_type = f"{PREFIX}.campaign.failed.v1"
    raised_fen: int = 0
    goal_fen: int = 0
    rule: str = ""
    refunds_due_by: datetime | None = None  # every refund completed by then (working days, holiday calendar)


class CampaignFulfilmentStarted(_Transition):
    event_type = f"{PREFIX}.campaign.fulfilment_started.v1"


class CampaignFulfilled(_Transition):
    event_type = f"{PREFIX}.campaign.fulfilled.v1"


class CampaignSuspended(_Transition):
    event_type = f"{PREFIX}.campaign.suspended.v1"


class CampaignReinstated(_Transition):
    event_type = f"{PREFIX}.campaign.reinstated.v1"


class CampaignCancelled(_Transition):
    event_type = f"{PREFIX}.campaign.cancelled.v1"


class CampaignRoundAdvanced(EventData):
    event_type = f"{PREFIX}.campaign.round_advanced.v1"

    campaign_id: str
    round: int
    raised_fen: int
    minimum_goal_fen: int
    deadline: datetime


class CampaignProgressReached(EventData):
    event_type = f"{PREFIX}.campaign.progress_reached.v1"

    campaign_id: str
    percent: int
    raised_fen: int
    goal_fen: int


class CampaignUpdatePosted(EventData):
    """A project update to backers; `material` ones need equity investors to reconfirm."""

    event_type = f"{PREFIX}.campaign.update_posted.v1"

    campaign_id: str
    title: str
    body: str
    material: bool
    reconfirm_by: datetime | None


class TierAdded(EventData):
    event_type = f"{PREFIX}.tier.added.v1"

    campaign_id: str
    tier_id: str
    price_fen: int
    units_limit: int | None
    delivery_date: datetime
    shipping: dict[str, int]


class PledgePlaced(EventData):
    event_type = f"{PREFIX}.pledge.placed.v1"

    pledge_id: str
    campaign_id: str
    tier_id: str | None
    backer_id: str
    kind: str
    currency: str
    amount_fen: int
    shipping_fen: int
    ledger_transaction: str
    decision_rule: str | None = None
    policy_version: str


class PledgePaid(EventData):
    event_type = f"{PREFIX}.pledge.paid.v1"

    pledge_id: str
    campaign_id: str
    backer_id: str
    currency: str
    amount_fen: int
    payment_reference: str
    ledger_transaction: str


class PledgeCancelled(EventData):
    """Cancelled by the backer, revoked (reflection period), not reconfirmed, or its payment failed or expired:
    its unit is released."""

    event_type = f"{PREFIX}.pledge.cancelled.v1"

    pledge_id: str
    campaign_id: str
    backer_id: str
    reason: str
    currency: str
    amount_fen: int
    unit_released: bool
    refund_fen: int


class PledgeRefundRequested(EventData):
    event_type = f"{PREFIX}.pledge.refund_requested.v1"

    pledge_id: str
    campaign_id: str
    backer_id: str
    reason: str
    refund_fen: int


class PledgeRefunded(EventData):
    event_type = f"{PREFIX}.pledge.refunded.v1"

    pledge_id: str
    campaign_id: str
    backer_id: str
    currency: str
    amount_fen: int
    reference: str


class PledgeReconfirmed(EventData):
    event_type = f"{PREFIX}.pledge.reconfirmed.v1"

    pledge_id: str
    campaign_id: str
    backer_id: str


class DeliveryRecorded(EventData):
    event_type = f"{PREFIX}.delivery.recorded.v1"

    campaign_id: str
    founder_id: str
    note: str
    confirm_by: datetime


class DeliveryConfirmed(EventData):
    event_type = f"{PREFIX}.delivery.confirmed.v1"

    campaign_id: str
    pledge_id: str
    backer_id: str


class DeliveryMissed(EventData):
    event_type = f"{PREFIX}.delivery.missed.v1"

    campaign_id: str
    founder_id: str
    delivery_due: datetime
    held_fen: int


class TrancheReleased(EventData):
    """Custody -> the founder's payable (a payout is queued): tranche 1 (70%) on success, 2 (the rest) after
    delivery is confirmed."""

    event_type = f"{PREFIX}.custody.tranche_released.v1"

    campaign_id: str
    founder_id: str
    tranche: int
    currency: str
    amount_fen: int
    held_fen: int
    ledger_transaction: str
    policy_version: str


class _PayoutFacts(EventData):
    """A payout or refund as every payout event carries it (`payout_facts` builds it from the row)."""

    payout_id: str
    campaign_id: str
    pledge_id: str | None
    kind: str
    party_id: str
    currency: str
    amount_fen: int
    idempotency_key: str


class PayoutCompleted(_PayoutFacts):
    event_type = f"{PREFIX}.payout.completed.v1"

    reference: str
    ledger_transaction: str


class PayoutFailed(_PayoutFacts):
    event_type = f"{PREFIX}.payout.failed.v1"

    failure: str


class PayoutReissued(_PayoutFacts):
    """A declined payout or refund issued again (a new payout, a new idempotency key; the declined one closed):
    `payout_id` is the new one."""

    event_type = f"{PREFIX}.payout.reissued.v1"

    reissue_of: str
    why: str


class PayoutReissueRequested(_PayoutFacts):
    """A re-issue of a declined payout or refund (`payout_id`) to another payment party than it was owed to, waiting
    for a second reviewer. Also the owner's notice (`party_id`: the founder of a payout, the backer of a refund)
    before any money moves; instruments are shown masked (last four characters)."""

    event_type = f"{PREFIX}.payout.reissue_requested.v1"

    request_id: str
    from_party_masked: str
    to_party_masked: str
    why: str


class PayoutRedirected(_PayoutFacts):
    """The owner's notice (`party_id`) that their payout or refund was issued again to another payment party:
    `payout_id` the new payout, `reissue_of` the declined one, who asked and which second reviewer approved."""

    event_type = f"{PREFIX}.payout.redirected.v1"

    request_id: str
    reissue_of: str
    requested_by: str
    approved_by: str
    from_party_masked: str
    to_party_masked: str
    why: str


class CampaignPayoutAccountChanged(EventData):
    """The founder's payout account moved by an approved re-issue of a founder payout to another account
    (`request_id`): the campaign's later payouts (the held tranche, re-issues) go there. The founder's notice;
    instruments masked (last four characters)."""

    event_type = f"{PREFIX}.campaign.payout_account_changed.v1"

    campaign_id: str
    founder_id: str
    request_id: str
    payout_id: str  # the approved re-issue, paid to the new account
    requested_by: str
    approved_by: str
    from_party_masked: str
    to_party_masked: str
    why: str


class PayoutReissueRejected(EventData):
    """A request to re-issue to another party was rejected (or withdrawn by its requester): nothing moved."""

    event_type = f"{PREFIX}.payout.reissue_rejected.v1"

    request_id: str
    payout_id: str
    campaign_id: str
    kind: str
    party_id: str
    why: str


class PayoutReissueExpired(EventData):
    """A request to re-issue to another party was not decided within the policy's working days and lapsed: nothing
    moved, the payout stays declined and owed (re-issue it again, or ask anew). The owner's notice (`party_id`)."""

    event_type = f"{PREFIX}.payout.reissue_expired.v1"

    request_id: str
    payout_id: str
    campaign_id: str
    kind: str
    party_id: str
    requested_by: str
    requested_at: datetime
    expires_at: datetime
    working_days: int
    policy_version: str


class RiskFlagReviewed(EventData):
    """A reviewer's decision on a risk flag: cleared (no action) or confirmed (the anomaly stands)."""

    event_type = f"{PREFIX}.risk.flag_reviewed.v1"

    flag_id: str
    campaign_id: str
    pledge_id: str | None
    subject_id: str
    rule: str
    decision: str
    note: str


class RiskFlagged(EventData):
    event_type = f"{PREFIX}.risk.flagged.v1"

    flag_id: str
    campaign_id: str
    pledge_id: str | None
    subject_id: str
    rule: str
    detail: str


class InvestorProfileUpdated(EventData):
    event_type = f"{PREFIX}.investor.profile_updated.v1"

    investor_id: str
    kind: str
    currency: str
    accredited: bool
    sophisticated: bool


class InvestmentDecided(EventData):
    """Every equity decision (allowed, limited, refused) with its rule, figures and policy version."""

    event_type = f"{PREFIX}.investment.decided.v1"

    campaign_id: str
    investor_id: str
    amount_fen: int
    outcome: str
    rule: str
    profile: str
    policy_version: str
    figures: dict[str, Any]


class CampaignEarlyCloseScheduled(EventData):
    event_type = f"{PREFIX}.campaign.early_close_scheduled.v1"

    campaign_id: str
    previous_deadline: datetime
    deadline: datetime
    rule: str
    policy_version: str
